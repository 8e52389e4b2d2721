"""boto3-style paginators: ``client.get_paginator("list_faces").paginate(CollectionId=...)`` yields pages.

Same PaginationConfig as botocore (MaxItems, PageSize, StartingToken); ``build_full_result()`` merges the pages.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Tuple

# operation (snake_case) -> (result keys, limit key)
PAGINATED: Dict[str, Tuple[Tuple[str, ...], str]] = {
    "list_collections": (("CollectionIds", "FaceModelVersions"), "MaxResults"),
    "list_faces": (("Faces",), "MaxResults"),
    "get_face_detection": (("Faces",), "MaxResults"),
    "get_person_tracking": (("Persons",), "MaxResults"),
    "get_face_search": (("Persons",), "MaxResults"),
    "get_celebrity_recognition": (("Celebrities",), "MaxResults"),
}


class PageIterator:
    def __init__(self, method: Callable[..., Dict[str, Any]], result_keys, limit_key: str, kwargs, config) -> None:
        self._method = method
        self._result_keys = result_keys
        self._limit_key = limit_key
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
        for page in self:
            for key in self._result_keys:
                merged[key].extend(page.get(key, []))
        return merged


class Paginator:
    def __init__(self, method: Callable[..., Dict[str, Any]], operation: str) -> None:
        self._method = method
        self._result_keys, self._limit_key = PAGINATED[operation]

    def paginate(self, PaginationConfig: Dict[str, Any] = None, **kwargs: Any) -> PageIterator:  # noqa: N803
        return PageIterator(self._method, self._result_keys, self._limit_key, kwargs, PaginationConfig or {})
