"""``AsyncCheckpointSaverHook``: ``CheckpointSaverHook`` for a ``Saver(async_save=True)``.

``MonitoredTrainingSession`` closes its session right after the hooks' ``end()``; the
stock hook's last save would then still be writing from a closed session. This hook's
``end()`` waits until that save is committed (and raises its error, if any).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


# TensorFlow is untyped: its hook class is Any to mypy.
class AsyncCheckpointSaverHook(tf.compat.v1.train.CheckpointSaverHook):  # type: ignore[misc]
    """Same arguments as ``tf.compat.v1.train.CheckpointSaverHook``; pass
    ``saver=Saver(async_save=True)`` (or a ``scaffold`` holding one)."""

    def end(self, session: Any) -> None:
        super().end(session)
        saver = self._get_saver()
        if saver is not None and hasattr(saver, "wait"):
            saver.wait()
