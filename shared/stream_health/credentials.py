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
