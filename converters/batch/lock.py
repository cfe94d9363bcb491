"""One batch per destination at a time: a lock on DST_ROOT.

Locally the lock is ``flock`` on ``DST_ROOT/.legacy-ckpt-batch.lock``: the
kernel releases it when its holder dies, however it dies (SIGKILL included),
so a stale lock never blocks a resume, and a live one always does. The file
holds its holder (pid, host, start time, command line) so the refusal can name
it. It is opened with ``O_NOFOLLOW`` and checked to be a regular file before
it is written (a planted symlink or FIFO is refused, never followed), and it
is never deleted (deleting a flock'ed file lets a second process lock a new
inode under the same name).

On an object store there is no lock primitive, so the lock is a *lease*: the
same object, rewritten every ``HEARTBEAT_SECONDS`` while the batch runs and
deleted at the end; a lease whose heartbeat is older than ``LEASE_SECONDS``
(its holder was killed) is taken over. Two batches started within the same
second can both take a free lease: on object stores the lock guards against
the usual case (a resume started while the first batch still runs), not a race.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import posixpath
import socket
import stat
import sys
import threading
import time
from types import TracebackType
from typing import Any

from legacy_saver.errors import CheckpointError

from .discover import LOCK_NAME
from .walk import is_local_fs

LEASE_SECONDS = 120.0  # a remote lease without a heartbeat for this long is stale
HEARTBEAT_SECONDS = 30.0


class BatchLockedError(CheckpointError):
    """Another batch holds DST_ROOT."""


def _holder() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
            "heartbeat": time.time(), "argv": sys.argv[:8]}  # fmt: skip


def _describe(raw: bytes) -> str:
    try:
        h = json.loads(raw)
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(h["started"])))
        return f"pid {h['pid']} on {h['host']}, started {started}"
    except (ValueError, KeyError, TypeError):
        return "a holder that left no readable record"


class DestinationLock:
    """``with DestinationLock(fs, dst_root, dst_path):`` holds DST_ROOT (see above)."""

    def __init__(self, fs: Any, dst_root: str, dst_path: str) -> None:
        self.fs, self.dst_root = fs, dst_root
        self.path = posixpath.join(dst_path.rstrip("/"), LOCK_NAME)
        self._fd: int | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._record: dict[str, Any] = {}

    def __enter__(self) -> DestinationLock:
        if is_local_fs(self.fs):
            self._lock_local()
        else:
            self._lease()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None
        if self._beat is not None:
            self._stop.set()
            self._beat.join()
            with contextlib.suppress(OSError):
                self.fs.rm_file(self.path)

    def _lock_local(self) -> None:
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise BatchLockedError(f"{self.path} is a symlink; refusing to use it") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BatchLockedError(f"{self.path} is not a regular file; refusing to use it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.pread(fd, 4096, 0))
            os.close(fd)
            raise BatchLockedError(
                f"{self.dst_root} is in use by another batch ({holder}); wait for it to "
                "finish or stop it, then run the command again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_holder()).encode(), 0)
        self._fd = fd

    def _lease(self) -> None:
        try:
            raw = bytes(self.fs.cat_file(self.path))
        except FileNotFoundError:
            raw = b""
        if raw:
            try:
                age = time.time() - float(json.loads(raw)["heartbeat"])
            except (ValueError, KeyError, TypeError):
                age = LEASE_SECONDS
            if age < LEASE_SECONDS:
                raise BatchLockedError(
                    f"{self.dst_root} is in use by another batch ({_describe(raw)}; last "
                    f"heartbeat {age:.0f} s ago, stale after {LEASE_SECONDS:.0f} s); wait for "
                    "it to finish or stop it, then run the command again"
                )
        self._record = _holder()
        self.fs.pipe_file(self.path, json.dumps(self._record).encode())
        self._beat = threading.Thread(target=self._heartbeat, daemon=True, name="lease")
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self._record["heartbeat"] = time.time()
            with contextlib.suppress(OSError):
                self.fs.pipe_file(self.path, json.dumps(self._record).encode())
