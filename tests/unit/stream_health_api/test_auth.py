import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from stream_health.config.settings import Settings
from stream_health_api.auth import Authenticator, Principal

SECRET = "an-hs256-secret-that-is-at-least-32-bytes-long"
SERVICE_TOKEN = "svc-token-0123456789abcdef"
SERVICE_DIGEST = hashlib.sha256(SERVICE_TOKEN.encode()).hexdigest()
OTHER_DIGEST = hashlib.sha256(b"some other service").hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: Any) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _claims(**overrides: Any) -> dict[str, Any]:
    now = time.time()
    claims: dict[str, Any] = {"sub": "user-42", "iat": int(now), "exp": int(now) + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hs256(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def _pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def hs256() -> Authenticator:
    return Authenticator(jwt_key=SECRET, service_token_digests=[])


@pytest.fixture
def rs256(rsa_key: rsa.RSAPrivateKey) -> Authenticator:
    return Authenticator(jwt_key=_pem(rsa_key), service_token_digests=[])


# --- JWTs -----------------------------------------------------------------------------------


def test_a_valid_hs256_jwt_is_accepted_with_its_subject(hs256: Authenticator) -> None:
    assert hs256.authenticate(_bearer(_hs256(_claims()))) == Principal(
        kind="jwt", subject="user-42"
    )


def test_a_passport_shaped_rs256_jwt_is_accepted(
    rs256: Authenticator, rsa_key: rsa.RSAPrivateKey
) -> None:
    now = time.time()
    # Laravel Passport: `aud` is the client id, times are floats with microseconds, scopes listed.
    claims = {
        "aud": "3",
        "jti": "4f1c0e8a9b",
        "iat": now - 1.5,
        "nbf": now - 1.5,
        "exp": now + 3600.25,
        "sub": "17",
        "scopes": ["*"],
    }
    token = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"typ": "JWT"})

    assert rs256.authenticate(_bearer(token)) == Principal(kind="jwt", subject="17")


def test_a_jwt_without_sub_is_accepted_with_no_subject(hs256: Authenticator) -> None:
    assert hs256.authenticate(_bearer(_hs256(_claims(sub=None)))) == Principal("jwt", None)


def test_a_client_credentials_jwt_with_an_empty_sub_has_no_subject(hs256: Authenticator) -> None:
    assert hs256.authenticate(_bearer(_hs256(_claims(sub="")))) == Principal("jwt", None)


def test_the_scheme_is_case_insensitive(hs256: Authenticator) -> None:
    assert hs256.authenticate(f"bearer {_hs256(_claims())}") is not None


def test_an_expired_jwt_is_refused(hs256: Authenticator) -> None:
    assert hs256.authenticate(_bearer(_hs256(_claims(exp=int(time.time()) - 3600)))) is None


def test_an_expiry_within_the_leeway_is_tolerated_and_beyond_it_refused() -> None:
    token = _hs256(_claims(exp=int(time.time()) - 5))

    lenient = Authenticator(jwt_key=SECRET, service_token_digests=[], leeway_s=30)
    strict = Authenticator(jwt_key=SECRET, service_token_digests=[], leeway_s=0)

    assert lenient.authenticate(_bearer(token)) is not None
    assert strict.authenticate(_bearer(token)) is None


def test_a_jwt_without_exp_is_refused(hs256: Authenticator) -> None:
    assert hs256.authenticate(_bearer(_hs256(_claims(exp=None)))) is None


def test_a_jwt_not_valid_before_a_future_nbf_is_refused(hs256: Authenticator) -> None:
    token = _hs256(_claims(nbf=int(time.time()) + 3600, exp=int(time.time()) + 7200))

    assert hs256.authenticate(_bearer(token)) is None


def test_a_jwt_issued_in_the_future_is_refused(hs256: Authenticator) -> None:
    token = _hs256(_claims(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200))

    assert hs256.authenticate(_bearer(token)) is None


def test_a_jwt_signed_with_another_secret_is_refused(hs256: Authenticator) -> None:
    token = _hs256(_claims(), secret="another-secret-that-is-also-32-bytes-or-more")

    assert hs256.authenticate(_bearer(token)) is None


def test_a_jwt_signed_with_another_rsa_key_is_refused(
    rs256: Authenticator, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(_claims(), other_rsa_key, algorithm="RS256")

    assert rs256.authenticate(_bearer(token)) is None


def test_a_jwt_with_a_tampered_payload_is_refused(hs256: Authenticator) -> None:
    header, _, signature = _hs256(_claims()).split(".")
    forged = _segment(_claims(sub="admin"))

    assert hs256.authenticate(_bearer(f"{header}.{forged}.{signature}")) is None


def test_an_alg_none_jwt_is_refused(hs256: Authenticator, rs256: Authenticator) -> None:
    token = f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(_claims())}."

    assert hs256.authenticate(_bearer(token)) is None
    assert rs256.authenticate(_bearer(token)) is None


def test_hs256_signed_with_the_public_key_pem_is_refused_when_rs256_is_configured(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    # The key-confusion attack: the public key is public, so anyone can HMAC with it.
    pem = _pem(rsa_key)
    authenticator = Authenticator(jwt_key=pem, service_token_digests=[])
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(_claims())}"
    for secret in (pem, pem.strip()):
        mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()

        assert authenticator.authenticate(_bearer(f"{signing_input}.{_b64(mac)}")) is None


def test_an_rs256_jwt_is_refused_when_an_hs256_secret_is_configured(
    hs256: Authenticator, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256")

    assert hs256.authenticate(_bearer(token)) is None


# --- service tokens -------------------------------------------------------------------------


def test_a_service_token_is_accepted_when_its_digest_is_configured() -> None:
    authenticator = Authenticator(
        jwt_key=SECRET, service_token_digests=[OTHER_DIGEST, SERVICE_DIGEST.upper()]
    )

    assert authenticator.authenticate(_bearer(SERVICE_TOKEN)) == Principal("service", None)


def test_a_service_token_is_refused_when_its_digest_is_not_configured() -> None:
    authenticator = Authenticator(jwt_key=SECRET, service_token_digests=[OTHER_DIGEST])

    assert authenticator.authenticate(_bearer(SERVICE_TOKEN)) is None
    assert authenticator.authenticate(_bearer(SERVICE_DIGEST)) is None  # the digest is no token


def test_a_service_token_is_compared_with_every_digest_even_after_a_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real(a, b)

    digests = [SERVICE_DIGEST, OTHER_DIGEST, hashlib.sha256(b"third").hexdigest()]
    authenticator = Authenticator(jwt_key=None, service_token_digests=digests)
    monkeypatch.setattr(hmac, "compare_digest", counting)

    assert authenticator.authenticate(_bearer(SERVICE_TOKEN)) == Principal("service", None)
    assert compared == [d.encode() for d in digests]  # no early exit that times which one matched


def test_with_no_key_and_no_digests_everything_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    authenticator = Authenticator(jwt_key=None, service_token_digests=[])

    assert authenticator.authenticate(_bearer(_hs256(_claims()))) is None
    assert authenticator.authenticate(_bearer(jwt.encode(_claims(), rsa_key, "RS256"))) is None
    assert authenticator.authenticate(_bearer(SERVICE_TOKEN)) is None
    assert authenticator.authenticate(None) is None


# --- headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,  # no Authorization header at all
        "",  # present but empty
        SERVICE_TOKEN,  # the "Bearer" scheme is missing
        "Bearer",  # scheme without a token
        "Bearer ",  # scheme, space, empty token
        f"Basic {SERVICE_TOKEN}",  # another scheme
        f"Basic {base64.b64encode(b'user:' + SERVICE_TOKEN.encode()).decode()}",  # real Basic auth
        f"Token {SERVICE_TOKEN}",  # a lookalike scheme
        f"Bearer  {SERVICE_TOKEN}",  # two spaces after the scheme
        f" Bearer {SERVICE_TOKEN}",  # leading space
        f"Bearer {SERVICE_TOKEN} ",  # trailing space
        f"Bearer\t{SERVICE_TOKEN}",  # a tab instead of the space
        f"Bearer {SERVICE_TOKEN}\n",  # trailing newline (a `$` regex would let it through)
        f"Bearer {SERVICE_TOKEN} {SERVICE_TOKEN}",  # two tokens
        f"Bearer{SERVICE_TOKEN}",  # no space at all
        f"Bearer {SERVICE_TOKEN[:-1]}é",  # non-ASCII in the token
        "Bearer "
        + SERVICE_TOKEN.replace("s", "\u017f"),  # long s: matches "s" in a Unicode-IGNORECASE regex
        "Bearer " + SERVICE_TOKEN.replace("k", "\u212a"),  # Kelvin sign: likewise matches "k"
        f"Béarer {SERVICE_TOKEN}",  # non-ASCII in the scheme
        f"Bearer {SERVICE_TOKEN}\x00",  # NUL
        f"Bearer ={SERVICE_TOKEN}",  # padding before the token (not a b64token)
        "Bearer ....",  # only dots: a JWT shape with nothing in it
    ],
)
def test_a_malformed_authorization_header_is_unauthenticated(header: str | None) -> None:
    authenticator = Authenticator(jwt_key=SECRET, service_token_digests=[SERVICE_DIGEST])

    assert authenticator.authenticate(header) is None


# --- configuration --------------------------------------------------------------------------


def test_from_settings_uses_the_jwt_key_and_the_service_tokens() -> None:
    configured = Settings(jwt_key=SecretStr(SECRET), service_tokens=[SERVICE_DIGEST])
    authenticator = Authenticator.from_settings(configured)

    assert authenticator.authenticate(_bearer(_hs256(_claims()))) == Principal("jwt", "user-42")
    assert authenticator.authenticate(_bearer(SERVICE_TOKEN)) == Principal("service", None)


def test_from_settings_treats_an_empty_jwt_key_as_none() -> None:
    authenticator = Authenticator.from_settings(Settings(jwt_key=SecretStr(""), service_tokens=[]))

    assert authenticator.authenticate(_bearer(_hs256(_claims()))) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"jwt_key": "too-short"}, "at least 32 bytes"),
        (
            {"jwt_key": "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----"},
            "RSA public key",
        ),
        ({"service_token_digests": ["abc"]}, "SHA-256 hex digest"),
        ({"service_token_digests": [SERVICE_TOKEN]}, "SHA-256 hex digest"),
        ({"leeway_s": -1.0}, "leeway_s"),
        ({"leeway_s": 3600.0}, "leeway_s"),
        ({"leeway_s": float("nan")}, "leeway_s"),
    ],
)
def test_an_unusable_configuration_is_refused_at_construction(
    kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"jwt_key": None, "service_token_digests": []} | kwargs

    with pytest.raises(ValueError, match=message):
        Authenticator(**arguments)


def test_a_pem_key_must_be_an_rsa_public_key_of_2048_bits(rsa_key: rsa.RSAPrivateKey) -> None:
    private = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    ec_public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    small = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))

    for pem in (private, ec_public, small):
        with pytest.raises(ValueError, match="RSA public key") as raised:
            Authenticator(jwt_key=pem, service_token_digests=[])
        assert pem.splitlines()[1] not in str(raised.value)


def test_a_pkcs1_rsa_public_key_is_accepted(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode()
    )
    authenticator = Authenticator(jwt_key=f"\n{pem}\n", service_token_digests=[])

    assert authenticator.authenticate(_bearer(jwt.encode(_claims(), rsa_key, "RS256"))) is not None


# --- secrets stay secret --------------------------------------------------------------------


def test_neither_the_secret_nor_a_token_shows_in_repr_exceptions_or_logs(
    caplog: pytest.LogCaptureFixture, rs256: Authenticator
) -> None:
    authenticator = Authenticator(jwt_key=SECRET, service_token_digests=[SERVICE_DIGEST])
    token = _hs256(_claims())
    refused = _hs256(_claims(exp=int(time.time()) - 3600))
    signature = token.rsplit(".", 1)[1]
    short_secret = "short-but-still-a-secret"

    with caplog.at_level(logging.DEBUG, logger="stream_health_api.auth"):
        authenticator.authenticate(_bearer(token))
        authenticator.authenticate(_bearer(refused))
        authenticator.authenticate(_bearer(SERVICE_TOKEN))
        authenticator.authenticate(_bearer(SERVICE_TOKEN + "x"))
    with pytest.raises(ValueError, match="jwt_key") as raised:
        Authenticator(jwt_key=short_secret, service_token_digests=[])

    shown = [repr(authenticator), str(authenticator), repr(rs256), caplog.text]
    shown += [str(raised.value), repr(raised.value)]
    assert "api.jwt_refused" in caplog.text  # the refusal was logged, by exception class only
    for text in shown:
        for secret in (SECRET, short_secret, token, refused, signature, SERVICE_TOKEN):
            assert secret not in text
    assert repr(authenticator) == "Authenticator(jwt=HS256, service_tokens=1)"


# --- properties -----------------------------------------------------------------------------

_FUZZED = Authenticator(jwt_key=SECRET, service_token_digests=[SERVICE_DIGEST])
_B64URL = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=40
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300)
@given(
    header=st.one_of(
        st.text(),
        st.text().map(lambda s: "Bearer " + s),
        st.tuples(_B64URL, _B64URL, _B64URL).map(lambda t: "Bearer " + ".".join(t)),
    )
)
def test_arbitrary_headers_never_raise(header: str) -> None:
    result = _FUZZED.authenticate(header)

    assert result is None or isinstance(result, Principal)


@settings(max_examples=300)
@given(
    header=st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit", "b64"]), _JSON),
    claims=_JSON
    | st.dictionaries(st.sampled_from(["exp", "nbf", "iat", "sub", "aud", "jti", "iss"]), _JSON),
)
def test_correctly_signed_tokens_with_arbitrary_header_and_claims_never_raise(
    header: dict[str, Any], claims: Any
) -> None:
    signing_input = f"{_segment({**header, 'alg': 'HS256'})}.{_segment(claims)}"
    mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()

    result = _FUZZED.authenticate(_bearer(f"{signing_input}.{_b64(mac)}"))

    assert result is None or result.kind == "jwt"
