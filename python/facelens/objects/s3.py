"""S3Object images and videos read through the S3 API with boto3, from AWS S3 or any S3-compatible server.

The client is configured the way every AWS tool is: the standard credential chain, ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL`` for an S3-compatible server (SeaweedFS, MinIO, Ceph), ``AWS_DEFAULT_REGION``; boto3 reads
them, and the constructor's arguments override them (boto3 does not read ``AWS_REGION``: pass it as
``region_name``). Sizes are checked from HEAD's ContentLength before anything is
downloaded; videos are streamed to a file in chunks.

Errors follow Rekognition: an object that cannot be read with the store's credentials (missing bucket, key or
version, access denied, a malformed version id) is ``InvalidS3ObjectException`` naming the object; a store that
does not answer within the bounded timeouts and retries is ``InternalServerError`` (HTTP 500, which botocore's
callers retry), and a store that keeps throttling after the retries is ``ThrottlingException``.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Type, Union

from .. import contract
from ..errors import (
    ClientError,
    ImageTooLargeException,
    InternalServerError,
    InvalidS3ObjectException,
    ThrottlingException,
)

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError as BotoClientError
except ImportError:  # the "s3" extra is not installed; the local store still works
    boto3 = None

_CHUNK = 1 << 20  # bytes per write while streaming an object to a file
_POOL_CONNECTIONS = 32  # kept-alive connections to the store, shared by the threads serving requests
# S3 answers that mean "slow down" rather than "broken"; botocore has already retried them.
_THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
                   "RequestThrottled", "ServiceUnavailable", "503"}


def _describe(bucket: str, key: str, version: Optional[str]) -> str:
    return f"s3://{bucket}/{key}" + (f" (version {version})" if version is not None else "")


class S3ObjectStore:
    """Reads ``S3Object`` images and videos from an S3 API endpoint. Safe to share between threads."""

    def __init__(self, client: Any = None, *, endpoint_url: Optional[str] = None, region_name: Optional[str] = None,
                 connect_timeout: float = 5, read_timeout: float = 10, max_attempts: int = 3,
                 session: Any = None) -> None:
        """``client``: a boto3 ``s3`` client to use as it is; otherwise one is built from ``session`` (a
        ``boto3.session.Session``; a new one with the standard credential chain by default) with bounded waits:
        each connection attempt gives up after ``connect_timeout`` s, each socket read after ``read_timeout`` s
        of silence, and a request is tried at most ``max_attempts`` times (botocore's standard retry mode)."""
        if client is None:
            if boto3 is None:
                raise ImportError("the S3 object store needs boto3: pip install 'facelens[s3]'")
            if session is None:
                session = boto3.session.Session()  # its own: boto3's default session is not thread-safe to build
            config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                            retries={"total_max_attempts": max_attempts, "mode": "standard"},
                            max_pool_connections=_POOL_CONNECTIONS)
            client = session.client("s3", endpoint_url=endpoint_url, region_name=region_name, config=config)
            if not _is_aws(client.meta.endpoint_url):
                # S3-compatible servers (SeaweedFS, MinIO) address buckets by path, not by host name; the endpoint
                # may come from the argument or from AWS_ENDPOINT_URL(_S3), which only the built client knows.
                config = config.merge(Config(s3={"addressing_style": "path"}))
                client = session.client("s3", endpoint_url=endpoint_url, region_name=region_name, config=config)
        self.client = client

    @property
    def endpoint_url(self) -> str:
        return self.client.meta.endpoint_url

    def size(self, s3object: Mapping[str, Any]) -> int:
        """The object's size in bytes (HEAD; nothing is downloaded)."""
        bucket, key, version = contract.s3_object(s3object)
        return self._head(bucket, key, version)

    @contextmanager
    def local_file(self, s3object: Mapping[str, Any], max_bytes: int,
                   too_large: Type[ClientError] = ImageTooLargeException) -> Iterator[Path]:
        """The object streamed to a temporary file (removed when the block ends), for readers that need a file."""
        with tempfile.TemporaryDirectory(prefix="facelens-s3-") as folder:
            path = Path(folder) / "object"
            self.download_to(s3object, path, max_bytes, too_large)
            yield path

    def read(self, s3object: Mapping[str, Any], max_bytes: int,
             too_large: Type[ClientError] = ImageTooLargeException) -> bytes:
        """The object's bytes; one over ``max_bytes`` is refused from its HEAD, before the download."""
        bucket, key, version = contract.s3_object(s3object)
        self._check_size(self._head(bucket, key, version), max_bytes, too_large)
        body = self._get(bucket, key, version)
        try:
            data = body.read(max_bytes + 1)
        except BotoCoreError as e:
            raise self._unreachable(bucket, key, version, e) from None
        finally:
            body.close()
        self._check_size(len(data), max_bytes, too_large)  # replaced by a larger object after the HEAD
        return data

    def download_to(self, s3object: Mapping[str, Any], path: Union[str, os.PathLike], max_bytes: int,
                    too_large: Type[ClientError] = ImageTooLargeException) -> int:
        """Streams the object into the file ``path`` in chunks (never whole in memory); returns its size.
        The size is checked from HEAD first; the file is removed again when the download fails."""
        bucket, key, version = contract.s3_object(s3object)
        self._check_size(self._head(bucket, key, version), max_bytes, too_large)
        body = self._get(bucket, key, version)
        path = Path(path)
        written = 0
        try:
            with open(path, "wb") as f:
                for chunk in body.iter_chunks(_CHUNK):
                    written += len(chunk)
                    self._check_size(written, max_bytes, too_large)
                    f.write(chunk)
        except BaseException as e:
            path.unlink(missing_ok=True)
            if isinstance(e, BotoCoreError):
                raise self._unreachable(bucket, key, version, e) from None
            raise
        finally:
            body.close()
        return written

    def put(self, bucket: str, name: str, data: bytes) -> Optional[str]:
        """Stores an object, creating the bucket when it does not exist (what ``aws s3 cp`` does after ``aws s3
        mb``); used by the CLI and tests. Returns the new VersionId on a versioned bucket, else None."""
        bucket, name, _ = contract.s3_object({"Bucket": bucket, "Name": name})
        try:
            try:
                self.client.head_bucket(Bucket=bucket)
            except BotoClientError as e:
                if _status(e) != 404:
                    raise
                try:
                    self.client.create_bucket(Bucket=bucket)
                except BotoClientError as e2:  # created meanwhile by another writer
                    if e2.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",
                                                                        "BucketAlreadyExists"):
                        raise
            answer = self.client.put_object(Bucket=bucket, Key=name, Body=data)
        except BotoClientError as e:
            raise self._refused(bucket, name, None, e) from None
        except BotoCoreError as e:
            raise self._unreachable(bucket, name, None, e) from None
        return answer.get("VersionId")

    # -- helpers -----------------------------------------------------------------------------------------------
    @staticmethod
    def _check_size(size: int, max_bytes: int, too_large: Type[ClientError]) -> None:
        if size > max_bytes:
            raise too_large(f"S3 object is {size} bytes; the maximum is {max_bytes} bytes.")

    @staticmethod
    def _version_arg(version: Optional[str]) -> dict:
        return {"VersionId": version} if version is not None else {}

    def _head(self, bucket: str, key: str, version: Optional[str]) -> int:
        try:
            answer = self.client.head_object(Bucket=bucket, Key=key, **self._version_arg(version))
        except BotoClientError as e:
            raise self._refused(bucket, key, version, e) from None
        except BotoCoreError as e:
            raise self._unreachable(bucket, key, version, e) from None
        return int(answer["ContentLength"])

    def _get(self, bucket: str, key: str, version: Optional[str]) -> Any:
        try:
            return self.client.get_object(Bucket=bucket, Key=key, **self._version_arg(version))["Body"]
        except BotoClientError as e:
            raise self._refused(bucket, key, version, e) from None
        except BotoCoreError as e:
            raise self._unreachable(bucket, key, version, e) from None

    def _refused(self, bucket: str, key: str, version: Optional[str], error: BotoClientError) -> ClientError:
        """The exception for an S3 error answer: the object's fault (4xx) or the store's (5xx)."""
        status = _status(error)
        code = error.response.get("Error", {}).get("Code") or str(status)
        what = _describe(bucket, key, version)
        if status is not None and status < 500:
            return InvalidS3ObjectException(
                "Unable to get object metadata from S3. Check object key, region and/or access permissions "
                f"({what}: {_reason(code)})."
            )
        if code in _THROTTLE_CODES:
            return ThrottlingException(f"The object store at {self.endpoint_url} is throttling reads of {what} "
                                       f"({code}); try again later.")
        return InternalServerError(f"The object store at {self.endpoint_url} failed to serve {what} "
                                   f"(HTTP {status} {code}).")

    def _unreachable(self, bucket: str, key: str, version: Optional[str], error: Exception) -> ClientError:
        return InternalServerError(
            f"The object store at {self.endpoint_url} could not be read for {_describe(bucket, key, version)}: "
            f"{error}"
        )


def _status(error: BotoClientError) -> Optional[int]:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _reason(code: str) -> str:
    # HEAD answers carry no body, so botocore names their error by the HTTP status alone.
    named = {"404": "no such bucket, key or version", "403": "access denied", "400": "bad request"}
    return named.get(code, code)


def _is_aws(endpoint_url: str) -> bool:
    host = endpoint_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
