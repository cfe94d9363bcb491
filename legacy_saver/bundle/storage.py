"""Where checkpoint bytes live: the local filesystem, or any fsspec filesystem.

The format code needs a few things from storage, and nothing else:

* reading: a file's size, all of a small file's bytes, a byte range of a large file;
* writing: ``create(path)`` gives a ``Staged`` file whose bytes are invisible under
  ``path`` until ``publish()``; ``listdir``, ``remove``, ``sync_dir`` and a
  ``lock`` that serialises publishes into one directory.

``publish`` is the one atomic step, whatever the storage:

============  ==========================================  =================================
storage       while writing                               ``publish()``
============  ==========================================  =================================
local,        a fresh temporary beside ``path``           fsync, ``rename`` over ``path``
``file://``   (``naming.temp_path``, created exclusively)  (the caller fsyncs the directory)
fsspec URL    fsspec's buffered writer: big files go up   ``close()``: the object appears
              in parts (multipart), memory stays bounded  whole, or not at all
              by its block size                           (``discard()`` aborts the upload)
============  ==========================================  =================================

A checkpoint is published through ``publish.publish_bundle``: data shards first, the
``.index`` last, so an interrupted write leaves no ``.index`` under the final name on
either kind of storage. Keeping this behind the seam is also what lets the same reader
serve ``s3://`` and ``memory://`` URLs without reading whole data shards.
"""

from __future__ import annotations

import contextlib
import io
import os
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, Protocol

from . import fileio
from .naming import is_url, local_path, temp_path

__all__ = ["LOCAL", "FsspecStorage", "LocalStaged", "LocalStorage", "Staged", "Storage",
           "storage_for"]  # fmt: skip


class Staged(Protocol):
    """Bytes on their way to ``path``: ``write`` them, then exactly one of ``publish``
    (they appear under the final name, atomically) or ``discard``."""

    path: str

    def write(self, data: bytes | memoryview) -> int: ...
    def publish(self, *, fsync: bool = True, path: str | None = None) -> None: ...
    def discard(self) -> None: ...


class Storage(Protocol):
    is_local: bool

    def size(self, path: str) -> int: ...
    def modified(self, path: str) -> float | None:
        """Modification time (seconds since the epoch), None if unknown or missing."""

    def exists(self, path: str) -> bool: ...
    def read(self, path: str) -> bytes: ...
    def open_read(self, path: str) -> BinaryIO: ...
    def listdir(self, directory: str) -> list[str]: ...
    def create(self, path: str, *, whole: bool = False) -> Staged:
        """A new file bound for ``path``. ``whole``: a small file written at once when
        published (the ``.index``)."""

    def remove(self, path: str) -> None: ...
    def sync_dir(self, directory: str) -> None: ...
    def lock(self, directory: str) -> AbstractContextManager[None]: ...


class LocalStaged:
    """A local file under a temporary name until ``publish`` renames it.

    ``file`` is the open temporary (for kernel copies and early flushing); ``adopt``
    wraps a temporary someone else wrote (TensorFlow's ``SaveV2``).
    """

    def __init__(self, path: str, temp: str | None = None, *, create: bool = True) -> None:
        self.path = path
        self.temp = temp or temp_path(path)
        self.file: BinaryIO | None = fileio.create_exclusive(self.temp) if create else None
        self.published = False

    @classmethod
    def adopt(cls, temp: str, path: str) -> LocalStaged:
        """The already written temporary ``temp``, to be published as ``path``."""
        return cls(path, temp, create=False)

    def write(self, data: bytes | memoryview) -> int:
        if self.file is None:
            raise ValueError(f"{self.temp} is not open for writing")
        return self.file.write(data)

    def close(self, *, fsync: bool = False) -> None:
        """Flush (and fsync) and close the temporary; ``publish`` may follow."""
        if self.file is not None:
            if fsync:
                fileio.fsync_file(self.file)
            self.file.close()
            self.file = None
        elif fsync:
            fileio.fsync_path(self.temp)

    def publish(self, *, fsync: bool = True, path: str | None = None) -> None:
        """fsync, then rename over ``path`` (default: the one given at creation)."""
        self.close(fsync=fsync)
        if path is not None:
            self.path = path
        fileio.replace(self.temp, self.path)
        self.published = True

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if not self.published:
            fileio.remove_quietly(self.temp)


class LocalStorage:
    """Plain files through ``os``; reads refuse anything but regular files (``fileio``)."""

    is_local = True

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def modified(self, path: str) -> float | None:
        try:
            return os.stat(path).st_mtime
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def read(self, path: str) -> bytes:
        return fileio.read_regular(path)

    def open_read(self, path: str) -> BinaryIO:
        return fileio.open_regular(path)

    def listdir(self, directory: str) -> list[str]:
        try:
            return os.listdir(directory or ".")
        except (FileNotFoundError, NotADirectoryError):
            return []

    def create(self, path: str, *, whole: bool = False, temp: str | None = None) -> LocalStaged:
        return LocalStaged(path, temp)

    def remove(self, path: str) -> None:
        fileio.remove_quietly(path)

    def sync_dir(self, directory: str) -> None:
        fileio.fsync_dir(directory)

    def lock(self, directory: str) -> AbstractContextManager[None]:
        return fileio.directory_lock(directory)


STAGE_BLOCK_BYTES = 8 << 20  # fsspec writes: uploaded in parts of this size (S3 minimum: 5 MiB)


class FsspecStaged:
    """An fsspec file at its final path; the object appears when ``publish`` closes it.

    Large files (data shards) stream through fsspec's buffered writer, so memory stays
    bounded by the block size (S3: one multipart part each ``STAGE_BLOCK_BYTES``).
    ``whole`` files (the ``.index``) are kept in memory and written in one call at
    ``publish`` (``pipe_file``: one PUT), so they appear at once even on filesystems that
    show a file while it is being written (``memory://``, SFTP).
    """

    def __init__(self, fs: Any, path: str, *, whole: bool = False) -> None:
        self.path = path
        self._fs = fs
        self._buffer: io.BytesIO | None = io.BytesIO() if whole else None
        self._file = None if whole else fs.open(path, "wb", block_size=STAGE_BLOCK_BYTES)
        self._done = False

    def write(self, data: bytes | memoryview) -> int:
        if self._buffer is not None:
            return self._buffer.write(data)
        return int(self._file.write(data))  # type: ignore[union-attr]

    def publish(self, *, fsync: bool = True, path: str | None = None) -> None:
        if path is not None and path != self.path:
            raise ValueError(f"{self.path} cannot be published as {path}: objects are not renamed")
        if self._buffer is not None:
            self._fs.pipe_file(self.path, self._buffer.getvalue())
        else:
            self._file.close()  # type: ignore[union-attr]
        self._done = True

    def discard(self) -> None:
        """Abort: fsspec's buffered files drop their upload (S3: abort the multipart);
        an object some filesystem already shows under ``path`` is removed."""
        if self._done:
            return
        self._done = True
        if self._file is not None:
            with contextlib.suppress(Exception):
                if hasattr(self._file, "discard"):
                    self._file.discard()
                    self._file.closed = True
                else:
                    self._file.close()
        with contextlib.suppress(FileNotFoundError):
            if self._fs.exists(self.path):
                self._fs.rm_file(self.path)


class FsspecStorage:
    """Any fsspec filesystem; reads only the byte ranges asked for."""

    is_local = False

    def __init__(self, fs: Any) -> None:
        self.fs = fs

    def size(self, path: str) -> int:
        return int(self.fs.size(path))

    def modified(self, path: str) -> float | None:
        try:
            return float(self.fs.modified(path).timestamp())
        except Exception:  # not every filesystem knows; then the caller assumes "just now"
            return None

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def read(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(path))

    def open_read(self, path: str) -> BinaryIO:
        return self.fs.open(path, "rb", block_size=0, cache_type="none")  # type: ignore[no-any-return]

    def listdir(self, directory: str) -> list[str]:
        try:
            found = self.fs.ls(directory, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [str(p).rstrip("/").rsplit("/", 1)[-1] for p in found]

    def create(self, path: str, *, whole: bool = False) -> FsspecStaged:
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            self.fs.makedirs(parent, exist_ok=True)
        return FsspecStaged(self.fs, path, whole=whole)

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def sync_dir(self, directory: str) -> None:
        """Nothing to do: an object store's writes are durable when ``close`` returns."""

    def lock(self, directory: str) -> AbstractContextManager[None]:
        """No locks on object stores: two writers of one remote prefix at once are not
        supported (FORMAT.md, section 7)."""
        return contextlib.nullcontext()


LOCAL = LocalStorage()


def storage_for(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> tuple[Storage, str]:
    """Pick the storage for ``path``: a URL with a scheme goes through fsspec
    (imported only then), anything else is local (``file://`` too). Bytes are decoded as
    the file system's names are (``os.fsdecode``), as TensorFlow accepts them."""
    text = os.fsdecode(os.fspath(path))
    if is_url(text):
        import fsspec

        fs, inner = fsspec.core.url_to_fs(text)
        return FsspecStorage(fs), inner
    return LOCAL, local_path(text)
