"""legacy-saver: TensorFlow 1.x checkpoints and meta graphs on TensorFlow 2.

Importing this package does not import TensorFlow. The checkpoint reader and
writer (``legacy_saver.bundle``) and the state-file functions never need it;
the graph-mode parts (``Saver``, ``import_meta_graph``, ...) import it the
first time you touch them.
"""

from __future__ import annotations

import importlib
from typing import Any

from .bundle import (
    BundleReader,
    BundleWriter,
    CheckpointReader,
    DType,
    list_variables,
    load_checkpoint,
)
from .errors import (
    CheckpointError,
    CheckpointExistsError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    CorruptMetaGraphError,
    RestoreMismatchError,
    StateFileError,
    TensorNotFoundError,
    UnsafeGraphError,
    UnsupportedFeatureError,
)

__version__ = "0.1.0"

# name -> module that defines it, imported on first use (the graph parts pull in TensorFlow).
_LAZY = {
    "latest_checkpoint": "state",
    "get_checkpoint_state": "state",
    "update_checkpoint_state": "state",
    "checkpoint_exists": "state",
    "get_checkpoint_mtimes": "state",
    "remove_checkpoint": "state",
    "inspect_checkpoint": "bundle.inspect",
    "diff_checkpoints": "bundle.diff",
    "Saver": "saver",
    "AsyncCheckpointSaverHook": "saver",
    "import_meta_graph": "saver",
    "export_meta_graph": "saver",
    "LegacyModel": "graph",
    "restore_variables": "graph",
    "scan": "graph",
    "RestoreReport": "graph",
    "ScanReport": "graph",
}

__all__ = [
    "BundleReader",
    "BundleWriter",
    "CheckpointReader",
    "DType",
    "list_variables",
    "load_checkpoint",
    "CheckpointError",
    "CheckpointExistsError",
    "CheckpointNotFoundError",
    "CorruptCheckpointError",
    "CorruptMetaGraphError",
    "RestoreMismatchError",
    "StateFileError",
    "TensorNotFoundError",
    "UnsafeGraphError",
    "UnsupportedFeatureError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'legacy_saver' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
