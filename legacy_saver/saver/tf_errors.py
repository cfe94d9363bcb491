"""Restore errors that are ours and TensorFlow's at once; save errors that name the checkpoint.

Stock ``Saver.restore`` raises ``tf.errors.NotFoundError`` for a missing key and
``tf.errors.InvalidArgumentError`` for a shape or dtype mismatch; code written for it
says ``except tf.errors.NotFoundError``. Our pre-restore check raises one
``RestoreMismatchError`` listing every problem. The classes here are both, so either
``except`` catches it, and the message ends with stock's wording ("Key b not found in
checkpoint", "a mismatch between the current graph and the graph from the checkpoint").

``legacy_saver.errors`` stays TensorFlow-free; these subclasses live in the Saver's
layer, which imports TensorFlow anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from ..errors import RestoreMismatchError

__all__ = ["RestoreInvalidArgumentError", "RestoreNotFoundError", "restore_error", "saving_error"]


class RestoreNotFoundError(RestoreMismatchError, tf.errors.NotFoundError):  # type: ignore[misc]
    """A restore found keys missing: ``RestoreMismatchError`` and ``tf.errors.NotFoundError``."""

    def __init__(self, message: str) -> None:
        tf.errors.NotFoundError.__init__(self, None, None, message)
        self.args = (message,)


class RestoreInvalidArgumentError(RestoreMismatchError, tf.errors.InvalidArgumentError):  # type: ignore[misc]
    """A restore found shapes or dtypes that differ: ``RestoreMismatchError`` and
    ``tf.errors.InvalidArgumentError``."""

    def __init__(self, message: str) -> None:
        tf.errors.InvalidArgumentError.__init__(self, None, None, message)
        self.args = (message,)


def restore_error(
    message: str, *, missing: bool, stock: Sequence[str] = ()
) -> RestoreMismatchError:
    """The error for ``message``: ``RestoreNotFoundError`` when keys are ``missing``, else
    ``RestoreInvalidArgumentError``; the message ends with stock's wording: its Saver's
    sentence and, in ``stock``, the ops' messages for the first problem of each kind
    ("Key b not found in checkpoint", "... does not equal original dtype ...", "Assign
    requires shapes of both tensors to match. ...")."""
    if missing:
        what = "a Variable name or other graph key that is missing from the checkpoint"
        cls: type[RestoreMismatchError] = RestoreNotFoundError
    else:
        what = "a mismatch between the current graph and the graph from the checkpoint"
        cls = RestoreInvalidArgumentError
    details = "".join(f"; {line}" for line in stock)
    return cls(f"{message}\n(stock TensorFlow: {what}{details})")


def saving_error(error: Any, checkpoint_file: str, step: str, kept: bool = False) -> Any:
    """``error`` (an ``OSError`` or ``tf.errors.OpError`` of the same class) again, with a
    message naming the checkpoint, the step that failed and what was left."""
    left = "the checkpoint it replaced stays" if kept else "nothing of it was kept"
    reason = error.strerror if isinstance(error, OSError) and error.strerror else error
    message = f"could not save checkpoint {checkpoint_file!r} ({step}): {reason}; {left}"
    try:
        if isinstance(error, tf.errors.OpError):
            return type(error)(error.node_def, error.op, message)
        return type(error)(error.errno, message) if error.errno else type(error)(message)
    except TypeError:  # an exception class with another signature: keep it as it is
        return error
