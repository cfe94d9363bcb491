"""Listing a tree of files for discovery, and reading its small files safely.

Local roots (plain paths and ``file://``) are walked here with ``os.scandir``
rather than through fsspec, because fsspec's local walk hides what a batch
must report:

* a directory that cannot be listed (permissions, I/O errors) is a
  *problem*, reported with its reason; the batch then exits 1 instead of
  silently converting less than the tree holds;
* only regular files are files. A FIFO, socket or device (or a symlink to
  one, or a dangling symlink) is recorded as *special*, never opened: a FIFO
  named ``model.ckpt.index`` would block any reader forever;
* directories are identified by ``(st_dev, st_ino)``: each real directory is
  walked once (a symlink loop or a second bind of the same tree ends there),
  and anything that lies inside ``exclude`` (DST_ROOT nested in SRC_ROOT),
  however it is reached, is skipped.

Remote roots (``s3://``, ``gs://``, ``memory://``) are listed with fsspec
``find``; object stores have no special files or links.

``read_regular`` opens a local file without blocking (``O_NONBLOCK``), checks
``fstat`` that it is a regular file, and reads at most its size.
"""

from __future__ import annotations

import mmap
import os
import posixpath
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from legacy_saver.bundle.aliasing import FileId, file_id, is_inside
from legacy_saver.bundle.coding import crc32c
from legacy_saver.errors import CheckpointError

CRC_WINDOW_BYTES = 64 << 20  # content tokens of large files: mapped this much at a time
CONTENT_KEYS = ("ETag", "etag", "md5Hash", "crc32c")  # fsspec info keys derived from content


@dataclass(frozen=True)
class FileInfo:
    """One regular file under the root: path relative to it ('/'-separated), size,
    a version token (mtime locally, the ETag on object stores) and, where the
    store gives one, a content hash (ETag, md5, crc32c)."""

    rel: str
    size: int
    version: str
    digest: str | None = None


@dataclass
class Listing:
    """What a walk found: regular files, special entries (``rel -> what it is``)
    and problems (``rel -> why it could not be listed``)."""

    files: list[FileInfo] = field(default_factory=list)
    special: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def is_local_fs(fs: Any) -> bool:
    """Whether fsspec filesystem ``fs`` is the local one (``file://``, ``local://``)."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def list_tree(fs: Any, root: str, skip: Callable[[str], bool], exclude: str | None) -> Listing:
    """Every file under ``root``; ``skip(rel)`` drops names the batch ignores;
    ``exclude`` is a directory (a local path, or a path on ``fs``) left out."""
    if is_local_fs(fs):
        return _walk_local(root, skip, exclude)
    return _find_remote(fs, root, skip, exclude)


def _walk_local(root: str, skip: Callable[[str], bool], exclude: str | None) -> Listing:
    out = Listing()
    excluded = file_id(exclude) if exclude else None
    seen: set[FileId] = set()
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        path = os.path.join(root, *rel_dir.split("/")) if rel_dir else root
        ident = file_id(path)
        if ident is None or ident in seen:
            continue  # vanished, or a real directory reached a second time
        if excluded is not None and is_inside(path, exclude or ""):
            continue
        seen.add(ident)
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            out.problems[rel_dir or "."] = f"cannot list directory: {exc.strerror or exc}"
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if skip(rel):
                continue
            _add_entry(out, entry, rel, stack, exclude if excluded is not None else None)
    out.files.sort(key=lambda f: f.rel)
    return out


def _add_entry(
    out: Listing, entry: os.DirEntry[str], rel: str, stack: list[str], exclude: str | None
) -> None:
    try:
        st = entry.stat(follow_symlinks=True)
    except OSError as exc:
        out.special[rel] = "a dangling symlink" if entry.is_symlink() else str(exc.strerror)
        return
    if stat.S_ISDIR(st.st_mode):
        stack.append(rel)
    elif not stat.S_ISREG(st.st_mode):
        out.special[rel] = describe_mode(st.st_mode)
    elif exclude is not None and entry.is_symlink() and is_inside(entry.path, exclude):
        return  # a link into DST_ROOT: one of our outputs, not a source
    else:
        out.files.append(FileInfo(rel, st.st_size, str(st.st_mtime_ns)))


def _find_remote(fs: Any, root: str, skip: Callable[[str], bool], exclude: str | None) -> Listing:
    out = Listing()
    root = root.rstrip("/")
    inner_exclude = exclude.rstrip("/") if exclude else None
    for path, info in sorted(fs.find(root, detail=True).items()):
        if inner_exclude and (path == inner_exclude or path.startswith(inner_exclude + "/")):
            continue
        rel = posixpath.relpath(path, root) if root else path
        if skip(rel):
            continue
        if info.get("type", "file") != "file":
            if info.get("type") != "directory":
                out.special[rel] = f"not a file ({info.get('type')})"
            continue
        digest = next((str(info[k]) for k in CONTENT_KEYS if info.get(k)), None)
        version = digest or info.get("mtime") or info.get("LastModified") or info.get("created")
        out.files.append(FileInfo(rel, int(info.get("size") or 0), str(version), digest))
    return out


def describe_mode(mode: int) -> str:
    """``"a FIFO"``, ``"a socket"``, ``"a character device"``... for an ``st_mode``."""
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISDIR, "a directory"))  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a regular file")


class NotRegularFileError(CheckpointError):
    """A file the batch must read is a FIFO, device, socket or directory."""


def open_regular(path: str) -> int:
    """A read-only descriptor of ``path``, opened without blocking and checked
    to be a regular file (a FIFO opened this way never waits for a writer).

    Raises:
        NotRegularFileError: ``path`` is not a regular file (it is closed again).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegularFileError(f"{path} is {describe_mode(mode)}, not a regular file")
    os.set_blocking(fd, True)
    return fd


def read_regular(path: str, start: int = 0, end: int | None = None) -> bytes:
    """Bytes ``[start, end)`` of regular file ``path`` (``end`` None: to its end),
    never more than the file holds."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        stop = size if end is None else min(end, size)
        return os.pread(fd, max(0, stop - start), start) if stop > start else b""
    finally:
        os.close(fd)


def crc_regular(path: str) -> str:
    """The crc32c of regular file ``path``'s bytes (hex), read through ``mmap``
    windows (never the whole file in memory)."""
    fd = open_regular(path)
    try:
        size, crc, pos = os.fstat(fd).st_size, 0, 0
        while pos < size:
            length = min(CRC_WINDOW_BYTES, size - pos)
            with mmap.mmap(fd, length, access=mmap.ACCESS_READ, offset=pos) as m:
                view = memoryview(m)
                try:
                    crc = crc32c(view, crc)
                finally:
                    view.release()
            pos += length
        return f"{crc:08x}"
    finally:
        os.close(fd)
