"""Progress of a running batch, the same for every engine.

On a terminal: one tqdm bar on stderr (checkpoints done of the total, MiB/s
converted, failures). Otherwise one plain line per finished item on stderr
(``[3/10] converted a/model.ckpt-9 (12.0 MiB in 0.4 s, host:1234)``), which logs
and CI keep readable. Neither with ``--quiet`` or ``--json``. Rates and the
ETA count from the moment the engine's workers are up (``ready``), not from
process start-up.

``Throughput`` adds up, per worker, the items, bytes and busy seconds that the
summary reports (``workers`` in ``--json``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .item import Outcome


@dataclass
class Throughput:
    """Per-worker totals: ``{worker: [items, bytes, seconds]}``."""

    by_worker: dict[str, list[float]] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        row = self.by_worker.setdefault(outcome.worker or "?", [0, 0, 0.0])
        row[0] += 1
        row[1] += outcome.bytes if outcome.status == "done" else 0
        row[2] += outcome.seconds

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"worker": w, "items": int(n), "bytes": int(b), "seconds": round(s, 3),
             "mib_per_s": round(b / max(s, 1e-9) / 2**20, 2)}
            for w, (n, b, s) in sorted(self.by_worker.items())
        ]  # fmt: skip


class Progress:
    """See the module docstring; ``enabled`` False shows nothing."""

    def __init__(self, count: int, enabled: bool, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.count, self.done, self.failed, self.bytes = count, 0, 0, 0
        self.start = time.perf_counter()
        self._bar: Any = None
        self._lines = enabled and count > 0
        if self._lines and _isatty(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=count, unit="ckpt", desc="converting", file=self.stream)
            self._lines = False

    def ready(self) -> None:
        """The workers are up: rates and the ETA count from now."""
        self.start = time.perf_counter()
        if self._bar is not None:
            self._bar.reset(total=self.count)

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += outcome.status != "done"
        self.bytes += outcome.bytes if outcome.status == "done" else 0
        rate = self.bytes / max(time.perf_counter() - self.start, 1e-9) / 2**20
        if self._bar is not None:
            self._bar.set_postfix_str(f"{rate:.1f} MiB/s, {self.failed} failed", refresh=False)
            self._bar.update(1)
        elif self._lines:
            verb = {"done": "converted"}.get(outcome.status, outcome.status)
            mib = outcome.bytes / 2**20
            print(f"[{self.done}/{self.count}] {verb} {outcome.rel} ({mib:.1f} MiB in "
                  f"{outcome.seconds:.1f} s, {outcome.worker or '?'})", file=self.stream,
                  flush=True)  # fmt: skip

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
