"""Where batch items run: the engine seam.

An engine takes picklable ``Job``s and yields their ``Outcome``s as they
complete, in any order. Each job does its own I/O (it reads its source and
writes its destination through the library and fsspec); the coordinator only
submits jobs and records outcomes in the manifest, so every engine gives the
same resume, ``--dry-run``, refusals and exit codes.

* ``local`` (``engines.local``): ``-j 1`` in-process, else a process pool on
  this machine (the default);
* ``dask`` (``engines.dask``): a Dask ``distributed`` cluster, an existing one
  (``--scheduler tcp://HOST:PORT`` or ``DASK_SCHEDULER_ADDRESS``) or a
  ``LocalCluster`` of ``-j`` worker processes. ``distributed`` is the optional
  extra ``legacy-saver[dask]``, imported only by this engine.

A new engine (Ray, say) is one module with a class of this shape.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Protocol

from ..item import Job, Outcome

ENGINES = ("local", "dask")


class Engine(Protocol):
    """Runs jobs; ``with engine:`` owns its workers (started on enter, gone on exit)."""

    name: str
    workers: int

    def __enter__(self) -> Engine: ...

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None: ...  # fmt: skip

    def run(self, jobs: Sequence[Job], ready: Callable[[], None]) -> Iterator[Outcome]:
        """Yield one outcome per job as each completes; call ``ready()`` once the
        workers are up (before the first outcome), so progress rates and ETAs
        leave start-up out."""
        ...


def open_engine(name: str, jobs: int | None, count: int, scheduler: str | None = None) -> Engine:
    """The engine ``name`` for ``count`` jobs with ``jobs`` workers (None: one per CPU).

    Raises:
        ValueError: an unknown engine, or ``scheduler`` given to ``local``.
        ImportError: ``dask`` without ``distributed`` installed (says what to install).
    """
    if name == "local":
        if scheduler:
            raise ValueError("--scheduler applies to --engine dask only")
        from .local import LocalEngine

        return LocalEngine(max(1, min(jobs or os.cpu_count() or 1, count or 1)))
    if name == "dask":
        from .dask import DaskEngine

        return DaskEngine(scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
                          max(1, jobs or os.cpu_count() or 1))  # fmt: skip
    raise ValueError(f"unknown engine {name!r}: expected one of {', '.join(ENGINES)}")
