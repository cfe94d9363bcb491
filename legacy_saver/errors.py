"""The one error tree of legacy-saver.

Every error is rooted in a builtin so callers can catch what they already know:
``CheckpointError`` is a ``ValueError``; the not-found kinds are also
``FileNotFoundError``/``KeyError``. Messages name the file and the key, and say
what was expected and what was found; tests assert them, so they are API.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointExistsError",
    "CorruptCheckpointError",
    "CorruptMetaGraphError",
    "TensorNotFoundError",
    "UnsupportedFeatureError",
    "StateFileError",
    "RestoreMismatchError",
    "UnsafeGraphError",
]


class CheckpointError(ValueError):
    """Base of every error this package raises about checkpoint content."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint (or no file of it) exists where one was expected."""


class CheckpointExistsError(CheckpointError, FileExistsError):
    """A destination already holds a checkpoint (or a file under its name) and replacing it
    was not asked for, or is never allowed (the destination is the source)."""


class CorruptCheckpointError(CheckpointError):
    """A file exists but its bytes are not a valid checkpoint (bad magic,
    checksum mismatch, truncation, impossible sizes or shapes)."""


class CorruptMetaGraphError(CorruptCheckpointError, OSError):
    """A meta graph file (``.meta``, ``saved_model.pb``) parses as neither a binary nor a
    text proto. Also an ``OSError`` (``IOError``), which stock ``import_meta_graph``
    raises for it ("Cannot parse file")."""


class TensorNotFoundError(CheckpointError, KeyError):
    """A key asked for is not in the checkpoint."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnsupportedFeatureError(CheckpointError):
    """Valid input using a feature this package does not handle (variant
    tensors, unknown dtypes, newer format versions)."""


class StateFileError(CheckpointError):
    """The ``checkpoint`` state file is unreadable, corrupt, or points
    somewhere it must not (outside its directory, unless allowed)."""


class RestoreMismatchError(CheckpointError):
    """What a restore asks for does not match the checkpoint: missing keys,
    shape or dtype mismatches. Lists every problem at once."""


class UnsafeGraphError(CheckpointError):
    """A meta graph contains ops that touch files, processes or the network
    outside the saver's own subgraph."""
