"""What a batch runs over: SOURCE resolved to a sorted list of image sources.

SOURCE is one of
- a folder: every file under it (recursively, hidden names skipped), by path;
- a glob (``photos/**/*.jpg``): the files it matches;
- a text file of paths, one a line (blank lines and ``#`` comments skipped; relative paths are relative to the
  list's folder; a line may also be an ``s3://bucket/key``);
- ``s3://bucket/prefix``: every object under the prefix, listed through the object store the settings name (the S3
  API with boto3, configured as every AWS tool is; or the local store's ``<home>/s3/<bucket>/<prefix>``).

Each image source is a string: an absolute file path, or ``s3://bucket/key``. The list is sorted, so two runs over
the same SOURCE see the same order (the order of the output lines).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

S3_SCHEME = "s3://"
_GLOB_CHARS = set("*?[")


class SourceError(ValueError):
    """A SOURCE that names nothing a batch can run over (a usage error, before any image is analysed)."""


def split_s3(uri: str) -> Tuple[str, str]:
    """(bucket, key or prefix) of ``s3://bucket/key``."""
    rest = uri[len(S3_SCHEME):]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise SourceError(f"{uri!r} names no bucket (s3://BUCKET/PREFIX)")
    return bucket, key


def _files_under(folder: Path, exclude: Optional[Path]) -> List[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = os.path.abspath(os.path.join(root, name))
            if not name.startswith(".") and (exclude is None or path != str(exclude)):
                found.append(path)
    return sorted(found)


def _list_file(path: Path) -> List[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{path} is a file but not a text list of paths (SOURCE is a folder, a glob, a list "
                          "of paths or s3://bucket/prefix)") from None
    sources = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(S3_SCHEME):
            split_s3(line)
            sources.append(line)
        else:
            sources.append(os.path.abspath(path.parent / os.path.expanduser(line)))
    return sorted(set(sources))


def _s3_objects(uri: str, settings: Any) -> List[str]:
    bucket, prefix = split_s3(uri)
    from ..objects import ObjectStore, open_object_store

    store = open_object_store(settings)
    if settings.object_store == "s3":
        from botocore.exceptions import BotoCoreError
        from botocore.exceptions import ClientError as BotoClientError

        from ..objects.s3 import S3ObjectStore

        assert isinstance(store, S3ObjectStore)
        keys: List[str] = []
        try:
            for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", ()) if not item["Key"].endswith("/"))
        except BotoClientError as e:
            error = e.response.get("Error", {})
            raise SourceError(f"cannot list {uri} at {store.endpoint_url}: {error.get('Code')}: "
                              f"{error.get('Message')}") from None
        except BotoCoreError as e:
            raise SourceError(f"cannot list {uri} at {store.endpoint_url}: {e}") from None
    else:
        assert isinstance(store, ObjectStore)
        bucket_dir = store.path_of({"Bucket": bucket, "Name": "x"}).parent
        if not bucket_dir.is_dir():
            raise SourceError(f"no bucket {bucket!r} in the local object store ({bucket_dir})")
        keys = [os.path.relpath(p, bucket_dir).replace(os.sep, "/") for p in _files_under(bucket_dir, None)]
        keys = [k for k in keys if k.startswith(prefix) and ".versions/" not in k and not k.endswith(".tmp")]
    return sorted(f"{S3_SCHEME}{bucket}/{key}" for key in keys)


def list_sources(source: str, settings: Any, exclude: Union[str, os.PathLike, None] = None) -> List[str]:
    """The image sources SOURCE names, sorted. ``exclude``: a file never listed (the results file itself)."""
    source = str(source)
    if source.startswith(S3_SCHEME):
        return _s3_objects(source, settings)
    excluded = Path(os.path.abspath(exclude)) if exclude is not None else None
    path = Path(os.path.expanduser(source))
    if path.is_dir():
        return _files_under(path, excluded)
    if path.is_file():
        return _list_file(path)
    if _GLOB_CHARS & set(source):
        matches = (os.path.abspath(p) for p in glob.glob(os.path.expanduser(source), recursive=True))
        return sorted(p for p in matches if os.path.isfile(p) and (excluded is None or p != str(excluded)))
    raise SourceError(f"{source!r} is not a folder, a glob, a list of paths or s3://bucket/prefix")


def image_of(source: str, max_bytes: int) -> Dict[str, Any]:
    """The request's ``Image`` for a source: ``S3Object`` for ``s3://``, else the file's ``Bytes`` (at most
    ``max_bytes + 1`` read, so an oversized file is refused as too large without being read whole)."""
    if source.startswith(S3_SCHEME):
        bucket, key = split_s3(source)
        return {"S3Object": {"Bucket": bucket, "Name": key}}
    with open(source, "rb") as f:
        return {"Bytes": f.read(max_bytes + 1)}
