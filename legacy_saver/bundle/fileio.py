"""Local files: durable atomic writes, and reads of regular files only.

Writes. A file is written under a temporary name in its own directory, flushed and
fsynced, renamed over the final name (``os.replace`` is atomic on POSIX), and
then the directory is fsynced so the rename itself survives a power cut.
Readers therefore see the old file or the new one, whole, never a mixture.
Every mutating local file operation of the format layer (create, rename, remove,
fsync) is made here, which is also what the crash-replay harness records.

Temporary names come from ``naming.temp_path`` (``.<basename>.tmp-<pid>-<tag>``):
hidden, never a checkpoint name, recognised by ``naming.is_temp`` everywhere files are
listed.

Reads. ``open_regular`` opens a file without blocking (``O_NONBLOCK``: opening a FIFO
for reading would otherwise wait for a writer) and then checks, with ``fstat`` on the
open descriptor, that it is a regular file: a FIFO, a device (``/dev/zero``,
``/dev/urandom``, also through a symlink), a socket or a directory is refused with
``CorruptCheckpointError`` naming the path. Checking after opening means a swap
between a ``stat`` and the ``open`` cannot fool it. ``read_regular`` then reads at
most the size ``fstat`` reported, so no read is unbounded.
"""

from __future__ import annotations

import contextlib
import errno
import io
import mmap
import os
import stat
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from ..errors import CheckpointNotFoundError, CorruptCheckpointError
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


_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows
_KINDS = [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a directory")]  # fmt: skip


def open_regular(path: str) -> io.FileIO:
    """Open ``path`` for unbuffered reading if, once open, it is a regular file.

    Raises:
        CheckpointNotFoundError: ``path`` does not exist (also a ``FileNotFoundError``).
        CorruptCheckpointError: it is a FIFO, device, socket or directory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY)
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"{path} does not exist") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise CorruptCheckpointError(f"{path} is {kind}, not a regular file: not read")
        if _O_NONBLOCK:
            os.set_blocking(fd, True)
        return io.FileIO(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, max_bytes: int | None = None) -> bytes:
    """All bytes of the regular file ``path``, read up to the size ``fstat`` gave at open
    (a file growing meanwhile is not followed; one shrinking gives what is there).

    Raises:
        CheckpointNotFoundError, CorruptCheckpointError: as ``open_regular``; also when
            the file is larger than ``max_bytes``.
    """
    return read_identified(path, max_bytes)[0]


def read_identified(path: str, max_bytes: int | None = None) -> tuple[bytes, tuple[int, int]]:
    """``read_regular``, and the ``(st_dev, st_ino)`` of the file that was read."""
    with open_regular(path) as f:
        info = os.fstat(f.fileno())
        size = info.st_size
        if max_bytes is not None and size > max_bytes:
            raise CorruptCheckpointError(f"{path} is {size} bytes, more than {max_bytes} allowed")
        buf = bytearray(size)
        view, done = memoryview(buf), 0
        while done < size:
            n = f.readinto(view[done:])
            if not n:
                break
            done += n
        view.release()
        del buf[done:]
        return bytes(buf), (info.st_dev, info.st_ino)


def same_file(path: str, identity: tuple[int, int]) -> bool:
    """Whether ``path`` still names the file ``identity`` (``(st_dev, st_ino)``)."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == identity


def regular_size(path: str) -> int:
    """The size of ``path`` after ``open_regular``'s checks (a FIFO's 0 is no size)."""
    with open_regular(path) as f:
        return os.fstat(f.fileno()).st_size


# -- mutating operations: every local create/rename/remove/fsync of the format layer --


def create_exclusive(path: str) -> BinaryIO:
    """A new file at ``path`` for buffered writing; refuses to open an existing one (so a
    leftover temporary, perhaps a hard link to another file, is never written through)."""
    return open(path, "xb")


def replace(src: str, dst: str) -> None:
    """``os.replace``: atomic on POSIX within one filesystem."""
    os.replace(src, dst)


def remove_quietly(path: str) -> None:
    """Remove ``path``; a file already gone is not an error."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def fsync_file(f: BinaryIO) -> None:
    """Flush ``f`` and make its bytes durable."""
    f.flush()
    os.fsync(f.fileno())


def fsync_path(path: str) -> None:
    """fsync a file by name (one written by someone else, e.g. TensorFlow's SaveV2)."""
    fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def directory_lock(
    directory: str, *, shared: bool = False, timeout_s: float | None = None
) -> Iterator[None]:
    """Hold an ``flock`` on ``directory`` itself (no lock file is created): exclusive for
    publishes into it, so that they run one at a time on this host (threads or processes);
    ``shared`` for a reader opening a checkpoint's index and shards together, so that no
    publish of ours switches the checkpoint in between. With ``timeout_s`` the body runs
    unlocked once that long has passed without the lock (a reader never hangs behind a
    stuck writer). Where the platform or filesystem has no such locks (Windows, some
    network filesystems) the body runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    flags = os.O_RDONLY | _O_CLOEXEC | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:  # O_DIRECTORY: a FIFO in the directory's place fails here instead of blocking
        fd = os.open(directory or ".", flags)
    except OSError:
        yield
        return
    with _HELD_LOCK:
        _HELD.add(fd)
    try:
        _flock(fcntl, fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, timeout_s)
        yield
    finally:
        with _HELD_LOCK:
            _HELD.discard(fd)
        os.close(fd)  # releases the lock


# A flock belongs to the open file description, which a fork shares: a child forked while
# a thread holds a directory lock would hold it until the child exits (a DataLoader worker:
# for hours), blocking every publish into that directory. The child closes its copies at
# once; the parent's lock is unaffected.
_HELD: set[int] = set()
_HELD_LOCK = threading.Lock()


def _close_inherited_locks() -> None:
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def _flock(fcntl: Any, fd: int, kind: int, timeout_s: float | None) -> bool:
    """Take ``kind`` on ``fd``; False (unlocked) if the filesystem refuses or ``timeout_s``
    passes first."""
    import time

    if timeout_s is None:
        try:
            fcntl.flock(fd, kind)
            return True
        except OSError:
            return False  # no locking here: the body runs unlocked (documented)
    deadline = time.monotonic() + timeout_s
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        except OSError:
            return False


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
            with open_regular(src) as fin, open(temp, "xb") as fout:
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
