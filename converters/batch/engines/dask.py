"""The ``dask`` engine: items run as tasks on a Dask ``distributed`` cluster.

``--scheduler tcp://HOST:PORT`` (or ``DASK_SCHEDULER_ADDRESS``) connects to an
existing cluster (dask-kubernetes, dask-jobqueue on Slurm, ``dask scheduler``
by hand); without one, a ``LocalCluster`` of ``-j`` worker processes (one
thread each, no dashboard, scratch space in a temporary directory removed at
the end) is started for the batch.

Each task is ``run_job(job)``: the worker reads the source and writes the
destination itself (fsspec URLs, or paths every worker sees: a shared
filesystem), so no checkpoint byte passes through the coordinator, which only
submits jobs and records outcomes in the manifest. Tasks are submitted with
``pure=False`` (each is a side effect, never deduplicated or cached) and
``retries``; a worker that dies mid-task has the task rescheduled on another
worker by the scheduler (up to its ``allowed-failures``), and since outputs
appear only by rename (or as a last ``.index`` upload) the retried result is
byte-identical to an uninterrupted one. A task that still cannot run
(``KilledWorker``) is recorded as failed. Losing the scheduler ends the batch
with ``SchedulerLostError``; the manifest holds every finished item, so
running the same command again resumes.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

from legacy_saver.errors import CheckpointError

from ..item import Job, Outcome, convert_item

RETRIES = 2  # task-level retries (convert_item itself never raises)
CONNECT_TIMEOUT = "20s"
INSTALL_HINT = "pip install 'legacy-saver[dask]'"


class SchedulerLostError(CheckpointError, ConnectionError):
    """The Dask scheduler went away (or never answered) during a batch."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError(
            f"--engine dask needs Dask's distributed package: {INSTALL_HINT}"
        ) from None
    return distributed


def run_job(job: Job) -> Outcome:
    """The task: ``convert_item`` on a worker, tagged with the worker's address."""
    from dataclasses import replace

    outcome = convert_item(job)
    with contextlib.suppress(Exception):
        from distributed import get_worker

        outcome = replace(outcome, worker=str(get_worker().address))
    return outcome


class DaskEngine:
    """See the module docstring."""

    name = "dask"

    def __init__(self, scheduler: str | None, workers: int) -> None:
        self.scheduler, self.workers = scheduler, workers
        self._client: Any = None
        self._cluster: Any = None
        self._scratch: str | None = None
        self._quiet: list[tuple[logging.Logger, int]] = []

    def __enter__(self) -> DaskEngine:
        distributed = _distributed()
        self._quiet = _silence("distributed")  # lost-connection tracebacks: we say it once
        try:
            if self.scheduler:
                self._client = distributed.Client(self.scheduler, timeout=CONNECT_TIMEOUT)
            else:
                self._scratch = tempfile.mkdtemp(prefix="legacy-ckpt-dask-")
                self._cluster = distributed.LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, local_directory=self._scratch,
                )  # fmt: skip
                self._client = distributed.Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            self.__exit__(None, None, None)
            where = self.scheduler or "a LocalCluster"
            raise SchedulerLostError(f"cannot reach the Dask scheduler at {where}: {exc}") from None
        if self.scheduler:
            self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        for closing in (self._client, self._cluster):
            if closing is not None:
                with contextlib.suppress(Exception):
                    closing.close()
        self._client = self._cluster = None
        for logger, level in self._quiet:
            logger.setLevel(level)
        self._quiet = []
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def run(self, jobs: Sequence[Job], ready: Callable[[], None]) -> Iterator[Outcome]:
        distributed = _distributed()
        client = self._client
        batch = uuid.uuid4().hex[:8]
        futures = {
            client.submit(run_job, job, key=f"legacy-ckpt-{batch}-{i}", pure=False,
                          retries=RETRIES): job
            for i, job in enumerate(jobs)
        }  # fmt: skip
        ready()
        done = 0
        lost: tuple[type[BaseException], ...] = (OSError, TimeoutError, *_cancelled(distributed))
        try:
            for future in distributed.as_completed(futures):
                yield self._outcome(future, futures[future])
                done += 1
        except lost as exc:
            raise SchedulerLostError(
                f"lost the Dask scheduler at {self.scheduler or 'the LocalCluster'} with "
                f"{len(futures) - done} item(s) unfinished ({type(exc).__name__}: {exc}); "
                "run the same command again to resume"
            ) from None
        finally:
            for future in futures:
                future.release()

    def _outcome(self, future: Any, job: Job) -> Outcome:
        """The task's outcome; a task that could not run (``KilledWorker``: its
        workers kept dying) is a failed item; a cancelled one means the scheduler
        is gone."""
        if future.status == "finished":
            return future.result()  # type: ignore[no-any-return]
        if future.status != "error":
            raise OSError(f"task {future.key} was {future.status}")
        exc = future.exception()
        name = type(exc).__name__
        if name == "CommClosedError":
            raise OSError(str(exc))
        item = job.item
        return Outcome(item.rel, "failed", f"{name}: {exc}", None, item.size, 0.0)


def _silence(prefix: str) -> list[tuple[logging.Logger, int]]:
    """Raise every ``prefix*`` logger to CRITICAL; their old levels, to restore."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == prefix]
    loggers = [logging.getLogger(n) for n in [prefix, *names]]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    return saved


def _cancelled(distributed: Any) -> tuple[type[BaseException], ...]:
    """The cancellation errors this ``distributed`` has (names moved across versions)."""
    import asyncio
    import concurrent.futures

    names = ("FutureCancelledError", "CancelledError")
    found = [getattr(distributed.client, n) for n in names if hasattr(distributed.client, n)]
    return (*found, asyncio.CancelledError, concurrent.futures.CancelledError)
