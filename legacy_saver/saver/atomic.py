"""Nothing partial under a final name: temporary prefixes, renames, fsync.

A save writes the checkpoint under a temporary prefix in the same directory,
``.<basename>.tmp-<pid>-<random>``, claimed for the write (``claimed``: a lock file,
``bundle.temps``), then ``commit`` publishes it through the format layer's one mechanism
(``bundle.publish``): each file fsynced, the data shards renamed to the final prefix, the
``.index`` last (a reader finds a checkpoint by its index, so it never sees an index whose
data is not complete), the directory fsynced. Re-saving the same prefix is one atomic
switch too (the new data files get names disjoint from the old). A V1 checkpoint (one
table, or its shards) is renamed into place whole. The ``.meta`` is written the same way
(``write_atomic``), and only then does the Saver update the state file. A crash leaves
temporary files behind and the state file pointing at the previous, complete checkpoint;
``sweep_stale`` deletes, on the next save, the leftovers of writers proven dead (their
claim's lock is free), and nothing else: not another thread's, container's or host's
write in progress.

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
    fsync_dir,
    write_bytes_atomic,
)
from legacy_saver.bundle.naming import (
    INDEX_SUFFIX,
    TF_PARTS_SUFFIX,
    claim_lock_path,
    is_url,
)
from legacy_saver.bundle.publish import publish_prefix
from legacy_saver.bundle.temps import claimed, sweep_stale

__all__ = ["abandon", "claimed", "commit", "flushing", "is_local", "make_parent", "sweep_stale",
           "write_atomic"]  # fmt: skip

FLUSH_INTERVAL_S = 0.2  # flushing(): how often files being written are fdatasynced


def is_local(path: str) -> bool:
    """Plain paths and ``file://`` URLs (callers pass ``naming.local_path`` of them)."""
    return not is_url(path)


def make_parent(save_dir: str, save_path: str) -> None:
    """Creates the save directory; where a file is in the way, stock's ValueError."""
    try:
        os.makedirs(save_dir, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"Parent directory of {save_path} doesn't exist, can't save.") from None


def _members(temp: str) -> list[str]:
    """The names of what a write put under ``temp`` (its claim's lock file excepted)."""
    directory, base = os.path.split(temp)
    lock = os.path.basename(claim_lock_path(temp))
    return [n for n in os.listdir(directory or ".") if n.startswith(base) and n != lock]


def commit(temp: str, final: str, *, fsync: bool = True) -> list[str]:
    """Publishes the checkpoint the save op wrote under ``temp`` as ``final``; returns the
    final paths, the ``.index`` (or V1 file) last. V2: one atomic switch, also over an
    existing ``final`` (``bundle.publish.publish_prefix``: data files first, named disjoint
    from the old checkpoint's, the ``.index`` last). V1 (no ``temp.index``): every file of
    the write renamed to ``final``'s name, fsynced first."""
    if not os.path.exists(temp + INDEX_SUFFIX):
        return _rename_all(temp, final, fsync=fsync)
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
    directory = os.path.dirname(temp)
    fds: dict[str, int] = {}
    try:
        while not stop.wait(interval):
            with contextlib.suppress(OSError):  # files come and go under us
                for name in _members(temp):
                    path = os.path.join(directory, name)
                    if name not in fds and os.path.isfile(path):
                        fds[name] = os.open(path, os.O_RDONLY)
            for fd in fds.values():
                fdatasync_quietly(fd)  # commit's fsync reports real errors
    finally:
        for fd in fds.values():
            os.close(fd)


def abandon(temp: str) -> None:
    """Deletes whatever a failed save left under ``temp`` (not its claim: ``claimed`` ends it)."""
    directory = os.path.dirname(temp)
    with contextlib.suppress(FileNotFoundError):
        for name in _members(temp):
            _remove(os.path.join(directory, name))


def write_atomic(path: str, data: bytes, *, fsync: bool = True) -> None:
    """Writes ``path`` through a claimed temporary file and a rename."""
    with claimed(path) as temp:
        write_bytes_atomic(path, data, fsync=fsync, temp=temp)


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _rename_all(temp: str, final: str, *, fsync: bool) -> list[str]:
    directory, temp_base = os.path.split(temp)
    final_base = os.path.basename(final)
    names = sorted(n for n in _members(temp) if os.path.isfile(os.path.join(directory, n)))
    if fsync:
        for name in names:
            fsync_file(os.path.join(directory, name))
    moved = []
    for name in names:
        target = os.path.join(directory, final_base + name[len(temp_base) :])
        os.replace(os.path.join(directory, name), target)
        moved.append(target)
    if fsync:
        fsync_dir(directory)
    return moved


def fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
