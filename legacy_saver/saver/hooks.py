"""``AsyncCheckpointSaverHook``: ``CheckpointSaverHook`` for a ``Saver(async_save=True)``.

``MonitoredTrainingSession`` closes its session right after the hooks' ``end()``. This
hook's ``end()`` waits until the last save is committed and raises its error, if any, even
when a listener's ``after_save`` raised. (Closing the session also waits for a pending write,
``background.guard_close``, so a stock hook or a failed step loses no checkpoint either; but
only this hook raises the final write's error at the end of the ``with`` block.)
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


# TensorFlow is untyped: its hook class is Any to mypy.
class AsyncCheckpointSaverHook(tf.compat.v1.train.CheckpointSaverHook):  # type: ignore[misc]
    """Same arguments as ``tf.compat.v1.train.CheckpointSaverHook``; pass
    ``saver=Saver(async_save=True)`` (or a ``scaffold`` holding one)."""

    def end(self, session: Any) -> None:
        try:
            super().end(session)  # the last save (its listeners may raise)
        finally:
            saver = self._get_saver()
            if saver is not None and hasattr(saver, "wait"):
                saver.wait()
