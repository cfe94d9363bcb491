"""Durable, atomic local file writes — the one implementation every writer uses.

A file is written under a temporary name in its own directory, flushed and
fsynced, renamed over the final name (``os.replace`` is atomic on POSIX), and
then the directory is fsynced so the rename itself survives a power cut.
Readers therefore see the old file or the new one, whole, never a mixture.

Temporary names are ``.<basename>.tmp-<pid>-<tag>``: hidden, never matching a
checkpoint pattern, and carrying the writer's pid so that a later save can tell
a dead process's leftovers from a live writer's (``legacy_saver.saver.atomic``
sweeps them).
"""

from __future__ import annotations

import contextlib
import os
import secrets

TEMP_INFIX = ".tmp-"


def temp_name(path: str) -> str:
    """A fresh temporary name beside ``path`` (same directory, so rename is atomic)."""
    directory, base = os.path.split(path)
    return os.path.join(directory, f".{base}{TEMP_INFIX}{os.getpid()}-{secrets.token_hex(4)}")


def fsync_dir(path: str) -> None:
    """fsync a directory so that renames in it are durable. A no-op where the
    platform or filesystem cannot (Windows, some network filesystems)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(
    path: str, data: bytes, *, fsync: bool = True, temp: str | None = None
) -> None:
    """Replace ``path`` with ``data`` atomically (and durably when ``fsync``).

    ``temp`` overrides the temporary name (it must be in ``path``'s directory).
    The temporary file is created exclusively and removed if anything fails.
    """
    temp = temp or temp_name(path)
    try:
        with open(temp, "xb") as f:
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    if fsync:
        fsync_dir(os.path.dirname(path))


COPY_CHUNK_BYTES = 16 << 20


def copy_file_atomic(src: str, dst: str, *, link: bool = False, fsync: bool = True) -> bool:
    """Put a copy of ``src`` at ``dst`` atomically; with ``link`` try a hard
    link first (same filesystem only). Returns True when ``dst`` is a link.

    The temporary name is fresh and created exclusively, so a leftover from a
    crashed run — possibly a hard link to some *other* file — is never opened
    and written through.
    """
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    temp = temp_name(dst)
    linked = False
    try:
        if link:
            try:
                os.link(src, temp)
                linked = True
            except OSError:
                linked = False
        if not linked:
            with open(src, "rb") as fin, open(temp, "xb") as fout:
                while chunk := fin.read(COPY_CHUNK_BYTES):
                    fout.write(chunk)
                fout.flush()
                if fsync:
                    os.fsync(fout.fileno())
        os.replace(temp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    if fsync:
        fsync_dir(os.path.dirname(dst))
    return linked
