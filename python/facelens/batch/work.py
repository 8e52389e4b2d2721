"""One batch task (the operation and its parameters) and the worker that runs it on image sources.

A ``Task`` is plain data, so it travels to worker processes and Ray actors with the ``Settings``; each worker builds
one ``facelens.Client`` from them, loads the engine once, and reuses it for every image it is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from .sources import image_of

_EXTERNAL_ID_CHARS = re.compile(r"[^a-zA-Z0-9_.\-:]")
EXTERNAL_ID_MAX = 255


def external_image_id(source: str) -> str:
    """IndexFaces' ExternalImageId for a source: its file name with every character outside Rekognition's
    ``[a-zA-Z0-9_.\\-:]`` replaced by ``_``, cut to 255 characters."""
    name = source.rstrip("/").rsplit("/", 1)[-1] or "image"
    return _EXTERNAL_ID_CHARS.sub("_", name)[:EXTERNAL_ID_MAX]


@dataclass(frozen=True)
class Task:
    operation: str  # "DetectFaces" or "IndexFaces"
    params: Dict[str, Any] = field(default_factory=dict)  # the request's parameters other than Image

    def request(self, source: str, image: Dict[str, Any]) -> Dict[str, Any]:
        request = dict(self.params, Image=image)
        if self.operation == "IndexFaces" and "ExternalImageId" not in request:
            request["ExternalImageId"] = external_image_id(source)
        return request

    def check(self) -> None:
        """Raises ParamValidationError / InvalidParameterException now for parameters every image would fail on."""
        from .. import contract

        contract.validate(self.operation, self.request("x", {"Bytes": b"x"}))


def read_image(source: str) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
    """(Image, None) for a source, or (None, the error line's Error) when the file cannot be read."""
    from .. import images

    try:
        return image_of(source, images.MAX_BYTES), None
    except OSError as e:
        return None, {"Code": "InvalidParameterException", "Message": f"cannot read {source}: {e.strerror}"}


class Worker:
    """Runs a task on image sources with one client (one engine) for its whole life."""

    def __init__(self, settings: Any, task: Task) -> None:
        from ..client import Client

        self.task = task
        self.client = Client(settings=settings)
        _ = self.client.runtime.engine  # load the networks now, not in the first image's time
        self._call = {"DetectFaces": self.client.detect_faces, "IndexFaces": self.client.index_faces}[task.operation]

    def run(self, source: str, image: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """The result line of one source; ``image`` when the caller has already read it."""
        from ..errors import ClientError, ParamValidationError

        if image is None:
            image, error = read_image(source)
            if error is not None:
                return {"Source": source, "Error": error}
        assert image is not None
        try:
            response = self._call(**self.task.request(source, image))
        except ClientError as e:
            return {"Source": source, "Error": {"Code": e.code, "Message": e.message}}
        except ParamValidationError as e:
            return {"Source": source, "Error": {"Code": "ValidationException", "Message": str(e)}}
        response.pop("ResponseMetadata", None)
        return {"Source": source, "Response": response}
