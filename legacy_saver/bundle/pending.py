"""Writes still under way in this process, so that readers of a directory can wait.

``Saver(async_save=True)`` commits a checkpoint from a background thread; until it has, the
state file names the previous checkpoint. ``register(directory, waiter)`` records such a
write; ``wait_for(directory)`` (called by ``state.latest_checkpoint``,
``get_checkpoint_state``; ``wait_for_checkpoint`` for ``load_checkpoint`` and every
``Saver.restore``) calls the waiters of that directory, which return when their write is
committed. A writer never
waits: inside ``writing()`` (a background write's thread) reads go through at once, since
the writers of one directory already coordinate by the state file's lock (a
read-merge-write); two async Savers of one directory waiting for each other's commit would
deadlock. Only this process's writes are known; another process's readers see the state file
as is.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator

from .naming import checkpoint_prefix_of

_LOCK = threading.Lock()
_WAITERS: dict[str, list[Callable[[], None]]] = {}
_THREAD = threading.local()  # .writing: this thread commits a background write


def _key(directory: str) -> str:
    return os.path.realpath(directory or ".")


def register(directory: str, waiter: Callable[[], None]) -> None:
    with _LOCK:
        _WAITERS.setdefault(_key(directory), []).append(waiter)


def unregister(directory: str, waiter: Callable[[], None]) -> None:
    with _LOCK:
        waiters = _WAITERS.get(_key(directory), [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            _WAITERS.pop(_key(directory), None)


@contextlib.contextmanager
def _marked(flag: str) -> Iterator[None]:
    before = getattr(_THREAD, flag, False)
    setattr(_THREAD, flag, True)
    try:
        yield
    finally:
        setattr(_THREAD, flag, before)


def writing() -> contextlib.AbstractContextManager[None]:
    """Marks the current thread as a writer for the duration (nests): a background write's
    thread, or one holding a state file's lock, whose reads must not wait for a write that
    itself waits for that lock."""
    return _marked("writing")


def private_cwd() -> contextlib.AbstractContextManager[None]:
    """Marks the current thread as one with a working directory of its own (an async
    write's, ``saver.background``): kernels running in TensorFlow's thread pool resolve
    relative paths against the process's, so this thread feeds them absolute ones."""
    return _marked("private_cwd")


def has_private_cwd() -> bool:
    return getattr(_THREAD, "private_cwd", False)


def wait_for(directory: str, prefix: str | None = None) -> None:
    """Return once no write registered for ``directory`` is pending (at once in a writer);
    with ``prefix``, only writes of that checkpoint (a waiter's ``targets(prefix)``)."""
    if not _WAITERS or getattr(_THREAD, "writing", False):  # no async saver, or we are one
        return
    with _LOCK:
        waiters = list(_WAITERS.get(_key(directory), ()))
    for waiter in waiters:
        targets = getattr(waiter, "targets", None)
        if prefix is None or targets is None or targets(prefix):
            waiter()


def wait_for_checkpoint(path: str, exists: Callable[[str], bool]) -> None:
    """What a reader of ``path`` (a prefix, a file of one) waits for: a checkpoint not there
    yet (``exists(path)`` false), any write of its directory, since one of them may be
    making it; one that exists, only a write replacing that very prefix (an unrelated
    write's retention may be about to delete it, as a synchronous save's would). A
    directory waits for nothing here: its state file's reader waits. Costs nothing (no
    file is looked at) while no async write is pending in this process."""
    if not _WAITERS or getattr(_THREAD, "writing", False) or os.path.isdir(path):
        return
    prefix = (checkpoint_prefix_of(path) or path) if exists(path) else None
    wait_for(os.path.dirname(path), prefix)
