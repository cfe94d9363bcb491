"""Where checkpoint bytes live: the local filesystem, or any fsspec filesystem.

The format code only needs four things from storage: a file's size, all of a
small file's bytes, a byte range of a large file, and (for writers) files to
create, rename and delete. Keeping those behind this seam is what lets the
same reader serve ``s3://`` and ``memory://`` URLs without reading whole data
shards.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO, Protocol

from .naming import is_url, local_path


class Storage(Protocol):
    def size(self, path: str) -> int: ...
    def exists(self, path: str) -> bool: ...
    def read(self, path: str) -> bytes: ...
    def open_read(self, path: str) -> BinaryIO: ...


class LocalStorage:
    """Plain files through ``os``."""

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def open_read(self, path: str) -> BinaryIO:
        return open(path, "rb", buffering=0)


class FsspecStorage:
    """Any fsspec filesystem; reads only the byte ranges asked for."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs

    def size(self, path: str) -> int:
        return int(self.fs.size(path))

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def read(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(path))

    def open_read(self, path: str) -> BinaryIO:
        return self.fs.open(path, "rb", block_size=0, cache_type="none")  # type: ignore[no-any-return]


LOCAL = LocalStorage()


def storage_for(path: str | os.PathLike[str]) -> tuple[Storage, str]:
    """Pick the storage for ``path``: a URL with a scheme goes through fsspec
    (imported only then), anything else is local."""
    text = os.fspath(path)
    if is_url(text):
        import fsspec

        fs, inner = fsspec.core.url_to_fs(text)
        return FsspecStorage(fs), inner
    return LOCAL, local_path(text)
