"""Get* pagination tokens for video jobs: ``<after>.<mac>``, where ``after`` is the last result position already
returned and ``mac`` the first 16 bytes of HMAC-SHA256(home secret, "<JobId>.<after>"), base64url. A token is
valid only for the job (and home) that issued it; a forged, edited or truncated one is refused with
InvalidPaginationTokenException. Results of a finished job never change, so a token stays valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from ..errors import InvalidPaginationTokenException

_FORM = re.compile(r"(\d{1,19})\.([A-Za-z0-9_-]{22})")


def _mac(secret: bytes, job_id: str, after: int) -> str:
    digest = hmac.new(secret, f"{job_id}.{after}".encode("ascii"), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def make(secret: bytes, job_id: str, after: int) -> str:
    return f"{int(after)}.{_mac(secret, job_id, int(after))}"


def parse(secret: bytes, token: str, job_id: str) -> int:
    m = _FORM.fullmatch(token) if isinstance(token, str) else None
    if m is None or not hmac.compare_digest(_mac(secret, job_id, int(m.group(1))), m.group(2)):
        raise InvalidPaginationTokenException("Invalid pagination token.")
    return int(m.group(1))
