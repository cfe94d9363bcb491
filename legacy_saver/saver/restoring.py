"""The graph-mode restore of one Saver: the shortcut, the check, then TensorFlow's op.

``GraphRestorer.restore`` runs the Saver's restore op once the checkpoint is known to hold
what it reads (``checks.py``): at once when the raw ``.index`` shows every key with the
expected dtype and shape (``QuickCheck``, a microsecond a key); else after ``plan_restore``
has read the index, raised the one error naming every problem, or mapped the keys of an
object-based checkpoint (fed into the key constants). A digest manifest, when present, is
verified first. What it reads comes from the Saver's build (``specs``) or, for a Saver made
from a stored ``SaverDef``, from the restore subgraph of each graph (``specs_from_graph``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf

from ..bundle import fileio, load_checkpoint
from ..bundle.digest import verify_digest
from ..bundle.files import refuse_special_files
from ..bundle.naming import digest_path, index_path, is_url
from ..errors import CheckpointError, CheckpointNotFoundError
from .checks import QuickCheck, contents_of, plan_restore
from .specs import RestoreSpec, specs_from_graph
from .tf_types import Graph, SaverDef, Session


class GraphRestorer:
    """Restores through a ``SaverDef``'s restore op, after the check."""

    def __init__(self) -> None:
        self.specs: tuple[RestoreSpec, ...] | None = None  # from the build, when we built it
        self._graph_specs: dict[int, tuple[RestoreSpec, ...] | None] = {}
        self._quick: QuickCheck | None = None

    def restore(self, sess: Session, saver_def: SaverDef, save_path: str) -> None:
        specs = self.specs_for(sess.graph, saver_def.restore_op_name)
        refuse_special_files(save_path)
        ran = None
        quick = None if specs is None else self.quick_check(specs)
        if quick is not None and quick.usable and quick.passes(_plain_index_bytes(save_path)):
            try:
                sess.run(saver_def.restore_op_name, {saver_def.filename_tensor_name: save_path})
                return
            except tf.errors.OpError as error:  # e.g. corrupt data: the full path says which
                ran = error
        with open_checkpoint(save_path) as reader:
            prefix = reader.prefix if reader.format_version == 2 else save_path
            if os.path.exists(digest_path(prefix)):
                verify_digest(prefix)  # catches a tampered .meta, which has no crc
            if specs is None:  # keys computed in the graph: TF's own checks only
                feeds = {}
            else:
                feeds = plan_restore(specs, contents_of(reader, prefix, (s.key for s in specs)))
        if ran is not None and not feeds:
            raise ran  # the index agrees with the graph: TensorFlow's error stands
        feed_dict: dict[str, Any] = {name: _keys_array(keys) for name, keys in feeds.items()}
        feed_dict[saver_def.filename_tensor_name] = prefix
        sess.run(saver_def.restore_op_name, feed_dict)

    def quick_check(self, specs: tuple[RestoreSpec, ...]) -> QuickCheck:
        if self._quick is None or self._quick.specs is not specs:
            self._quick = QuickCheck(specs)
        return self._quick

    def specs_for(self, graph: Graph, restore_op_name: str) -> tuple[RestoreSpec, ...] | None:
        if self.specs is not None:
            return self.specs
        key = id(graph)
        if key not in self._graph_specs:
            self._graph_specs[key] = specs_from_graph(graph, restore_op_name)
        return self._graph_specs[key]


def _plain_index_bytes(save_path: str) -> bytes:
    """The ``.index`` of a local V2 checkpoint at exactly ``save_path`` with no digest
    manifest (which must be verified first); else b"" (no shortcut)."""
    if is_url(save_path) or os.path.exists(digest_path(save_path)):
        return b""
    try:
        return fileio.read_regular(index_path(save_path))  # a FIFO: refused, never waited on
    except (OSError, CheckpointError):
        return b""


def _keys_array(keys: list[str] | str) -> np.ndarray:
    if isinstance(keys, str):
        return np.array(keys.encode("utf-8"), dtype=object)
    return np.array([k.encode("utf-8") for k in keys], dtype=object)


def open_checkpoint(save_path: str) -> Any:
    """The reader of ``save_path`` for a restore; none there is stock's message (and a
    ``CheckpointNotFoundError``, also a ``FileNotFoundError``)."""
    try:
        return load_checkpoint(save_path)
    except CheckpointNotFoundError as e:
        raise CheckpointNotFoundError(
            f"The passed save_path is not a valid checkpoint: {save_path} ({e})"
        ) from None
