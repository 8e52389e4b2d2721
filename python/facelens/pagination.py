"""Pagination, one mechanism for every paginated operation: signed tokens (the services) and boto3-style
paginators (``client.get_paginator``, the CLI).

Tokens (ListCollections, ListFaces, the video Get* operations) are tamper-evident cursors.

A token is ``<after>.<mac>``: the last position already returned, and the first 16 bytes of
HMAC-SHA256(secret, "<scope>.<after>"), base64url. The scope names what the token pages through (an operation and
collection, or a JobId); the secret is 32 random bytes made once per database and kept in it. So a
token is valid only for the database, operation and collection or job that issued it: a forged, edited, truncated or
foreign token gives InvalidPaginationTokenException. Tokens are about 25 characters (the API allows 255).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple

from .errors import InvalidPaginationTokenException

_FORM = re.compile(r"(\d{1,19})\.([A-Za-z0-9_-]{22})")


def _mac(secret: bytes, scope: str, after: int) -> str:
    digest = hmac.new(secret, f"{scope}.{after}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def make(secret: bytes, scope: str, after: int) -> str:
    return f"{int(after)}.{_mac(secret, scope, int(after))}"


def parse(secret: bytes, token: Optional[str], scope: str) -> int:
    """The position after which the next page starts (0 for no token or an empty one: a first call)."""
    if token is None or token == "":
        return 0
    m = _FORM.fullmatch(token) if isinstance(token, str) else None
    if m is None or not hmac.compare_digest(_mac(secret, scope, int(m.group(1))), m.group(2)):
        raise InvalidPaginationTokenException("Invalid pagination token.")
    return int(m.group(1))


class Tokens:
    """The signing side of one database's pagination: ``start(token, scope)`` and ``next(scope, more)``."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def start(self, token: Optional[str], scope: str) -> int:
        return parse(self.secret, token, scope)

    def next(self, scope: str, more: Optional[int]) -> Optional[str]:
        return None if more is None else make(self.secret, scope, more)

_VIDEO_KEYS = ("JobId", "JobStatus", "StatusMessage", "VideoMetadata", "Video", "JobTag")

# operation (snake_case) -> (result keys, limit key, non-aggregate keys: taken from the first page, as botocore's
# build_full_result does; botocore has no paginator for the video Get* operations, facelens keeps their job keys)
PAGINATED: Dict[str, Tuple[Tuple[str, ...], str, Tuple[str, ...]]] = {
    "list_collections": (("CollectionIds", "FaceModelVersions"), "MaxResults", ()),
    "list_faces": (("Faces",), "MaxResults", ("FaceModelVersion",)),
    "list_users": (("Users",), "MaxResults", ()),
    "get_face_detection": (("Faces",), "MaxResults", _VIDEO_KEYS),
    "get_person_tracking": (("Persons",), "MaxResults", _VIDEO_KEYS),
    "get_face_search": (("Persons",), "MaxResults", _VIDEO_KEYS),
    "get_celebrity_recognition": (("Celebrities",), "MaxResults", _VIDEO_KEYS),
}


class PageIterator:
    def __init__(self, method: Callable[..., Dict[str, Any]], result_keys: Sequence[str], limit_key: str,
                 kwargs: Mapping[str, Any], config: Mapping[str, Any], non_aggregate_keys: Sequence[str] = ()) -> None:
        self._method = method
        self._result_keys = result_keys
        self._limit_key = limit_key
        self._non_aggregate_keys = non_aggregate_keys
        self._kwargs = dict(kwargs)
        self._max_items = config.get("MaxItems")
        self._page_size = config.get("PageSize")
        self._token = config.get("StartingToken")

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        seen = 0
        token = self._token
        while True:
            kwargs = dict(self._kwargs)
            if self._page_size is not None:
                kwargs[self._limit_key] = self._page_size
            if token:
                kwargs["NextToken"] = token
            page = self._method(**kwargs)
            count = len(page.get(self._result_keys[0], []))
            if self._max_items is not None and seen + count > self._max_items:
                keep = self._max_items - seen
                for key in self._result_keys:
                    if key in page:
                        page[key] = page[key][:keep]
                page.pop("NextToken", None)
                yield page
                return
            seen += count
            yield page
            token = page.get("NextToken")
            if not token or (self._max_items is not None and seen >= self._max_items):
                return

    def build_full_result(self) -> Dict[str, Any]:
        merged: Dict[str, Any] = {key: [] for key in self._result_keys}
        for n, page in enumerate(self):
            if n == 0:
                merged.update((k, page[k]) for k in self._non_aggregate_keys if k in page)
            for key in self._result_keys:
                merged[key].extend(page.get(key, []))
        return merged


class Paginator:
    def __init__(self, method: Callable[..., Dict[str, Any]], operation: str) -> None:
        self._method = method
        self._result_keys, self._limit_key, self._non_aggregate_keys = PAGINATED[operation]

    def paginate(self, PaginationConfig: Optional[Dict[str, Any]] = None, **kwargs: Any) -> PageIterator:  # noqa: N803
        return PageIterator(self._method, self._result_keys, self._limit_key, kwargs, PaginationConfig or {},
                            self._non_aggregate_keys)
