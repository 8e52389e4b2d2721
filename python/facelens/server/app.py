"""The ASGI application: Rekognition's JSON 1.1 protocol in front of ``facelens.Client``.

Wire format (what botocore sends and expects):

- ``POST /`` with ``X-Amz-Target: RekognitionService.<Operation>`` and a JSON body (``{}`` when no input);
  every ``Bytes`` member (``Image.Bytes``) arrives base64-encoded and is decoded before the client sees it.
- 200 with ``Content-Type: application/x-amz-json-1.1`` and the client's response dict as JSON (datetimes as
  epoch seconds, ``ResponseMetadata`` left out: botocore builds it from the headers), ``x-amzn-RequestId``.
- Errors: ``{"__type": code, "Message": msg}`` with HTTP 400 (500 for InternalServerError, 403 for
  authentication, 413 for a body over the limit, 408 for a body that does not arrive in time).

Any operation listed in ``facelens.contract.OPERATIONS`` that ``facelens.Client`` has a method for
(CamelCase → snake_case) is served: a new operation appears here as soon as the client implements it. Rekognition's
other operations (``contract.SERVICE_OPERATIONS``: labels, text, moderation, ...) get a 400
UnknownOperationException that names the operation and says facelens does not serve it.
Engine calls run in a thread pool; the engine releases the GIL, so requests run in parallel.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as _dt
import json
import logging
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    Mapping,
    MutableMapping,
    Optional,
    Sequence,
    Tuple,
)

from .. import contract, images
from ..errors import ClientError, ParamValidationError
from ..settings import DEFAULT_MAX_BODY, ServerSettings
from .sigv4 import AuthError, Verifier

if TYPE_CHECKING:
    from ..client import Client

log = logging.getLogger("facelens.server")

# ASGI's interface (asgiref's names)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TARGET_PREFIX = "RekognitionService."
CONTENT_TYPE = b"application/x-amz-json-1.1"
DEFAULT_BODY_TIMEOUT = 30.0  # seconds for the whole body to arrive once the headers are in
# Rekognition's deepest request (e.g. Video.S3Object.Version, NotificationChannel) nests 4 objects; anything
# much deeper is not a request, and Python's parser would run out of stack on it.
MAX_JSON_DEPTH = 32
_NOT_OPERATIONS = {"can_paginate", "get_paginator", "close"}


_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z]{2}(?:-[a-z]+)+-\d{1,2})/")


def signed_region(headers: Mapping[str, Sequence[str]]) -> Optional[str]:
    """The region of a request's SigV4 credential scope (``Credential=KEY/DATE/REGION/rekognition/aws4_request``):
    resources live in the region the request was signed for, as on AWS. None when unsigned."""
    m = _CREDENTIAL_SCOPE.search((headers.get("authorization") or [""])[0])
    return m.group(1) if m else None


def snake_case(operation: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", operation).lower()


def operations(client: Client) -> Dict[str, str]:
    """Operation name → client method name, for every operation the client implements."""
    out = {}
    for name in contract.OPERATIONS:
        method = snake_case(name)
        if method not in _NOT_OPERATIONS and not method.startswith("_") and callable(getattr(client, method, None)):
            out[name] = method
    return out


class WireError(Exception):
    """An error answered before the client is called (protocol, auth, limits)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_depth(value: Any) -> int:
    """How deep objects and arrays nest in a parsed JSON value (iterative: any depth is measured)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def decode_blobs(value: Any, path: str = "") -> Any:
    """Decodes every ``Bytes`` member (Rekognition's only blob members) from base64, in place order."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key == "Bytes" and item is not None:
                if not isinstance(item, str):
                    raise WireError(400, "SerializationException",
                                    f"{where}: expected a base64 string, got {type(item).__name__}.")
                try:
                    out[key] = base64.b64decode(item, validate=True)
                except (binascii.Error, ValueError):
                    raise WireError(400, "SerializationException", f"{where}: not valid base64.") from None
            else:
                out[key] = decode_blobs(item, where)
        return out
    if isinstance(value, list):
        return [decode_blobs(v, path) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def encode_response(result: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in result.items() if k != "ResponseMetadata"}
    return json.dumps(body, default=_json_default, separators=(",", ":")).encode()


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"__type": code, "Message": message}).encode()


class RekognitionApp:
    """ASGI callable. ``client``: a ``facelens.Client`` (shared by all requests; thread-safe).

    ``keys``: access key id → secret; when empty, any or no signature is accepted, otherwise SigV4 is verified.
    """

    def __init__(self, client: Optional[Client] = None, keys: Optional[Mapping[str, str]] = None, max_body: int = DEFAULT_MAX_BODY,
                 body_timeout: float = DEFAULT_BODY_TIMEOUT, threads: Optional[int] = None,
                 preload: bool = True) -> None:
        if client is None:
            from ..client import Client

            client = Client()
        self.client = client
        self.operations = operations(client)
        self.verifier = Verifier(keys) if keys else None
        self.max_body = int(max_body)
        self.body_timeout = float(body_timeout)
        self.preload = preload
        # Enough threads to keep both the engine (GIL released) and the SQLite store busy; a bound so that a burst
        # of requests queues here instead of oversubscribing the CPU.
        self.pool = ThreadPoolExecutor(max_workers=threads or max(4, 2 * (os.cpu_count() or 1)),
                                       thread_name_prefix="facelens-req")

    # -- ASGI ---------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        try:
            status, body = await self._handle(scope, receive, request_id)
        except WireError as e:
            status, body = e.status, error_body(e.code, e.message)
        except Exception as e:  # never let a bug of ours become uvicorn's bare 500
            log.exception("request %s failed", request_id)
            status, body = 500, error_body("InternalServerError", f"{type(e).__name__}: {e}")
        headers = [
            (b"content-type", CONTENT_TYPE),
            (b"content-length", str(len(body)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
        ]
        if status in (408, 413):
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.preload and hasattr(self.client, "engine"):
                    try:  # load the models before the first request, not during it
                        await asyncio.get_running_loop().run_in_executor(self.pool, lambda: self.client.engine)
                    except Exception as e:  # pragma: no cover - reported on the first request instead
                        log.warning("model preload failed: %s", e)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown(wait=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- one request --------------------------------------------------------------------------------------
    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        headers = _headers(scope)
        declared = headers.get("content-length")
        if declared:
            try:
                declared_size = int(declared[0])
            except ValueError:
                raise WireError(400, "SerializationException", "Bad Content-Length.") from None
            if declared_size > self.max_body:
                await self._drain(receive, 0, declared_size)
        chunks: List[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        while True:
            message = await self._receive(receive, deadline)
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_body:
                chunks.clear()
                if more:
                    await self._drain(receive, size, size)
                raise self._too_large(size)
            chunks.append(chunk)
            if not more:
                return b"".join(chunks)

    async def _receive(self, receive: Receive, deadline: float) -> Message:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            message = await asyncio.wait_for(receive(), max(remaining, 0.001))
        except asyncio.TimeoutError:
            raise WireError(408, "RequestTimeoutException",
                            f"The request body did not arrive within {self.body_timeout:g} s.") from None
        if message["type"] == "http.disconnect":
            raise WireError(400, "SerializationException", "The client disconnected before the body arrived.")
        return message

    async def _drain(self, receive: Receive, size: int, declared: int) -> None:
        """Reads and discards an oversized body (up to 8x the limit) so that the client, still sending, reads the
        413 instead of a broken pipe; then raises it."""
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        while size <= 8 * self.max_body:
            message = await self._receive(receive, deadline)
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raise self._too_large(max(size, declared))

    def _too_large(self, size: int) -> WireError:
        # The only large member of a Rekognition request is an image's Bytes: answer as AWS does for a big image.
        return WireError(413, "ImageTooLargeException",
                         f"Request body of {size} bytes exceeds this server's limit of {self.max_body} bytes "
                         f"(Image.Bytes may be at most 5 MB).")

    async def _handle(self, scope: Scope, receive: Receive, request_id: str) -> Tuple[int, bytes]:
        if scope["method"] != "POST":
            raise WireError(404, "UnknownOperationException",
                            f"{scope['method']} {scope['path']}: this endpoint only answers POST / with an "
                            f"X-Amz-Target header (Rekognition's JSON 1.1 protocol).")
        headers = _headers(scope)
        body = await self._read_body(scope, receive)
        if self.verifier is not None:
            try:
                self.verifier.verify("POST", scope.get("raw_path", b"/").decode("latin-1").split("?")[0]
                                     or scope["path"], scope.get("query_string", b"").decode("latin-1"), headers, body)
            except AuthError as e:
                raise WireError(e.status, e.code, e.message) from None
        target = (headers.get("x-amz-target") or [""])[0]
        if not target:
            raise WireError(400, "UnknownOperationException", "Missing X-Amz-Target header.")
        prefix, _, operation = target.partition(".")
        method = self.operations.get(operation) if prefix + "." == TARGET_PREFIX else None
        if method is None:
            area = contract.service_area(operation) if prefix + "." == TARGET_PREFIX else None
            served = ", ".join(sorted(self.operations))
            if area is not None:
                raise WireError(400, "UnknownOperationException",
                                f"{operation} is an Amazon Rekognition operation ({area}) that facelens does not "
                                f"serve. facelens serves Rekognition's face API: {served}.")
            raise WireError(400, "UnknownOperationException", f"Unknown operation {target!r}: facelens implements "
                                                               f"{served}.")
        try:
            params = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError) as e:
            raise WireError(400, "SerializationException", f"Request body is not valid JSON: {e}.") from None
        except RecursionError:  # nested deeper than the parser goes
            too_deep = True
        else:
            too_deep = json_depth(params) > MAX_JSON_DEPTH
        if too_deep:
            raise WireError(400, "SerializationException",
                            f"Request body nests JSON deeper than {MAX_JSON_DEPTH} levels.")
        if not isinstance(params, dict):
            raise WireError(400, "SerializationException", "Request body must be a JSON object.")
        params = decode_blobs(params)
        fn = getattr(self.client.for_region(signed_region(headers) or self.client.region), method)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.pool, _call_and_release, fn, params)
        except ClientError as e:
            return e.http_status, error_body(e.code, e.message)
        except ParamValidationError as e:
            return 400, error_body("ValidationException", str(e))
        except TypeError as e:  # e.g. a JSON key that is not a valid keyword
            return 400, error_body("ValidationException", f"Parameter validation failed: {e}")
        return 200, encode_response(result)


def _call_and_release(fn: Callable[..., Dict[str, Any]], params: Dict[str, Any]) -> Dict[str, Any]:
    try:
        return fn(**params)
    finally:
        images.release_memory()  # a large image's buffers go back to the system, not to this thread's arena


def _headers(scope: Scope) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    for name, value in scope.get("headers", []):
        out.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return out


def create_app(client: Optional[Client] = None, keys: Optional[Mapping[str, str]] = None,
               **kwargs: Any) -> RekognitionApp:
    """The ASGI app. Without ``keys``, those of ``ServerSettings.from_env()`` (``FACELENS_ACCESS_KEY_ID`` /
    ``FACELENS_SECRET_ACCESS_KEY``) are used if set."""
    if keys is None:
        keys = ServerSettings.from_env().keys or None
    return RekognitionApp(client, keys=keys, **kwargs)


def app_from_env() -> RekognitionApp:
    """Factory for ``uvicorn --factory`` and multi-worker runs: settings from the environment."""
    from ..client import Client

    server = ServerSettings.from_env()
    return create_app(Client(), keys=server.keys or None, max_body=server.max_body)
