"""Where ``S3Object`` images and videos are read from: the object store.

Every store has the same methods: ``read(s3object, max_bytes) -> bytes`` (size checked before reading),
``size(s3object) -> int``, ``local_file(s3object, max_bytes, too_large)`` (a context manager giving a file path,
for the video decoder; a remote object is streamed to a temporary file, never held whole in memory) and
``put(bucket, name, data)``. Missing objects are ``InvalidS3ObjectException``.

- ``local.ObjectStore``: a folder, ``<home>/s3/<Bucket>/<Name>`` (the default; nothing to start);
- ``s3.S3ObjectStore``: the S3 API through boto3, AWS or any S3-compatible server (SeaweedFS, MinIO, Ceph).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from .local import ObjectStore

if TYPE_CHECKING:
    from ..settings import Settings
    from .s3 import S3ObjectStore


def open_object_store(settings: Settings) -> Union[ObjectStore, S3ObjectStore]:
    """The object store the settings name (``local`` or ``s3``)."""
    if settings.object_store == "s3":
        from .s3 import S3ObjectStore

        return S3ObjectStore(**dict(settings.extra.get("s3", {})))
    return ObjectStore(settings.home)


__all__ = ["ObjectStore", "open_object_store"]
