"""Import a meta graph written by any TensorFlow 1.x into this TensorFlow, or say why not.

Stock ``import_meta_graph`` fails late or silently on old and foreign graphs: an op this build
does not register fails on the first one only; a device baked in by the writer
(``/job:worker/task:3/device:GPU:1``) fails at run time; the TF 0.12 version string
``'0.12.head'`` fails to parse (``InvalidVersion``); and importing the same ``.meta`` twice
into one graph makes the second copy's variables and saver point at the first copy
(tensorflow/tensorflow#6774). ``import_portably`` checks everything up front and fixes what can
be fixed on a copy of the ``MetaGraphDef``; the caller's proto is never modified.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from legacy_saver.errors import (
    UnsupportedFeatureError,
)
from legacy_saver.metagraph.read import read_saved_model
from legacy_saver.metagraph.scan import raise_if_unsafe

__all__ = [
    "check_registered_ops",
    "free_import_scope",
    "import_portably",
    "prepare_meta_graph",
    "read_saved_model",
    "scope_shared_names",
    "unregistered_ops",
]

DeviceMap = Mapping[str, str] | Callable[[str], str]

# Where ops this TensorFlow does not register usually come from.
_PROVIDER_PREFIXES = {
    "Addons>": "tensorflow_addons",
    "TFText>": "tensorflow_text",
    "IO>": "tensorflow_io",
    "Io>": "tensorflow_io",
    "Scann>": "scann",
    "SentencepieceOp": "sentencepiece (tf_sentencepiece) or tensorflow_text",
    "Sentencepiece": "tensorflow_text or sentencepiece (tf_sentencepiece)",
}
_PROVIDERS = {
    **dict.fromkeys(
        [
            "CaseFoldUTF8",
            "NormalizeUTF8",
            "NormalizeUTF8WithOffsetsMap",
            "RegexSplitWithOffsets",
            "WhitespaceTokenizeWithOffsets",
            "WhitespaceTokenizeWithOffsetsV2",
            "WordpieceTokenizeWithOffsets",
            "UnicodeScriptTokenizeWithOffsets",
            "SplitMergeTokenizeWithOffsets",
            "ConstrainedSequence",
            "MaxSpanningTree",
            "NgramsStringJoin",
            "SentenceFragments",
            "SpanAlignment",
            "SpanOverlaps",
            "ToLowerOp",
            "TokenizerFromLogits",
            "FastWordpieceTokenizeWithOffsets",
            "FastBertNormalize",
            "SentencepieceTokenizeOp",
            "SentencepieceDetokenizeOp",
        ],
        "tensorflow_text",
    ),
    **dict.fromkeys(
        [
            "ImageProjectiveTransform",
            "SkipGramGenerateCandidates",
            "BipartiteMatch",
            "SingleImageRandomDotStereograms",
            "PeriodicResample",
            "HardRoutingFunction",
            "RoutingFunction",
            "StochasticHardRoutingFunction",
            "KFeatureRoutingFunction",
            "ZeroInitializer",
            "NearestNeighbors",
            "KmeansPlusPlusInitialization",
            "WALSComputePartialLhsAndRhs",
            "MaskedMatmul",
            "SdcaFprint",
            "FusedConv2DBiasActivation",
            "CoupledInputForgetGateLSTMCell",
            "GatherTree",
            "BigQueryReader",
            "GenerateBigQueryReaderPartitions",
            "TPUReplicate",
            "Bucketize_contrib",
        ],
        "tf.contrib (TensorFlow 1.x only; removed in 2.0)",
    ),
    **dict.fromkeys(["KafkaDataset", "IgniteDataset", "KinesisDataset"], "tensorflow_io"),
}


def unregistered_ops(meta: Any) -> list[str]:
    """Op types used by the graph or its functions that this TensorFlow does not register."""
    from tensorflow.python.framework import op_def_registry

    library = {f.signature.name for f in meta.graph_def.library.function}
    used = {n.op for n in meta.graph_def.node}
    for fn in meta.graph_def.library.function:
        used.update(n.op for n in fn.node_def)
    return sorted(op for op in used - library if op_def_registry.get(op) is None)


def check_registered_ops(meta: Any, source: str = "<MetaGraphDef>") -> None:
    """Raise one ``UnsupportedFeatureError`` naming every unregistered op and its provider."""
    missing = unregistered_ops(meta)
    if not missing:
        return
    lines = [f"  {op}: {_provider(op)}" for op in missing]
    raise UnsupportedFeatureError(
        f"{source} uses {len(missing)} op(s) this TensorFlow does not register; import the "
        "library that provides them first:\n" + "\n".join(lines)
    )


def _provider(op: str) -> str:
    if op in _PROVIDERS:
        return _PROVIDERS[op]
    for prefix, lib in _PROVIDER_PREFIXES.items():
        if op.startswith(prefix):
            return lib
    return "unknown (a custom op library loaded with tf.load_op_library)"


def prepare_meta_graph(
    meta: Any, *, clear_devices: bool = True, device_map: DeviceMap | None = None
) -> Any:
    """A copy of ``meta`` with devices cleared or remapped and an unparsable version blanked.

    Args:
        meta: a ``MetaGraphDef``.
        clear_devices: drop every node's device (graph and function bodies).
        device_map: instead of clearing, map each non-empty device string: a dict (devices
            not in it are kept) or a function.
    """
    out = type(meta)()
    out.CopyFrom(meta)
    if not _version_parses(out.meta_info_def.tensorflow_version):
        out.meta_info_def.tensorflow_version = ""  # TF 0.12 wrote '0.12.head'
    if clear_devices or device_map is not None:
        remap = _device_function(device_map)
        bodies = [out.graph_def.node] + [f.node_def for f in out.graph_def.library.function]
        for body in bodies:
            for node in body:
                if node.device:
                    node.device = remap(node.device)
    return out


def _device_function(device_map: DeviceMap | None) -> Callable[[str], str]:
    if device_map is None:
        return lambda _device: ""
    if callable(device_map):
        return device_map
    table = dict(device_map)
    return lambda device: table.get(device, device)


def _version_parses(version: str) -> bool:
    """Whether TensorFlow's version check (``packaging.version``) accepts ``version``."""
    from packaging.version import InvalidVersion, Version

    try:
        Version(version or "0")
    except InvalidVersion:
        return False
    return True


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


def scope_shared_names(meta: Any, scope: str) -> None:
    """Prefix every ``shared_name`` attr (resource variables, tables) with ``scope``, in place.

    Resource variables and tables find their state by ``shared_name``, not by node name; two
    imports of one ``.meta`` would otherwise share every variable even under different scopes.
    """
    bodies = [meta.graph_def.node] + [f.node_def for f in meta.graph_def.library.function]
    for body in bodies:
        for node in body:
            shared = node.attr.get("shared_name")
            if shared is not None and shared.s:
                shared.s = f"{scope}/".encode() + shared.s


def _import_meta_graph(meta: Any, *, import_scope: str | None, input_map: Any) -> Any:
    """The one place that calls the meta-graph importer: ours, returning our ``Saver``."""
    from legacy_saver.saver import import_meta_graph

    return import_meta_graph(
        meta, clear_devices=False, import_scope=import_scope, input_map=input_map
    )


def import_portably(
    meta: Any,
    graph: Any,
    *,
    source: str = "<MetaGraphDef>",
    clear_devices: bool = True,
    device_map: DeviceMap | None = None,
    import_scope: str | None = None,
    input_map: Mapping[str, Any] | None = None,
    allow_unsafe: bool = False,
) -> tuple[Any, str | None]:
    """Scan, check, fix and import ``meta`` into ``graph``.

    ``input_map`` values may be tensors of ``graph`` or anything ``tf.constant`` accepts.

    Returns:
        ``(saver, import_scope)``: the saver built from the SaverDef (None without one) and the
        scope actually used (a fresh one when ``graph`` already holds these names).

    Raises:
        UnsafeGraphError: the scan found unsafe ops and ``allow_unsafe`` is False.
        UnsupportedFeatureError: ops this TensorFlow does not register.
    """
    if not allow_unsafe:
        raise_if_unsafe(meta, source)
    check_registered_ops(meta, source)
    fixed = prepare_meta_graph(meta, clear_devices=clear_devices, device_map=device_map)
    with graph.as_default():
        scope = free_import_scope(graph, fixed, import_scope)
        if scope:
            scope_shared_names(fixed, scope)
        mapped = _as_graph_tensors(graph, input_map)
        saver = _import_meta_graph(fixed, import_scope=scope, input_map=mapped)
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
