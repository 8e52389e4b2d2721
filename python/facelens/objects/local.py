"""The local object store that stands in for S3: ``$FACELENS_HOME/s3/<Bucket>/<Name>``.

``S3Object={"Bucket": "photos", "Name": "team/alice.jpg"}`` reads ``~/.facelens/s3/photos/team/alice.jpg``
(``FACELENS_HOME`` overrides ``~/.facelens``). ``Version``, when given, selects ``<Name>.versions/<Version>``.

No name can reach outside the store: objects are opened by walking from the descriptor of ``<home>/s3`` one
component at a time with ``O_NOFOLLOW`` (``openat``), so a bucket or folder that is a symlink, or a folder swapped
for one while a read is under way, is refused rather than followed. What was opened is then checked (a regular
file, within the size limit). Every OS error is answered as ``InvalidS3ObjectException``, as S3 would.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional, Tuple, Type

from .. import contract
from ..errors import ClientError, ImageTooLargeException, InvalidS3ObjectException

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO planted in a bucket must not wait for a writer
_LINK_ERRORS = (errno.ELOOP, errno.ENOTDIR, getattr(errno, "EMLINK", errno.ELOOP))


class _Missing(InvalidS3ObjectException):
    """InvalidS3ObjectException for a key that does not exist (as opposed to one that may not be opened)."""


def _unreadable(s3object: Mapping[str, Any], root: Path, why: Optional[str],
                missing: bool = False) -> InvalidS3ObjectException:
    why = why or "unreadable"
    return (_Missing if missing else InvalidS3ObjectException)(
        "Unable to get object metadata from S3. Check object key, region and/or access permissions "
        f"(s3://{s3object.get('Bucket')}/{s3object.get('Name')} under {root / 's3'}: {why})."
    )


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- names ----------------------------------------------------------------------------------------------
    def _components(self, s3object: Mapping[str, Any]) -> List[str]:
        """The validated path components below ``<home>/s3``: bucket, folders..., file."""
        bucket, name, version = contract.s3_object(s3object)
        parts = name.split("/")
        if "\x00" in name or name.startswith("/") or any(p in ("..", ".", "") for p in parts):
            raise InvalidS3ObjectException(f"Unable to get object metadata from S3: invalid object key {name!r}.")
        if version is not None:
            if "\x00" in version or "/" in version or version in (".", ".."):
                raise InvalidS3ObjectException(
                    f"Unable to get object metadata from S3: invalid version id {version!r:.80}."
                )
            parts[-1] += ".versions"
            parts.append(version)
        return [bucket, *parts]

    def path_of(self, s3object: Mapping[str, Any]) -> Path:
        """The object's path. Refuses (InvalidS3ObjectException) a key whose existing folders include a symlink."""
        parts = self._components(s3object)
        try:
            folder = self._walk(s3object, parts[:-1], create=False)
        except _Missing:
            return self.root.joinpath("s3", *parts)
        try:
            is_link = stat.S_ISLNK(os.stat(parts[-1], dir_fd=folder, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        finally:
            os.close(folder)
        if is_link:
            raise _unreadable(s3object, self.root, "the object is a symlink")
        return self.root.joinpath("s3", *parts)

    # -- descriptor walk ------------------------------------------------------------------------------------
    def _walk(self, s3object: Mapping[str, Any], folders: List[str], create: bool) -> int:
        """A descriptor of the folder ``<home>/s3/<folders...>``, opened component by component without following
        a symlink. The caller closes it."""
        try:
            fd = os.open(self.root / "s3", os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        except OSError as e:
            if create and e.errno == errno.ENOENT:
                try:
                    (self.root / "s3").mkdir(parents=True, exist_ok=True)
                    fd = os.open(self.root / "s3", os.O_RDONLY | _DIRECTORY | _CLOEXEC)
                except OSError as e2:
                    raise _unreadable(s3object, self.root, f"store folder: {e2.strerror}") from None
            else:
                if e.errno == errno.ENOENT:
                    raise _unreadable(s3object, self.root, "no such object", missing=True) from None
                raise _unreadable(s3object, self.root, f"store folder: {e.strerror}") from None
        try:
            for part in folders:
                try:
                    child = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise _unreadable(s3object, self.root, "no such object", missing=True) from None
                    try:
                        os.mkdir(part, 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass
                    child = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = child
        except InvalidS3ObjectException:
            os.close(fd)
            raise
        except OSError as e:
            os.close(fd)
            why = "a folder on the way is a symlink or not a folder" if e.errno in _LINK_ERRORS else e.strerror
            raise _unreadable(s3object, self.root, why) from None
        return fd

    def _open_object(self, s3object: Mapping[str, Any]) -> Tuple[int, os.stat_result]:
        parts = self._components(s3object)
        folder = self._walk(s3object, parts[:-1], create=False)
        try:
            fd = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=folder)
        except OSError as e:
            if e.errno == errno.ENOENT:
                raise _unreadable(s3object, self.root, "no such object", missing=True) from None
            why = "the object is a symlink" if e.errno in _LINK_ERRORS else e.strerror
            raise _unreadable(s3object, self.root, why) from None
        finally:
            os.close(folder)
        try:
            st = os.fstat(fd)
        except OSError as e:  # pragma: no cover - fstat of an open descriptor
            os.close(fd)
            raise _unreadable(s3object, self.root, e.strerror) from None
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise _unreadable(s3object, self.root, "not a regular file")
        return fd, st

    # -- API ------------------------------------------------------------------------------------------------
    def read(self, s3object: Mapping[str, Any], max_bytes: int) -> bytes:
        fd, st = self._open_object(s3object)
        try:
            if st.st_size > max_bytes:
                raise ImageTooLargeException(f"S3 object is {st.st_size} bytes; the maximum is {max_bytes} bytes.")
            chunks = []
            size = 0
            while size <= max_bytes:
                chunk = os.read(fd, max_bytes + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
        except OSError as e:
            raise _unreadable(s3object, self.root, e.strerror) from None
        finally:
            os.close(fd)
        if len(data) > max_bytes:  # grew while being read
            raise ImageTooLargeException(f"S3 object is over {max_bytes} bytes; the maximum is {max_bytes} bytes.")
        return data

    def put(self, bucket: str, name: str, data: bytes) -> Path:
        """Stores an object (what `aws s3 cp` would do); used by the CLI and tests."""
        s3object = {"Bucket": bucket, "Name": name}
        parts = self._components(s3object)
        folder = self._walk(s3object, parts[:-1], create=True)
        tmp = f".{parts[-1][:200]}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666, dir_fd=folder)
            try:
                view = memoryview(bytes(data))
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, parts[-1], src_dir_fd=folder, dst_dir_fd=folder)
        except OSError as e:
            try:
                os.unlink(tmp, dir_fd=folder)
            except OSError:
                pass
            raise _unreadable(s3object, self.root, e.strerror or str(e)) from None
        finally:
            os.close(folder)
        return self.root.joinpath("s3", *parts)

    def size(self, s3object: Mapping[str, Any]) -> int:
        """The object's size in bytes (InvalidS3ObjectException if there is none)."""
        fd, st = self._open_object(s3object)
        os.close(fd)
        return st.st_size

    @contextmanager
    def local_file(self, s3object: Mapping[str, Any], max_bytes: int,
                   too_large: Type[ClientError]) -> Iterator[Path]:
        """A path to read the object from, for readers that need a file: the descriptor opened by the safe walk
        (``/proc/self/fd/N``), so the file read is the one that was checked."""
        fd, st = self._open_object(s3object)
        try:
            if st.st_size > max_bytes:
                raise too_large(f"The object is {st.st_size} bytes; the maximum is {max_bytes} bytes.")
            proc = Path(f"/proc/self/fd/{fd}")
            yield proc if proc.exists() else self.root.joinpath("s3", *self._components(s3object))
        finally:
            os.close(fd)
