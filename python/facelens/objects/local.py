"""The local object store that stands in for S3: ``$FACELENS_HOME/s3/<Bucket>/<Name>``.

``S3Object={"Bucket": "photos", "Name": "team/alice.jpg"}`` reads ``~/.facelens/s3/photos/team/alice.jpg``
(``FACELENS_HOME`` overrides ``~/.facelens``). ``Version``, when given, selects
``<Name>.versions/<Version>`` if that file exists. No name can reach outside the store.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from ..errors import InvalidParameterException, InvalidS3ObjectException

_BUCKET_RE = re.compile(r"[0-9A-Za-z.\-_]{3,255}")


def home(override: Optional[os.PathLike] = None) -> Path:
    if override is not None:
        return Path(override)
    env = os.environ.get("FACELENS_HOME")
    return Path(env) if env else Path.home() / ".facelens"


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, s3object: Mapping[str, Any]) -> Path:
        if not isinstance(s3object, Mapping):
            raise InvalidParameterException("S3Object must be a structure with Bucket and Name.")
        bucket = s3object.get("Bucket")
        name = s3object.get("Name")
        version = s3object.get("Version")
        if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket) or bucket in (".", ".."):
            raise InvalidParameterException(
                "S3Object.Bucket must be 3-255 characters of [0-9A-Za-z.-_]; got %r." % (bucket,)
            )
        if not isinstance(name, str) or not 1 <= len(name) <= 1024:
            raise InvalidParameterException("S3Object.Name must be a string of 1-1024 characters.")
        if version is not None and (not isinstance(version, str) or not 1 <= len(version) <= 1024):
            raise InvalidParameterException("S3Object.Version must be a string of 1-1024 characters.")
        parts = name.split("/")
        if "\x00" in name or any(p in ("..", ".") for p in parts) or name.startswith("/"):
            raise InvalidS3ObjectException(f"Unable to get object metadata from S3: invalid object key {name!r}.")
        bucket_dir = (self.root / "s3" / bucket).resolve()
        path = (bucket_dir / name).resolve()
        if version is not None:
            path = (bucket_dir / (name + ".versions") / version).resolve()
        if bucket_dir not in path.parents:
            raise InvalidS3ObjectException(f"Unable to get object metadata from S3: invalid object key {name!r}.")
        return path

    def read(self, s3object: Mapping[str, Any], max_bytes: int) -> bytes:
        path = self.path_of(s3object)
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise FileNotFoundError(path)
        except OSError:
            raise InvalidS3ObjectException(
                "Unable to get object metadata from S3. Check object key, region and/or access permissions "
                f"(no object s3://{s3object.get('Bucket')}/{s3object.get('Name')} under {self.root / 's3'})."
            ) from None
        if size > max_bytes:
            from ..errors import ImageTooLargeException

            raise ImageTooLargeException(f"S3 object is {size} bytes; the maximum is {max_bytes} bytes.")
        with open(path, "rb") as f:
            return f.read(max_bytes + 1)

    def put(self, bucket: str, name: str, data: bytes) -> Path:
        """Stores an object (what `aws s3 cp` would do); used by the CLI and tests."""
        path = self.path_of({"Bucket": bucket, "Name": name})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return path

    def size(self, s3object: Mapping[str, Any]) -> int:
        """The object's size in bytes (InvalidS3ObjectException if there is none)."""
        path = self.path_of(s3object)
        try:
            if path.is_file():
                return path.stat().st_size
        except OSError:
            pass
        raise InvalidS3ObjectException(
            "Unable to get object metadata from S3. Check object key, region and/or access permissions "
            f"(no object s3://{s3object.get('Bucket')}/{s3object.get('Name')} under {self.root / 's3'}).")

    @contextmanager
    def local_file(self, s3object: Mapping[str, Any], max_bytes: int, too_large) -> Iterator[Path]:
        """A path to read the object from (here: the object's own file), for readers that need a file."""
        size = self.size(s3object)
        if size > max_bytes:
            raise too_large(f"The object is {size} bytes; the maximum is {max_bytes} bytes.")
        yield self.path_of(s3object)
