"""The ``local`` engine: ``-j 1`` in this process, else a pool of worker
processes on this machine.

Workers are started with ``spawn`` (not ``fork``, unsafe with threads; not
``forkserver``, whose server keeps the environment of its first use, so
credentials or endpoints set later would be missed).

**Workers never outlive the batch.** A coordinator killed with SIGKILL runs no
cleanup, and pool workers blocked on the task queue would wait forever (and
keep multiprocessing's resource tracker alive with them). So each worker's
initializer asks the kernel to SIGKILL it when its parent dies
(``prctl(PR_SET_PDEATHSIG)`` on Linux), and also starts a watchdog thread that
exits the worker once its parent pid changes (other systems, and the instant
between spawn and ``prctl``). The tracker exits by itself once no process
holds its pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from types import TracebackType
from typing import Any

from ..item import Job, Outcome, convert_item

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCHDOG_SECONDS = 0.5  # how often a worker checks that its parent still lives
READY_TIMEOUT_SECONDS = 120.0  # wait this long for every worker to start, then go on


def die_with_parent(parent: int) -> None:
    """Make this process exit when process ``parent`` (its parent) dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCHDOG_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(parent: int, barrier: Any) -> None:
    die_with_parent(parent)
    with contextlib.suppress(Exception):  # a broken barrier only delays the clock
        barrier.wait(READY_TIMEOUT_SECONDS)


class LocalEngine:
    """See the module docstring."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._barrier: Any = None

    def __enter__(self) -> LocalEngine:
        if self.workers > 1:
            context = multiprocessing.get_context("spawn")
            self._barrier = context.Barrier(self.workers + 1)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=_init_worker,
                initargs=(os.getpid(), self._barrier),
            )  # fmt: skip
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if self._pool is not None:
            self._pool.shutdown(wait=e is None, cancel_futures=True)
            self._pool = None

    def run(self, jobs: Sequence[Job], ready: Callable[[], None]) -> Iterator[Outcome]:
        if self._pool is None:
            ready()
            for job in jobs:
                yield convert_item(job)
            return
        pending: set[Future[Outcome]] = {self._pool.submit(convert_item, job) for job in jobs}
        with contextlib.suppress(Exception):  # every worker ran its initializer
            self._barrier.wait(READY_TIMEOUT_SECONDS)
        ready()
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
