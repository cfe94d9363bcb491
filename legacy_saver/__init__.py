"""legacy-saver: TensorFlow 1.x checkpoints and meta graphs on TensorFlow 2.

Importing this package does not import TensorFlow, nor numpy or protobuf: names load on
first use. The checkpoint reader and writer (``legacy_saver.bundle``) and the state-file
functions never need TensorFlow; the graph-mode parts (``Saver``, ``import_meta_graph``,
...) import it the first time you touch them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:  # for type checkers; at run time these load on first use (_LAZY)
    from .bundle import BundleReader as BundleReader
    from .bundle import BundleWriter as BundleWriter
    from .bundle import CheckpointReader as CheckpointReader
    from .bundle import DType as DType
    from .bundle import list_variables as list_variables
    from .bundle import load_checkpoint as load_checkpoint

__version__ = "0.1.0"

# name -> module that defines it, imported on first use: the format layer pulls in numpy and
# protobuf (most of a bare import's time), the graph parts TensorFlow.
_LAZY = {
    "BundleReader": "bundle",
    "BundleWriter": "bundle",
    "CheckpointReader": "bundle",
    "DType": "bundle",
    "list_variables": "bundle",
    "load_checkpoint": "bundle",
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


_SUBMODULES = frozenset({"bundle", "state", "digest", "errors", "saver", "graph", "metagraph",
                         "safe_regex"})  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:  # ``import legacy_saver; legacy_saver.bundle.X`` works as before
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'legacy_saver' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
