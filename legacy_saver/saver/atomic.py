"""Nothing partial under a final name: temporary prefixes, renames, fsync.

A save writes the checkpoint under a temporary prefix in the same directory,
``.<basename>.tmp-<pid>-<random>``, then ``commit`` publishes it through the format
layer's one mechanism (``bundle.publish``): each file fsynced, the data shards renamed to
the final prefix, the ``.index`` last (a reader finds a checkpoint by its index, so it
never sees an index whose data is not complete), the directory fsynced. Re-saving the
same prefix is one atomic switch too (the new data files get names disjoint from the
old). The ``.meta`` is written the same way (``write_atomic``), and only then does the
Saver update the state file. A crash leaves temporary files behind and the state file
pointing at the previous, complete checkpoint; ``remove_stale`` deletes the leftovers of
dead processes on the next save.

Renaming within one directory is atomic on POSIX filesystems; object stores (``s3://``)
have no rename, so those paths are written in place, as TensorFlow does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator

from legacy_saver.bundle.fileio import (
    fdatasync_quietly,
    write_bytes_atomic,
)
from legacy_saver.bundle.naming import TF_PARTS_SUFFIX, is_url, parse_temp, temp_path
from legacy_saver.bundle.publish import publish_prefix

_IN_FLIGHT: set[str] = set()  # tags of this process's saves under way (other threads)
FLUSH_INTERVAL_S = 0.2  # flushing(): how often files being written are fdatasynced


def is_local(path: str) -> bool:
    """Plain paths and ``file://`` URLs (callers pass ``naming.local_path`` of them)."""
    return not is_url(path)


def temp_prefix(final_prefix: str) -> str:
    """A fresh temporary prefix beside ``final_prefix``."""
    temp = temp_path(final_prefix)
    _IN_FLIGHT.add(temp.rsplit("-", 1)[1])
    return temp


def release(temp: str) -> None:
    """Marks a temporary prefix as finished (committed or abandoned)."""
    parsed = parse_temp(os.path.basename(temp))
    if parsed:
        _IN_FLIGHT.discard(parsed.tag)


def commit(temp: str, final: str, *, fsync: bool = True) -> list[str]:
    """Publishes the checkpoint ``SaveV2`` wrote under ``temp`` as ``final`` in one atomic
    switch, also over an existing ``final`` (``bundle.publish.publish_prefix``: data files
    first, named disjoint from the old checkpoint's, the ``.index`` last); returns the
    final paths."""
    moved = publish_prefix(temp, final, fsync=fsync)
    leftover = temp + TF_PARTS_SUFFIX  # a sharded save's parts directory, normally merged away
    if os.path.isdir(leftover):
        shutil.rmtree(leftover, ignore_errors=True)
    return moved


@contextlib.contextmanager
def flushing(temp: str, interval: float = FLUSH_INTERVAL_S) -> Iterator[None]:
    """While the body runs (TensorFlow's ``SaveV2`` writing files under ``temp``),
    a thread ``fdatasync``s them every ``interval`` seconds: the disk writes while
    TensorFlow does, and ``commit``'s fsync finds little left to flush. (Stock
    TensorFlow never fsyncs; without this, flushing a 2 GiB save afterwards cost
    0.4-1.5 s on top.) Files appear under ``temp`` in the same directory
    (``SaveV2`` writes ``<temp>.data-...tempstate<n>`` and renames it; an open
    descriptor follows the rename)."""
    stop = threading.Event()
    thread = threading.Thread(target=_flush_until, args=(temp, stop, interval), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _flush_until(temp: str, stop: threading.Event, interval: float) -> None:
    directory, base = os.path.split(temp)
    fds: dict[str, int] = {}
    try:
        while not stop.wait(interval):
            with contextlib.suppress(OSError):  # files come and go under us
                for name in os.listdir(directory or "."):
                    path = os.path.join(directory, name)
                    if name.startswith(base) and name not in fds and os.path.isfile(path):
                        fds[name] = os.open(path, os.O_RDONLY)
            for fd in fds.values():
                fdatasync_quietly(fd)  # commit's fsync reports real errors
    finally:
        for fd in fds.values():
            os.close(fd)


def abandon(temp: str) -> None:
    """Deletes whatever a failed save left under ``temp``."""
    directory, temp_base = os.path.split(temp)
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(directory or "."):
            if name.startswith(temp_base):
                _remove(os.path.join(directory, name))


def write_atomic(path: str, data: bytes, *, fsync: bool = True) -> None:
    """Writes ``path`` through a temporary file and a rename."""
    temp = temp_prefix(path)
    try:
        write_bytes_atomic(path, data, fsync=fsync, temp=temp)
    finally:
        release(temp)


def remove_stale(directory: str) -> list[str]:
    """Deletes temporary files of saves whose process is gone (or is this one)."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(directory or "."):
            parsed = parse_temp(name)
            if parsed and parsed.tag not in _IN_FLIGHT and _is_stale(parsed.pid):
                _remove(os.path.join(directory, name))
                removed.append(name)
    return removed


def _is_stale(pid: int) -> bool:
    if pid == os.getpid():
        return True  # an earlier save of this process that failed
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
