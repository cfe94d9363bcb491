"""Where a meta graph and its checkpoint come from: a ``.meta``, a prefix or a directory.

Kept apart from ``model.py`` so the rules can be read (and tested) on their own:

- ``model.ckpt-1000.meta``: that meta graph; its checkpoint is ``model.ckpt-1000`` if present.
- ``model.ckpt-1000``: the prefix; the meta graph is ``model.ckpt-1000.meta``.
- a directory with ``saved_model.pb``: a TF1 SavedModel; the meta graph tagged ``serve``
  (or the only one) and the checkpoint ``variables/variables``.
- any other directory: its latest checkpoint (the ``checkpoint`` state file) and that
  checkpoint's ``.meta``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from legacy_saver.bundle import resolve_checkpoint
from legacy_saver.bundle.naming import parse_v1_shard
from legacy_saver.errors import CheckpointError, CheckpointNotFoundError
from legacy_saver.metagraph.locate import locate_meta_graph
from legacy_saver.metagraph.read import read_meta_graph, read_saved_model

__all__ = ["GraphSource", "resolve_source"]


@dataclass(frozen=True)
class GraphSource:
    """A resolved meta graph (parsed) and the checkpoint prefix to restore, if any."""

    meta_path: str
    meta: Any
    checkpoint: str | None
    saved_model_dir: str | None = None


def resolve_source(path: str | os.PathLike[str], checkpoint: Any = None) -> GraphSource:
    """Resolve ``path`` (see the module docstring) and ``checkpoint``.

    Args:
        path: a ``.meta`` file, a checkpoint prefix or a directory.
        checkpoint: None (use the one beside the meta graph, if any), False (none), or a
            prefix or directory to restore from instead.
    """
    location = locate_meta_graph(path)
    if location.saved_model_dir is not None:
        meta = read_saved_model(location.saved_model_dir)
    else:
        meta = read_meta_graph(location.meta_path)
    meta_path, implied, saved_model_dir = (
        location.meta_path,
        location.prefix,
        location.saved_model_dir,
    )
    if checkpoint is False:
        chosen = None
    elif checkpoint is not None:
        chosen = _existing_prefix(_latest_if_dir(os.fspath(checkpoint)))
        if chosen is None:
            raise CheckpointNotFoundError(f"no checkpoint at {os.fspath(checkpoint)}")
    else:
        chosen = _existing_prefix(implied) if implied else None
    return GraphSource(meta_path, meta, chosen, saved_model_dir)


def _latest_if_dir(path: str) -> str:
    if not os.path.isdir(path):
        return path
    from legacy_saver.bundle.state import latest_checkpoint

    latest = latest_checkpoint(path)
    if latest is None:
        raise CheckpointNotFoundError(f"{path} has no 'checkpoint' state file")
    return latest


def _existing_prefix(prefix: str) -> str | None:
    """The path a Saver restores from when a checkpoint exists at ``prefix``, else None.

    For a sharded V1 checkpoint that is the shard pattern (``export-?????-of-00001``), which
    TensorFlow's V1 restore expects instead of the bare prefix.
    """
    try:
        resolved = resolve_checkpoint(prefix)
    except CheckpointError:
        return None
    if resolved.version == 1 and resolved.files and resolved.files[0] != resolved.prefix:
        parsed = parse_v1_shard(resolved.files[0])
        if parsed is not None:
            return f"{parsed[0]}-?????-of-{parsed[2]:05d}"
    return resolved.prefix
