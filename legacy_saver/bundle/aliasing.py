"""Is it the same file? Aliasing by device and inode, never by path strings.

A path names a file through any number of aliases: ``a/../a``, a symlinked
directory, a symlink to the file, a hard link, a bind mount (the same
directory mounted twice: same ``st_dev`` and ``st_ino``), a case-insensitive
file system. Comparing strings misses every one of them, and a converter that
misses one rewrites its own source in place. Here two paths are the same file
when ``os.stat`` (which follows symlinks) gives the same ``(st_dev,
st_ino)``; a path that does not exist yet is identified by its *directory's*
identity plus its last component, so ``link/model.ckpt`` and
``real/model.ckpt`` are the same prefix when ``link`` reaches ``real``.

Used by the converters (is the destination the source?) and by batch
(does DST_ROOT lie inside SRC_ROOT, or the reverse?). Local paths only; a URL
has no inode (``naming.is_url``), and callers compare URLs as text.
No TensorFlow, no other module of the package.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "FileId",
    "PathId",
    "file_id",
    "find_same_file",
    "is_inside",
    "path_id",
    "relation",
    "same_file",
    "same_path",
]

StrPath = str | os.PathLike[str]
MAX_ANCESTORS = 4096  # bounds the walk up a path (a path has far fewer components)


@dataclass(frozen=True)
class FileId:
    """A file's identity: device and inode (what ``os.path.samestat`` compares)."""

    dev: int
    ino: int


@dataclass(frozen=True)
class PathId:
    """A path's identity, whether or not the file exists: its directory's
    ``FileId`` and its last component; ``file`` is the file's own identity
    when it exists."""

    directory: FileId | None
    name: str
    file: FileId | None


def file_id(path: StrPath) -> FileId | None:
    """The identity of the file ``path`` reaches (symlinks followed), None when
    nothing is there (or it cannot be reached)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return FileId(st.st_dev, st.st_ino)


def same_file(a: StrPath, b: StrPath) -> bool:
    """Whether ``a`` and ``b`` both exist and are the same file."""
    ia = file_id(a)
    return ia is not None and ia == file_id(b)


def path_id(path: StrPath) -> PathId:
    """The identity of ``path`` (see ``PathId``); ``a/../a``, symlinked
    directories and bind mounts give equal identities."""
    text = os.fspath(path)
    directory, name = os.path.split(os.path.realpath(text))  # ".." after a link climbs its target
    return PathId(file_id(directory or os.sep), name, file_id(text))


def same_path(a: StrPath, b: StrPath) -> bool:
    """Whether ``a`` and ``b`` name the same file: the same existing file, or the
    same name in the same directory (for paths that do not exist yet)."""
    ia, ib = path_id(a), path_id(b)
    if ia.file is not None and ia.file == ib.file:
        return True
    return ia.directory is not None and ia.directory == ib.directory and ia.name == ib.name


def find_same_file(path: StrPath, others: Iterable[StrPath]) -> str | None:
    """The first of ``others`` that is the same file as ``path``, else None."""
    me = file_id(path)
    if me is None:
        return None
    for other in others:
        if file_id(other) == me:
            return os.fspath(other)
    return None


def _ancestors(path: StrPath) -> list[FileId]:
    """Identities of ``path`` (or its nearest existing ancestor) and every directory
    above it, up to the root: what ``path`` lies inside."""
    current = os.path.realpath(os.fspath(path))  # ".." after a link climbs its target
    out: list[FileId] = []
    for _ in range(MAX_ANCESTORS):
        found = file_id(current)
        if found is not None:
            out.append(found)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return out


def is_inside(path: StrPath, root: StrPath) -> bool:
    """Whether ``path`` is ``root`` or lies anywhere below it, however either is
    spelled (symlinks, ``..``, bind mounts). A ``root`` that does not exist
    contains nothing."""
    target = file_id(root)
    return target is not None and target in _ancestors(path)


def relation(a: StrPath, b: StrPath) -> str | None:
    """How two directory trees overlap: ``"same"``, ``"a inside b"``,
    ``"b inside a"``, or None when they are apart."""
    a_in_b, b_in_a = is_inside(a, b), is_inside(b, a)
    if a_in_b and b_in_a:
        return "same"
    if a_in_b:
        return "a inside b"
    if b_in_a:
        return "b inside a"
    return None
