"""Import a meta graph written by any TensorFlow 1.x into this TensorFlow, or say why not.

Stock ``import_meta_graph`` fails late or silently on old and foreign graphs: an op this build
does not register fails on the first one only; a device baked in by the writer
(``/job:worker/task:3/device:GPU:1``) fails at run time; the TF 0.12 version string
``'0.12.head'`` fails to parse (``InvalidVersion``); and importing the same ``.meta`` twice
into one graph makes the second copy's variables and saver point at the first copy
(tensorflow/tensorflow#6774). ``import_portably`` runs the fixes of
``legacy_saver.metagraph.prepare`` (the same pipeline as ``import_meta_graph``) on a copy of the
``MetaGraphDef`` and picks a fresh scope when the names collide; the caller's proto is never
modified.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from legacy_saver.metagraph.prepare import DeviceMap, PrepareOptions, prepare

if TYPE_CHECKING:  # the Saver imports TensorFlow: only the type checker reads it here
    from legacy_saver.saver import Saver

__all__ = ["DeviceMap", "free_import_scope", "import_portably"]


def free_import_scope(graph: Any, meta: Any, import_scope: str | None) -> str | None:
    """``import_scope``, or a fresh one when the import would collide with ``graph``'s nodes.

    TensorFlow renames colliding nodes (``w`` -> ``w_1``) but keeps the collections and the
    SaverDef pointing at the old names, so a second import silently aliases the first
    (tensorflow/tensorflow#6774). A scope of its own keeps each copy distinct.
    """
    existing = {op.name for op in graph.get_operations()}
    if not existing:
        return import_scope
    prefix = f"{import_scope}/" if import_scope else ""
    if not any(prefix + n.name in existing for n in meta.graph_def.node):
        return import_scope
    base = import_scope or "import"
    candidate, i = base, 1
    while any(name == candidate or name.startswith(candidate + "/") for name in existing):
        candidate, i = f"{base}_{i}", i + 1
    return candidate


def import_portably(
    meta: Any,
    graph: Any,
    *,
    source: str = "<MetaGraphDef>",
    clear_devices: bool = True,
    device_map: DeviceMap | None = None,
    import_scope: str | None = None,
    input_map: Mapping[str, Any] | None = None,
) -> tuple[Saver | None, str | None]:
    """Check, fix and import ``meta`` into ``graph`` (what runs afterwards is the caller's
    business: ``LegacyModel`` decides what is safe to run).

    ``input_map`` values may be tensors of ``graph`` or anything ``tf.constant`` accepts.

    Returns:
        ``(saver, import_scope)``: the saver built from the SaverDef (None without one) and the
        scope actually used (a fresh one when ``graph`` already holds these names).

    Raises:
        UnsupportedFeatureError: ops this TensorFlow does not register.
    """
    from legacy_saver.saver.importing import import_prepared

    scope = free_import_scope(graph, meta, import_scope)
    options = PrepareOptions(
        clear_devices=clear_devices, device_map=device_map, shared_name_scope=scope
    )
    fixed = prepare(meta, options, source)
    with graph.as_default():
        mapped = _as_graph_tensors(graph, input_map)
        saver = import_prepared(fixed, graph, import_scope=scope, input_map=mapped)
    return saver, scope


def _as_graph_tensors(graph: Any, input_map: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``input_map`` with values that are not tensors of ``graph`` turned into constants."""
    if input_map is None:
        return None
    import tensorflow as tf

    return {
        name: value if getattr(value, "graph", None) is graph else tf.constant(value)
        for name, value in input_map.items()
    }
