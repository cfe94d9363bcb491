"""Temporaries that prove whether their writer is alive: claims, the stale sweep, locks.

A save writes under a temporary name (``naming.temp_path``: ``.<base>.tmp-<pid>-<tag>``)
and renames. A writer killed half-way leaves its temporaries; the next save should delete
them, but only if their writer is really gone. A pid cannot tell: pids repeat across
containers (PID namespaces) and NFS hosts, and every thread of a process has the same pid
(two Saver threads in one process deleted each other's temporaries: 35 of 600 saves failed;
from two PID namespaces 20 of 80). So every write *claims* its temporaries first:

* ``claimed(path)`` creates ``<group>.lock`` (``naming.claim_lock_path``) before any
  temporary of the group, holds an exclusive ``flock`` on it while the body writes, and
  removes it at the end. The kernel drops the lock when the writer dies, however it dies.
  This process's claims are also registered in memory, so the sweep never opens (and so
  never disturbs) a lock of its own process.
* ``sweep_stale(directory)`` deletes a group only after taking its lock itself, without
  waiting: proof that no writer holds it. A group without a lock file (an older version's
  leftovers, or a writer it cannot see) is never deleted: nothing rather than a guess.
* ``locked(path)``: an exclusive lock (a thread lock and a ``flock``) on a lock file that
  exists only while held, for read-merge-write updates of a shared file (the state file).

``flock`` locks are per open file, so they work between threads with their own
descriptors, between processes and across PID namespaces on one kernel; on NFS, Linux
emulates them with POSIX locks through the NFS lock manager (per process: threads are then
kept apart by the in-memory registry and the thread lock). Where ``fcntl`` is missing
(Windows), claims still register in memory but nothing is swept.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
from collections.abc import Iterator

from .naming import claim_lock_path, parse_temp, temp_path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["claimed", "locked", "sweep_stale"]

_IN_FLIGHT: set[str] = set()  # groups this process is writing now (every thread)
_REGISTRY = threading.Lock()
_THREAD_LOCKS: dict[str, threading.Lock] = {}  # locked(): one per lock file, per process


@contextlib.contextmanager
def claimed(final_path: str, *, keep_lock_on_error: bool = False) -> Iterator[str]:
    """A fresh temporary name beside ``final_path``, claimed while the body writes under it.

    The lock file exists and is locked before the body runs; it is removed after (whether
    the body committed, abandoned or failed), except with ``keep_lock_on_error`` when the
    body raised: then the unlocked lock file stays, and ``sweep_stale`` deletes whatever
    the body left under the temporary name. Yields the temporary name (a prefix: the body
    may create ``temp``, ``temp.index``, ``temp.data-...``).
    """
    temp, group, lock, fd = _claim(final_path)
    try:
        yield temp
    except BaseException:
        leave = keep_lock_on_error
        raise
    else:
        leave = False
    finally:
        try:
            if not leave:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(lock)  # before unlocking: no sweeper takes a lock we still hold
        finally:
            os.close(fd)
            _forget(group)


def _claim(final_path: str) -> tuple[str, str, str, int]:
    """A fresh temporary name and its locked claim: ``(temp, group, lock path, lock fd)``.
    Another process's sweep may take a lock file in the instant between its exclusive
    creation and our ``flock`` (and delete it): then the claim is made again, under a new
    name, so a claim always has its lock file while it lives."""
    while True:
        temp = temp_path(final_path)
        group = os.path.basename(temp)
        with _REGISTRY:
            _IN_FLIGHT.add(group)
        lock = claim_lock_path(temp)
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except BaseException:
            _forget(group)
            raise
        try:
            if fcntl is None:
                return temp, group, lock, fd
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours unless a sweep took it
            held = os.fstat(fd)
            with contextlib.suppress(FileNotFoundError):
                now = os.stat(lock)
                if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                    return temp, group, lock, fd
        except BlockingIOError:  # a sweep holds it this instant: it will delete it
            pass
        except BaseException:
            os.close(fd)
            _forget(group)
            raise
        os.close(fd)
        _forget(group)


def _forget(group: str) -> None:
    with _REGISTRY:
        _IN_FLIGHT.discard(group)


def sweep_stale(directory: str) -> list[str]:
    """Deletes the temporaries of writers proven dead (their claim lock taken here without
    waiting); returns the names removed. Never touches a group this process is writing, a
    group whose lock another writer holds, or a group without a lock file."""
    if fcntl is None:
        return []
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return []
    groups: dict[str, list[str]] = {}
    for name in names:
        parsed = parse_temp(name)
        if parsed is not None:
            groups.setdefault(parsed.group, []).append(name)
    removed: list[str] = []
    for group, members in sorted(groups.items()):
        with _REGISTRY:
            if group in _IN_FLIGHT:
                continue
        lock_name = os.path.basename(claim_lock_path(group))
        if lock_name in members:
            removed += _sweep_group(directory, lock_name, members)
    return removed


def _sweep_group(directory: str, lock_name: str, members: list[str]) -> list[str]:
    lock = os.path.join(directory, lock_name)
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return []  # gone (its writer finished), or not a plain file
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return []  # held: the writer is alive (wherever it runs)
        removed = [m for m in sorted(members) if m != lock_name and _remove(directory, m)]
        if _remove(directory, lock_name):
            removed.append(lock_name)
        return removed
    finally:
        os.close(fd)


def _remove(directory: str, name: str) -> bool:
    path = os.path.join(directory, name)
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            os.remove(path)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def locked(lock_path: str) -> Iterator[None]:
    """Holds an exclusive lock on ``lock_path`` for the body: a per-process thread lock, then
    a blocking ``flock`` of the file, created if missing and removed when the body ends, so
    nothing stays behind (a crash leaves it; the next holder reuses and removes it).

    Removing a lock file is safe because a holder unlinks it before unlocking, and whoever
    acquires a lock then checks that the path still names the file it locked (same device
    and inode); if not (it locked a file since removed), it starts again.
    """
    key = os.path.abspath(lock_path)
    with _REGISTRY:
        thread_lock = _THREAD_LOCKS.setdefault(key, threading.Lock())
    with thread_lock:
        fd = _acquire(lock_path)
        try:
            yield
        finally:
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(lock_path)
            finally:
                os.close(fd)


def _acquire(lock_path: str) -> int:
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        try:
            held = os.fstat(fd)
            if not stat.S_ISREG(held.st_mode):
                raise OSError(f"{lock_path} is not a regular file; cannot lock it")
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = os.stat(lock_path)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the file we locked was removed by the holder before us: again
