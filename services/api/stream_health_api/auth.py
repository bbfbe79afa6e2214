"""Bearer authentication (SPEC section 4.4): a signed, unexpired JWT or a known service token."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from stream_health.config.settings import Settings

log = logging.getLogger(__name__)

# RFC 6750 section 2.1: the scheme (case-insensitive, RFC 7235), one space, a b64token.
_BEARER = re.compile(r"Bearer ([A-Za-z0-9\-._~+/]+=*)", re.ASCII | re.IGNORECASE)
_DIGEST = re.compile(r"[0-9a-f]{64}", re.ASCII)
_MIN_HMAC_BYTES = 32  # RFC 7518 section 3.2: at least the hash size
_MIN_RSA_BITS = 2048
_MAX_LEEWAY_S = 30.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request authenticated as."""

    kind: Literal["jwt", "service"]
    subject: str | None  # the JWT `sub`; None for a service token


class Authenticator:
    """Checks `Authorization` headers; holds the key, never shows it."""

    __slots__ = ("_algorithm", "_digests", "_key", "_leeway_s")

    def __init__(
        self, *, jwt_key: str | None, service_token_digests: Sequence[str], leeway_s: float = 10.0
    ) -> None:
        """Validate the configuration; ValueError (naming no secret) when it is unusable."""
        if not 0.0 <= leeway_s <= _MAX_LEEWAY_S:
            raise ValueError(f"leeway_s must be within 0..{_MAX_LEEWAY_S:g} seconds")
        digests = tuple(d.lower() for d in service_token_digests)
        if not all(_DIGEST.fullmatch(d) for d in digests):
            raise ValueError("each service token digest is a SHA-256 hex digest")
        self._digests = tuple(d.encode("ascii") for d in digests)
        self._leeway_s = leeway_s
        self._key: RSAPublicKey | bytes | None
        self._algorithm: Literal["RS256", "HS256"] | None
        if jwt_key is None:
            self._key, self._algorithm = None, None
        elif jwt_key.lstrip().startswith("-----BEGIN"):
            self._key, self._algorithm = _rsa_public_key(jwt_key), "RS256"
        else:
            secret = jwt_key.encode("utf-8")
            if len(secret) < _MIN_HMAC_BYTES:
                raise ValueError(f"an HS256 jwt_key must be at least {_MIN_HMAC_BYTES} bytes")
            self._key, self._algorithm = secret, "HS256"

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """The authenticator for `jwt_key` and `service_tokens` (an empty key means none)."""
        key = settings.jwt_key.get_secret_value() if settings.jwt_key is not None else ""
        return cls(jwt_key=key or None, service_token_digests=settings.service_tokens)

    def __repr__(self) -> str:
        """The algorithm and the number of service tokens, nothing secret."""
        return f"Authenticator(jwt={self._algorithm}, service_tokens={len(self._digests)})"

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal for an `Authorization` header value; None when unauthenticated."""
        match = _BEARER.fullmatch(authorization) if authorization is not None else None
        if match is None:
            return None
        token = match.group(1)
        if self._is_service_token(token):
            return Principal(kind="service", subject=None)
        if self._key is None or self._algorithm is None:
            return None
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],  # the key's one algorithm, never the token's choice
                options={
                    "require": ["exp"],
                    "verify_aud": False,  # Passport sets `aud` to the client id; none configured
                    "enforce_minimum_key_length": True,
                },
                leeway=self._leeway_s,
            )
        except jwt.PyJWTError as exc:
            # The class only: the message may quote the token.
            log.debug("api.jwt_refused", extra={"reason": type(exc).__name__})
            return None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:  # Passport client credentials: `sub: ""`
            subject = None
        return Principal(kind="jwt", subject=subject)

    def _is_service_token(self, token: str) -> bool:
        candidate = hashlib.sha256(token.encode("ascii")).hexdigest().encode("ascii")
        matched = False
        for digest in self._digests:  # every digest, no early exit
            matched |= hmac.compare_digest(candidate, digest)
        return matched


def _rsa_public_key(pem: str) -> RSAPublicKey:
    try:
        key = load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("a PEM jwt_key must be an RSA public key") from None
    if not isinstance(key, RSAPublicKey) or key.key_size < _MIN_RSA_BITS:
        raise ValueError(f"a PEM jwt_key must be an RSA public key of {_MIN_RSA_BITS}+ bits")
    return key
