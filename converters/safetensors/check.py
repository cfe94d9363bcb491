"""crc32c of byte ranges of files, over small ``mmap`` windows, and the worker thread
that checks every written tensor while the next one is written.

Windows are ``WINDOW_BYTES``: page-cache pages are checksummed where they lie (never
copied into Python), and at most one window is mapped at a time, so the resident
memory a check adds stays bounded whatever the tensor's size. The checker keeps its
current window across tensors, so a checkpoint of many small tensors costs one map
per window, not one per tensor.
"""

from __future__ import annotations

import mmap
import os
import queue
import threading
from dataclasses import dataclass

from legacy_saver.bundle.coding import crc32c
from legacy_saver.errors import CorruptCheckpointError

WINDOW_BYTES = 8 << 20


class _Window:
    """One read-only map of part of one file."""

    def __init__(self) -> None:
        self.path = ""
        self.lo = self.hi = 0
        self._map: mmap.mmap | None = None

    def crc(self, path: str, start: int, size: int, crc: int = 0) -> tuple[int, int]:
        """``(crc32c, bytes read)`` of ``size`` bytes of ``path`` from ``start``."""
        done = 0
        while done < size:
            pos = start + done
            if self._map is None or path != self.path or not self.lo <= pos < self.hi:
                if not self._open(path, pos):
                    break
            mapped = self._map
            if mapped is None:  # pragma: no cover - _open maps or returns False
                break
            n = min(size - done, self.hi - pos)
            view = memoryview(mapped)[pos - self.lo : pos - self.lo + n]
            try:
                crc = crc32c(view, crc)
            finally:
                view.release()
            done += n
        return crc, done

    def _open(self, path: str, pos: int) -> bool:
        self.close()
        with open(path, "rb") as f:
            end = os.fstat(f.fileno()).st_size
            lo = pos - pos % mmap.ALLOCATIONGRANULARITY
            if pos >= end:
                return False
            length = min(end - lo, WINDOW_BYTES)
            self._map = mmap.mmap(f.fileno(), length, access=mmap.ACCESS_READ, offset=lo)
        self.path, self.lo, self.hi = path, lo, lo + length
        return True

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


def range_crc32c(path: str, start: int, size: int) -> tuple[int, int]:
    """``(crc32c, bytes read)`` of a byte range, over ``WINDOW_BYTES`` windows."""
    window = _Window()
    try:
        return window.crc(path, start, size)
    finally:
        window.close()


@dataclass(frozen=True)
class _Item:
    path: str
    start: int
    size: int
    crc: int
    message: str


class Checker:
    """Checks submitted ranges in order on one thread; ``finish()`` waits and raises
    the first failure (``CorruptCheckpointError``); ``close()`` stops without raising."""

    _DONE = None

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._window = _Window()
        self._thread = threading.Thread(target=self._run, name="crc-check", daemon=True)
        self._thread.start()

    def submit(self, path: str, start: int, size: int, crc: int, message: str) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(_Item(path, start, size, crc, message))

    def finish(self) -> None:
        self.close()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(self._DONE)
            self._thread.join()

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                if self._error is None:
                    self._check(item)
        finally:
            self._window.close()

    def _check(self, item: _Item) -> None:
        try:
            crc, read = self._window.crc(item.path, item.start, item.size)
            if read != item.size or crc != item.crc:
                raise CorruptCheckpointError(item.message)
        except BaseException as exc:  # handed to the writer's thread
            self._error = exc
