"""``facelens.Client``: boto3's rekognition client, computed locally.

Methods have boto3's snake_case names and keyword arguments and return the same dicts. One client may be
shared by many threads; the models release the GIL, so calls run in parallel.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Dict, Optional

from . import contract, images, response
from .errors import ClientError, Exceptions, InternalServerError, ParamValidationError
from .storage import ObjectStore
from .storage import home as default_home


class Client:
    """A local stand-in for ``boto3.client("rekognition")``.

    Args:
        home: where facelens keeps its data (the S3 stand-in under ``home/s3``); default ``$FACELENS_HOME``
            or ``~/.facelens``.
        threads: onnxruntime threads per model call (default: ``$FACELENS_THREADS`` or the CPU count, max 4).
        detector_max_side: the detector runs on the image scaled so its longer side is this many pixels.
    """

    def __init__(self, home: Optional[str] = None, threads: Optional[int] = None, detector_max_side: int = 640) -> None:
        self.home = default_home(home)
        self.store = ObjectStore(self.home)
        self.exceptions = Exceptions()
        self._threads = threads
        self._detector_max_side = detector_max_side
        self._engine = None
        self._engine_lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------------------------
    @property
    def engine(self):
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    from .pipeline import Engine

                    self._engine = Engine(threads=self._threads, detector_max_side=self._detector_max_side)
        return self._engine

    def _load_image(self, image: Dict[str, Any]) -> images.DecodedImage:
        kind, value = contract.image_source(image)
        if kind == "Bytes":
            return images.decode(value)
        data = self.store.read(value, images.MAX_S3_BYTES)
        return images.decode(data, max_bytes=images.MAX_S3_BYTES)

    def _call(self, operation: str, fn, params: Dict[str, Any]) -> Dict[str, Any]:
        try:
            request = contract.validate(operation, params)
            result = fn(request)
        except (ClientError, ParamValidationError) as e:
            if isinstance(e, ClientError) and not e.operation_name:
                raise type(e)(e.message, operation) from None
            raise
        except Exception as e:  # a bug of ours must still reach the caller as Rekognition's 500
            raise InternalServerError(f"{type(e).__name__}: {e}", operation) from e
        result["ResponseMetadata"] = {
            "RequestId": str(uuid.uuid4()),
            "HTTPStatusCode": 200,
            "HTTPHeaders": {"content-type": "application/x-amz-json-1.1"},
            "RetryAttempts": 0,
        }
        return result

    # -- operations -----------------------------------------------------------------------------------------
    def detect_faces(self, **kwargs: Any) -> Dict[str, Any]:
        """DetectFaces: the 100 largest faces, largest first, with the attributes asked for."""
        return self._call("DetectFaces", self._detect_faces, kwargs)

    def _detect_faces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        attributes = contract.wanted_attributes(request.get("Attributes"))
        image = self._load_image(request["Image"])
        faces = self.engine.analyze(image, want_eyes="EYE_DIRECTION" in attributes)
        height, width = image.rgb.shape[:2]
        return response.detect_faces(faces, width, height, attributes)

    def can_paginate(self, operation_name: str) -> bool:
        return False

    def close(self) -> None:
        self._engine = None

