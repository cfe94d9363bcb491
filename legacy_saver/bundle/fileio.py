"""Durable, atomic local file writes — the one implementation every writer uses.

A file is written under a temporary name in its own directory, flushed and
fsynced, renamed over the final name (``os.replace`` is atomic on POSIX), and
then the directory is fsynced so the rename itself survives a power cut.
Readers therefore see the old file or the new one, whole, never a mixture.

Temporary names come from ``naming.temp_path`` (``.<basename>.tmp-<pid>-<tag>``):
hidden, never a checkpoint name, recognised by ``naming.is_temp`` everywhere files are
listed.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import threading
from collections.abc import Iterator
from typing import BinaryIO

from .coding import crc32c
from .naming import temp_path

COPY_BUFFER_BYTES = 16 << 20  # copy_range's buffer where the kernel cannot copy
EARLY_FLUSH_BYTES = 256 << 20  # EarlyFlush: start writeback after this many new bytes
CRC_WINDOW_BYTES = 64 << 20  # file_crc32c: mapped at a time (bounds the RSS it shows)
_NO_KERNEL_COPY = {
    errno.EXDEV,
    errno.ENOSYS,
    errno.EINVAL,
    errno.EOPNOTSUPP,
    errno.EBADF,
    errno.ETXTBSY,
}


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
    with _replacing(path, temp, fsync) as fresh, open(fresh, "xb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())


COPY_CHUNK_BYTES = 16 << 20


def copy_file_atomic(src: str, dst: str, *, link: bool = False, fsync: bool = True) -> bool:
    """Put a copy of ``src`` at ``dst`` atomically; with ``link`` try a hard
    link first (same filesystem only). Returns True when ``dst`` is a link.

    The temporary name is fresh and created exclusively, so a leftover from a
    crashed run — possibly a hard link to some *other* file — is never opened
    and written through.
    """
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    linked = False
    with _replacing(dst, None, fsync) as temp:
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
    return linked


@contextlib.contextmanager
def _replacing(path: str, temp: str | None, fsync: bool) -> Iterator[str]:
    """Yields a fresh temporary name beside ``path`` for the body to create and
    fill; then renames it over ``path`` and fsyncs the directory, or removes it
    if the body (or the rename) failed."""
    temp = temp or temp_path(path)
    try:
        yield temp
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    if fsync:
        fsync_dir(os.path.dirname(path))


def copy_range(source: BinaryIO, offset: int, size: int, out: BinaryIO) -> int:
    """Copy ``size`` bytes of ``source`` from ``offset`` to the end of ``out``
    (flushed); returns the bytes copied (fewer only if ``source`` ends early)."""
    src_fd, dst_fd = source.fileno(), out.fileno()
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src_fd, dst_fd, size - done, offset + done)
            if n == 0:
                return done
            done += n
        return done
    except OSError as exc:
        if exc.errno not in _NO_KERNEL_COPY or done:
            raise
    # No in-kernel copy here (old kernel, other file systems): through a buffer.
    buffer = memoryview(bytearray(min(size, COPY_BUFFER_BYTES) or 1))
    while done < size:
        n = os.preadv(src_fd, [buffer[: min(size - done, len(buffer))]], offset + done)
        if n == 0:
            return done
        write_direct(out, buffer[:n])  # in the file on return, as kernel copies are
        done += n
    return done


def write_direct(out: BinaryIO, chunk: memoryview | bytes) -> None:
    """Write ``chunk`` to the OS now, past the file's (flushed) buffer, so that
    another thread reading the file sees it (``copy_range``'s fallback, whose
    copies are checked while later ones are written)."""
    out.flush()
    raw = out.raw  # type: ignore[attr-defined]
    view = memoryview(chunk).cast("B")
    while view:
        written = raw.write(view)  # regular files take it all; loop anyway
        view = view[written:]


def file_crc32c(path: str, offset: int, size: int) -> tuple[int, int]:
    """crc32c (unmasked) of ``size`` bytes of ``path`` from ``offset``, and how
    many bytes there were. Read through ``mmap`` windows of ``CRC_WINDOW_BYTES``:
    page-cache pages are checksummed where they lie, never copied."""
    crc, done = 0, 0
    with open(path, "rb") as f:
        end = min(offset + size, os.fstat(f.fileno()).st_size)
        pos = offset
        while pos < end:
            start = pos - pos % mmap.ALLOCATIONGRANULARITY
            length = min(end, start + CRC_WINDOW_BYTES) - start
            with mmap.mmap(f.fileno(), length, access=mmap.ACCESS_READ, offset=start) as m:
                view = memoryview(m)
                try:
                    crc = crc32c(view[pos - start :], crc)
                finally:
                    view.release()
            done += start + length - pos
            pos = start + length
    return crc, done


class EarlyFlush:
    """Starts a file's writeback while it is still being written, so that the
    final fsync finds little left to flush.

    Each time ``EARLY_FLUSH_BYTES`` more have been written, ``wrote`` starts an
    ``fdatasync`` of the file in a background thread (never two at once); the
    writer goes on meanwhile and the disk works in parallel. ``wait`` joins it
    before the file is fsynced or closed. Errors are left to that final fsync,
    which reports the same failure. (A 2 GiB conversion with fsync took 1.6 s of
    work against 0.8 s without, the flush done after the copy; see BENCHMARKS.md.)
    """

    def __init__(self, every_bytes: int = EARLY_FLUSH_BYTES) -> None:
        self._every = every_bytes
        self._flushed_at: dict[int, int] = {}
        self._thread: threading.Thread | None = None

    def wrote(self, fd: int, total_bytes: int) -> None:
        """``fd`` now holds ``total_bytes``; flush it in the background if due."""
        if total_bytes - self._flushed_at.get(fd, 0) < self._every:
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._flushed_at[fd] = total_bytes
        self._thread = threading.Thread(target=fdatasync_quietly, args=(fd,), daemon=True)
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def fdatasync_quietly(fd: int) -> None:
    """Start-early flushing: ``fdatasync`` (``fsync`` where there is none), errors
    ignored because the final fsync that follows reports the same failure."""
    with contextlib.suppress(OSError):
        getattr(os, "fdatasync", os.fsync)(fd)
