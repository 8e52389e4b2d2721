"""Pagination tokens (ListCollections, ListFaces): tamper-evident cursors.

A token is ``<kind>.<collection>.<after>.<mac>``: the operation's kind ("c" or "f"), the collection's internal
number (0 for ListCollections), the last position already returned, and the first 16 bytes of
HMAC-SHA256(secret, the rest), base64url. The secret is 32 random bytes made once per $FACELENS_HOME and kept in
its database, so a token is valid for that home only, for the operation and collection it came from; a forged,
edited or truncated token fails the check. Tokens are about 40 characters (the API allows 255).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from ..errors import InvalidPaginationTokenException

_FORM = re.compile(r"([cf])\.(\d{1,19})\.(\d{1,19})\.([A-Za-z0-9_-]{22})")


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def make(secret: bytes, kind: str, collection: int, after: int) -> str:
    payload = f"{kind}.{int(collection)}.{int(after)}"
    return f"{payload}.{_mac(secret, payload)}"


def parse(secret: bytes, token: str, kind: str, collection: int) -> int:
    """The position after which the next page starts. InvalidPaginationTokenException for any token this home
    did not issue for this operation and collection."""
    m = _FORM.fullmatch(token) if isinstance(token, str) else None
    if m is None:
        raise InvalidPaginationTokenException("Invalid pagination token.")
    payload = f"{m.group(1)}.{m.group(2)}.{m.group(3)}"
    if not hmac.compare_digest(_mac(secret, payload), m.group(4)):
        raise InvalidPaginationTokenException("Invalid pagination token.")
    if m.group(1) != kind or int(m.group(2)) != int(collection):
        raise InvalidPaginationTokenException("The pagination token was issued for a different request.")
    return int(m.group(3))

