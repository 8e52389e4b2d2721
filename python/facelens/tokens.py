"""Pagination tokens (ListCollections, ListFaces, the video Get* operations): tamper-evident cursors.

A token is ``<after>.<mac>``: the last position already returned, and the first 16 bytes of
HMAC-SHA256(secret, "<scope>.<after>"), base64url. The scope names what the token pages through (an operation and
collection, or a JobId); the secret is 32 random bytes made once per $FACELENS_HOME and kept in its database. So a
token is valid only for the home, operation and collection or job that issued it: a forged, edited, truncated or
foreign token gives InvalidPaginationTokenException. Tokens are about 25 characters (the API allows 255).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from .errors import InvalidPaginationTokenException

_FORM = re.compile(r"(\d{1,19})\.([A-Za-z0-9_-]{22})")


def _mac(secret: bytes, scope: str, after: int) -> str:
    digest = hmac.new(secret, f"{scope}.{after}".encode("utf-8"), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def make(secret: bytes, scope: str, after: int) -> str:
    return f"{int(after)}.{_mac(secret, scope, int(after))}"


def parse(secret: bytes, token: str, scope: str) -> int:
    """The position after which the next page starts."""
    m = _FORM.fullmatch(token) if isinstance(token, str) else None
    if m is None or not hmac.compare_digest(_mac(secret, scope, int(m.group(1))), m.group(2)):
        raise InvalidPaginationTokenException("Invalid pagination token.")
    return int(m.group(1))
