"""Reading meta graphs from files: a ``.meta`` (binary ``MetaGraphDef``) or a SavedModel's
``saved_model.pb``, with typed errors and bounded size. Nothing is imported into a graph.
"""

from __future__ import annotations

import os
from typing import Any

from legacy_saver.errors import CheckpointNotFoundError, CorruptCheckpointError

__all__ = ["MAX_META_GRAPH_BYTES", "read_meta_graph", "read_saved_model"]

MAX_META_GRAPH_BYTES = 2**31  # protobuf's own limit for one message
SERVE_TAG = "serve"


def read_meta_graph(path: str | os.PathLike[str]) -> Any:
    """Parse a ``.meta`` file (a binary ``MetaGraphDef``) without importing it."""
    from tensorflow.core.protobuf import meta_graph_pb2

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(f"meta graph {path} does not exist")
    size = os.path.getsize(path)
    if size >= MAX_META_GRAPH_BYTES:
        raise CorruptCheckpointError(f"{path} is {size} bytes, over protobuf's 2 GiB limit")
    meta = meta_graph_pb2.MetaGraphDef()
    with open(path, "rb") as f:
        data = f.read()
    try:
        meta.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError
        raise CorruptCheckpointError(f"{path} is not a MetaGraphDef: {e}") from e
    return meta


def read_saved_model(directory: str, tags: tuple[str, ...] = (SERVE_TAG,)) -> Any:
    """The ``MetaGraphDef`` with ``tags`` (else the only one) from a SavedModel directory."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(directory, "saved_model.pb")
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(f"{directory} has no saved_model.pb")
    model = saved_model_pb2.SavedModel()
    try:
        with open(path, "rb") as f:
            model.ParseFromString(f.read())
    except Exception as e:  # protobuf's DecodeError
        raise CorruptCheckpointError(f"{path} is not a SavedModel: {e}") from e
    graphs = list(model.meta_graphs)
    for meta in graphs:
        if set(tags) == set(meta.meta_info_def.tags):
            return meta
    if len(graphs) == 1:
        return graphs[0]
    found = [sorted(m.meta_info_def.tags) for m in graphs]
    raise CheckpointNotFoundError(f"{path} has no meta graph tagged {sorted(tags)}; it has {found}")
