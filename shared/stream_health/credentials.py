"""Stream urls carry camera passwords: how they are shown when they may not be."""

from __future__ import annotations

import re

# scheme://user:password@host...: the password is everything after the user's first ':'
# up to the last '@' of the authority (a password may itself hold '@' or ':').
_USERINFO_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:)[^/?#]*@")
MASK = "***"


def mask_password(url: str) -> str:
    """The url with the password of its userinfo replaced by `***` (unchanged without one)."""
    return _USERINFO_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", url, count=1)


# The same userinfo password, anywhere in free text (exception messages, reprs, SQL).
# Greedy up to the last '@' before a space or '/': it may mask a host too, never too little.
_PASSWORD_IN_TEXT = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:\s'\"]*:)[^/?#\s]*@")
_AUTHORIZATION = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9\-._~+/]+=*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_ASSIGNED = re.compile(
    r"(?i)(?<![A-Za-z0-9])(password|passwd|pwd|secret|token|jwt_key)"
    r"([\"']?\s*[=:]\s*[\"']?)([^\s\"',;&}\]]+)"
)


def redact(text: str, *, secrets: tuple[str, ...] = ()) -> str:
    """Free text with credentials masked: url passwords, bearer/basic credentials, JWTs,
    `password=`-style assignments, and any of `secrets` verbatim."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _PASSWORD_IN_TEXT.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _AUTHORIZATION.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _JWT.sub(MASK, text)
    return _ASSIGNED.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
