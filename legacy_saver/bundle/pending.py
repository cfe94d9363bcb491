"""Writes still under way in this process, so that readers of a directory can wait.

``Saver(async_save=True)`` commits a checkpoint from a background thread; until it has,
the state file names the previous checkpoint. ``register(directory, waiter)`` records such
a write; ``wait_for(directory)`` (called by ``state.latest_checkpoint`` and
``get_checkpoint_state``) calls every waiter of that directory, which returns when its
write is committed (a waiter never waits for itself: the writer's own reads go through).
Only this process's writes are known; another process's readers see the state file as is.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

_LOCK = threading.Lock()
_WAITERS: dict[str, list[Callable[[], None]]] = {}


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


def wait_for(directory: str) -> None:
    """Return once no write registered for ``directory`` is pending."""
    if not _WAITERS:  # the common case: no async saver in this process
        return
    with _LOCK:
        waiters = list(_WAITERS.get(_key(directory), ()))
    for waiter in waiters:
        waiter()
