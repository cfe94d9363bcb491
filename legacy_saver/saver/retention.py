"""Which checkpoints to keep: ``max_to_keep`` and ``keep_checkpoint_every_n_hours``.

A pure policy, no files: given the recorded checkpoints (oldest first, with their
timestamps), the new one, ``last_preserved_timestamp`` and the options, ``plan``
returns what to keep (and list in the state file), what to delete, and the new
``last_preserved_timestamp``.

The rules are ``tf.train.CheckpointManager``'s, so each reads the other's state file:

* checkpoints with ``timestamp <= last_preserved_timestamp`` are *preserved* (kept by
  ``keep_checkpoint_every_n_hours``); they are never deleted and, unlike in TensorFlow,
  stay listed in the state file so they remain discoverable. CheckpointManager ignores
  them (it only manages newer ones), so it will not delete them either;
* the others are *active*; while there are more than ``max_to_keep`` of them, the
  oldest leaves the active set: it becomes preserved if it is at least
  ``keep_checkpoint_every_n_hours`` newer than the last preserved one, otherwise it is
  deleted. Every surplus checkpoint goes at once (TensorFlow's Saver deletes at most
  one per save, and none from before a restart);
* the newest checkpoint is always kept; ``max_to_keep`` None or 0 keeps everything;
  ``keep_checkpoint_every_n_hours`` None or <= 0 preserves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Recorded:
    """A checkpoint prefix and when it was saved (seconds since the Epoch)."""

    path: str
    timestamp: float


@dataclass(frozen=True)
class RetentionOptions:
    max_to_keep: int | None = 5
    keep_checkpoint_every_n_hours: float | None = 10000.0


@dataclass(frozen=True)
class RetentionPlan:
    keep: tuple[Recorded, ...]  # oldest first; the new checkpoint is last
    delete: tuple[str, ...]  # oldest first
    last_preserved_timestamp: float


def plan(
    recorded: Sequence[Recorded],
    new: Recorded,
    last_preserved_timestamp: float,
    options: RetentionOptions,
) -> RetentionPlan:
    """Applies the policy after ``new`` was saved (see the module docstring).

    An earlier record of ``new.path`` (a checkpoint saved again under the same name)
    is replaced by ``new``.
    """
    others = [r for r in recorded if r.path != new.path]
    if not options.max_to_keep:
        return RetentionPlan((*others, new), (), last_preserved_timestamp)
    preserved = [r for r in others if r.timestamp <= last_preserved_timestamp]
    active = [r for r in others if r.timestamp > last_preserved_timestamp] + [new]
    hours = options.keep_checkpoint_every_n_hours or 0.0
    delete = []
    while len(active) > options.max_to_keep:
        oldest = active.pop(0)
        if hours > 0 and oldest.timestamp - hours * SECONDS_PER_HOUR >= last_preserved_timestamp:
            last_preserved_timestamp = oldest.timestamp
            preserved.append(oldest)
        else:
            delete.append(oldest.path)
    return RetentionPlan((*preserved, *active), tuple(delete), last_preserved_timestamp)


def initial_anchor(
    timestamps: Sequence[float], stored_last_preserved: float, created: float
) -> float:
    """The ``last_preserved_timestamp`` a Saver starts from in a directory.

    The stored value when the state file has one (ours or CheckpointManager's);
    else (TensorFlow's Saver writes none) just before the oldest known checkpoint, so
    old checkpoints count as active and surplus ones are deleted; else, in a new
    directory, one second before the Saver's creation, as ``CheckpointManager`` (a
    checkpoint saved in the same clock tick as the Saver was created, on a coarse or
    frozen clock, is active, not preserved forever).
    """
    if stored_last_preserved > 0:
        return stored_last_preserved
    if timestamps:
        return min(min(timestamps), created) - 1.0
    return created - 1.0
