"""``load_structural``: the Python objects a structural TF2 checkpoint describes.

A structural conversion (``tf1_to_tf2`` without ``target``) writes an object
graph that mirrors the TF1 scopes: ``dense/kernel`` is variable ``kernel`` of
object ``dense``. Restoring it needs objects of that shape, which the user's
TF2 code may not have. ``load_structural(dst)`` builds them from the
checkpoint's own object graph: a ``tf.Module`` per scope, a ``tf.Variable``
per value (of the stored shape and dtype, zero until read), an optimizer
object holding the slot variables, so that::

    root = converters.load_structural(dst)
    tf.train.Checkpoint(root=root).read(dst).assert_consumed()

restores every value, and ``root.dense.kernel`` (or ``tracked(root, "dense/kernel")``
for names that are not Python identifiers) is the variable.

Imports TensorFlow (lazily: ``import converters`` does not).
"""

from __future__ import annotations

import os
from typing import Any

from legacy_saver.bundle import load_checkpoint
from legacy_saver.errors import CheckpointError, UnsupportedFeatureError

from .names import VARIABLE_VALUE
from .object_graph import read_object_graph

__all__ = ["load_structural", "tracked"]


def _optimizer_class() -> type:
    import tensorflow as tf

    class MirroredOptimizer(tf.Module):  # type: ignore[misc]
        """Holds slot variables and hands each to TF's restore when it asks
        (``_create_or_restore_slot_variable``, as TF's own optimizers do)."""

        def __init__(self) -> None:
            super().__init__()
            # not tracked as a dependency: TF reaches slots through the graph's
            # slot_variables, and a dict keyed by tuples cannot be tracked anyway
            object.__setattr__(self, "_slot_table", {})

        @property
        def slots(self) -> dict[tuple[int, str], Any]:
            """``(id(variable), slot name) -> slot variable``."""
            return self._slot_table  # type: ignore[no-any-return]

        def _create_or_restore_slot_variable(
            self, slot_variable_position: Any, slot_name: str, variable: Any, **_: Any
        ) -> Any:
            return self._slot_table.get((id(variable), slot_name))

    return MirroredOptimizer


def load_structural(path: str | os.PathLike[str]) -> Any:
    """Build the object tree of the structural TF2 checkpoint at ``path``.

    Returns:
        The root ``tf.Module``; pass it as ``tf.train.Checkpoint(root=...)``.

    Raises:
        CheckpointError: ``path`` is a name-based checkpoint (convert it first).
        UnsupportedFeatureError: an object saves something other than a variable
            value (Keras configs, datasets): build that object in code instead.
        CorruptCheckpointError: the object graph is malformed.
    """
    import tensorflow as tf

    with load_checkpoint(path) as reader:
        graph = read_object_graph(reader)
        if graph is None:
            raise CheckpointError(
                f"{reader.prefix} is name-based (no object graph): convert it with "
                "converters.tf1_to_tf2 first"
            )
        specs = {}
        for node_id, node in enumerate(graph.nodes):
            for attr in node.attributes:
                if attr.name != VARIABLE_VALUE:
                    raise UnsupportedFeatureError(
                        f"{reader.prefix}: object {node_id} saves {attr.name!r} "
                        f"({attr.checkpoint_key}); load_structural rebuilds variables only"
                    )
                if not reader.has_tensor(attr.checkpoint_key):
                    continue  # listed but absent: nothing to restore into it
                dtype = reader.dtype(attr.checkpoint_key).tf_name
                specs[node_id] = (tuple(reader.shape(attr.checkpoint_key)), dtype, attr.full_name)
    optimizers = {i for i, n in enumerate(graph.nodes) if n.slot_variables}
    optimizer_class = _optimizer_class()
    objects: dict[int, Any] = {}

    def build(node_id: int) -> Any:
        found = objects.get(node_id)
        if found is not None:
            return found
        if node_id in specs:
            shape, dtype, full_name = specs[node_id]
            name = (full_name or f"node_{node_id}").replace(":", "_")
            made = tf.Variable(tf.zeros(shape, dtype=dtype), name=name, trainable=False)
        elif node_id in optimizers:
            made = optimizer_class()
        else:
            made = tf.Module()
        objects[node_id] = made
        return made

    order = [0]
    for node_id in order:  # breadth first; every node built once, shared nodes shared
        parent = build(node_id)
        for child in graph.nodes[node_id].children:
            fresh = child.node_id not in objects
            _attach(parent, child.local_name, build(child.node_id))
            if fresh:
                order.append(child.node_id)
    for node_id in optimizers:
        optimizer = build(node_id)
        for ref in graph.nodes[node_id].slot_variables:
            original = build(ref.original_variable_node_id)
            optimizer.slots[(id(original), ref.slot_name)] = build(ref.slot_variable_node_id)
    return objects[0]


def _attach(parent: Any, name: str, child: Any) -> None:
    """Track ``child`` under ``name``; also as an attribute where ``name`` can be one
    (an identifier the parent's class does not already use: ``name``, ``variables``...)."""
    import tensorflow as tf

    usable = name.isidentifier() and not name.startswith("_") and not hasattr(type(parent), name)
    if isinstance(parent, tf.Module) and usable and name not in vars(parent):
        setattr(parent, name, child)  # tf.Module tracks attributes under their names
    else:
        parent._track_trackable(child, name=name, overwrite=True)


def tracked(root: Any, path: str) -> Any:
    """The object at ``path`` (TF1 scopes, ``/``-separated) under ``root``, for names
    that are not Python identifiers (``x.y/z``)."""
    node = root
    for part in path.split("/"):
        found = node._lookup_dependency(part)
        if found is None:
            raise KeyError(f"no object {part!r} under {path!r}")
        node = found
    return node
