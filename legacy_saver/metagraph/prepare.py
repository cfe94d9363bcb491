"""Pure ``MetaGraphDef`` fixes: the one pipeline both importers run before TensorFlow sees a
meta graph (``legacy_saver.saver.import_meta_graph`` and ``legacy_saver.graph.LegacyModel``).

Every function here takes a proto and returns a new one (or a report); the caller's proto is
never modified, nothing is imported into a graph and nothing runs.

- ``normalize_version``: TF 0.12 wrote ``tensorflow_version: "0.12.head"``, which TF 2's
  importer feeds to ``packaging.version`` and dies on (``InvalidVersion``). We keep the
  leading release (``0.12``) rather than blanking the field, because the importer decides
  from that version whether the ``VariableDef``\\ s carry a ``trainable`` field (written since
  1.9): before 1.9 a variable is trainable when it is listed in ``trainable_variables``.
  Blanking the version made TF 0.12 variables untrainable.
- ``unregistered_ops``/``check_registered_ops``: ops this TensorFlow does not register, in
  the graph *and in every library function body*, listed in one error with the library that
  usually provides each.
- ``check_function_library``: TensorFlow's own importer crashes the process (SIGSEGV) on a
  function library with recursive calls, and on call chains a few thousand deep (TF 2.21:
  5,000 crashed the importer, 1,000 the executor); both are refused with ``UnsafeGraphError``
  before TensorFlow sees them (safe mode refuses to *run* calls nested over 64).
- ``check_saver_def``: a ``SaverDef`` naming ops the graph lacks is a
  ``CorruptCheckpointError`` at import, not a ``KeyError`` at the first restore.
- ``map_devices``: clear or remap the devices baked in by the writer, in the graph and in
  function bodies.
- ``scope_shared_names``: give resource variables and tables of a scoped import their own
  ``shared_name`` (two imports of one ``.meta`` would otherwise share state).
- ``prepare``: the above, in order, from one frozen ``PrepareOptions``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from legacy_saver.errors import CorruptCheckpointError, UnsafeGraphError, UnsupportedFeatureError

from .providers import provider_of

__all__ = [
    "DeviceMap",
    "PrepareOptions",
    "MAX_IMPORT_CALL_DEPTH",
    "check_function_library",
    "check_saver_def",
    "check_registered_ops",
    "copy_meta_graph",
    "map_devices",
    "normalize_version",
    "prepare",
    "scope_shared_names",
    "unregistered_ops",
]

DeviceMap = Mapping[str, str] | Callable[[str], str]
MAX_IMPORT_CALL_DEPTH = 500  # nested calls; TF 2.21's importer crashed at 5,000
_LEADING_RELEASE = re.compile(r"\d+(\.\d+)*")


@dataclass(frozen=True)
class PrepareOptions:
    """What ``prepare`` does to a copy of the meta graph.

    Attributes:
        clear_devices: drop every node's device (graph and function bodies).
        device_map: instead of clearing, map each non-empty device: a dict (devices not in it
            are kept) or a function. Takes precedence over ``clear_devices``.
        shared_name_scope: prefix every ``shared_name`` with ``"<scope>/"`` (None: keep).
        check_ops: raise ``UnsupportedFeatureError`` for unregistered ops.
    """

    clear_devices: bool = False
    device_map: DeviceMap | None = None
    shared_name_scope: str | None = None
    check_ops: bool = True


def copy_meta_graph(meta: Any) -> Any:
    """A private copy of ``meta``."""
    out = type(meta)()
    out.CopyFrom(meta)
    return out


def prepare(meta: Any, options: PrepareOptions, source: str = "<MetaGraphDef>") -> Any:
    """A fixed copy of ``meta`` (see the module docstring); ``meta`` is not touched.

    Raises:
        UnsupportedFeatureError: ops this TensorFlow does not register (with ``check_ops``).
    """
    if options.check_ops:
        check_registered_ops(meta, source)
    check_function_library(meta, source)
    check_saver_def(meta, source)
    out = copy_meta_graph(meta)  # one copy; the steps below change it in place
    _normalize_version(out)
    if options.device_map is not None or options.clear_devices:
        _map_devices(out, options.device_map)
    if options.shared_name_scope:
        _scope_shared_names(out, options.shared_name_scope)
    return out


def bodies(graph_def: Any) -> Iterator[Any]:
    """The node lists of a GraphDef: the graph's, then every library function's."""
    yield graph_def.node
    for function in graph_def.library.function:
        yield function.node_def


def normalize_version(meta: Any) -> Any:
    """A copy whose ``tensorflow_version`` TensorFlow's importer can parse.

    ``"0.12.head"`` becomes ``"0.12"`` (not ``""``: see the module docstring); a version
    without a leading release becomes ``""``. Parsable versions are kept as they are.
    """
    out = copy_meta_graph(meta)
    _normalize_version(out)
    return out


def _normalize_version(meta: Any) -> None:
    text = meta.meta_info_def.tensorflow_version
    if text and not _version_parses(text):
        match = _LEADING_RELEASE.match(text)
        meta.meta_info_def.tensorflow_version = match.group(0) if match else ""


def _version_parses(version: str) -> bool:
    """Whether TensorFlow's version check (``packaging.version``) accepts ``version``."""
    from packaging.version import InvalidVersion, Version

    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


def unregistered_ops(meta: Any) -> dict[str, list[str]]:
    """``{op type: [node names]}`` for op types this TensorFlow does not register.

    Graph nodes and every library function's nodes count; a node whose op is a library
    function (a call by name) does not.
    """
    from tensorflow.python.framework import op_def_registry

    graph_def = meta.graph_def
    library = {f.signature.name for f in graph_def.library.function}
    unknown: dict[str, list[str]] = {}
    prefixes = [""] + [f.signature.name + "/" for f in graph_def.library.function]
    for prefix, body in zip(prefixes, bodies(graph_def), strict=True):
        for node in body:
            if node.op not in library and op_def_registry.get(node.op) is None:
                unknown.setdefault(node.op, []).append(prefix + node.name)
    return dict(sorted(unknown.items()))


def check_registered_ops(meta: Any, source: str = "<MetaGraphDef>") -> None:
    """Raise one ``UnsupportedFeatureError`` naming every unregistered op and its provider."""
    missing = unregistered_ops(meta)
    if not missing:
        return
    lines = [f"  {op}: {provider_of(op)} (used by {_some(nodes)})" for op, nodes in missing.items()]
    raise UnsupportedFeatureError(
        f"{source} uses {len(missing)} op(s) this TensorFlow does not register; import the "
        "library that provides them first:\n" + "\n".join(lines)
    )


def check_function_library(meta: Any, source: str = "<MetaGraphDef>") -> None:
    """Refuse recursive calls and nesting deeper than ``MAX_IMPORT_CALL_DEPTH``.

    Raises:
        UnsafeGraphError: naming the functions (TensorFlow would crash the process).
    """
    from .walk import FunctionTable

    if not meta.graph_def.library.function:
        return
    table = FunctionTable(meta.graph_def.library)
    problems = []
    if table.recursive:
        problems.append(f"recursive calls ({_some(sorted(table.recursive))})")
    deepest = max(table.depth.values(), default=0)
    if deepest > MAX_IMPORT_CALL_DEPTH:
        top = [name for name, depth in table.depth.items() if depth == deepest]
        problems.append(f"calls nested {deepest} deep from {_some(top)}")
    if problems:
        raise UnsafeGraphError(
            f"{source}: its function library has {' and '.join(problems)}; TensorFlow's "
            "importer crashes the process on such graphs, so it is not imported"
        )


def check_saver_def(meta: Any, source: str = "<MetaGraphDef>") -> None:
    """The ``SaverDef``'s restore op, save tensor and filename tensor are nodes of the graph.

    Raises:
        CorruptCheckpointError: naming the field and the missing node (instead of the
            ``KeyError`` a restore would raise later).
    """
    if not meta.HasField("saver_def"):
        return
    nodes = {n.name for n in meta.graph_def.node}
    saver_def = meta.saver_def
    for field in ("restore_op_name", "save_tensor_name", "filename_tensor_name"):
        name = getattr(saver_def, field)
        node = name.lstrip("^").split(":")[0]
        if name and node not in nodes:
            raise CorruptCheckpointError(
                f"{source}: the SaverDef's {field} is {name!r}, but the graph has no node {node!r}"
            )


def _some(names: list[str], shown: int = 3) -> str:
    text = ", ".join(repr(n) for n in names[:shown])
    return text + (f", ... ({len(names)} nodes)" if len(names) > shown else "")


def map_devices(meta: Any, device_map: DeviceMap | None) -> Any:
    """A copy with every non-empty device mapped (``None``: cleared)."""
    out = copy_meta_graph(meta)
    _map_devices(out, device_map)
    return out


def _map_devices(meta: Any, device_map: DeviceMap | None) -> None:
    remap = _device_function(device_map)
    for body in bodies(meta.graph_def):
        for node in body:
            if node.device:
                node.device = remap(node.device)


def _device_function(device_map: DeviceMap | None) -> Callable[[str], str]:
    if device_map is None:
        return lambda _device: ""
    if callable(device_map):
        return device_map
    table = dict(device_map)
    return lambda device: table.get(device, device)


def scope_shared_names(meta: Any, scope: str) -> Any:
    """A copy with every ``shared_name`` attr (resource variables, tables) under ``scope/``.

    Resource variables and tables find their state by ``shared_name``, not by node name; two
    imports of one ``.meta`` would otherwise share every variable even under different scopes.
    """
    out = copy_meta_graph(meta)
    _scope_shared_names(out, scope)
    return out


def _scope_shared_names(meta: Any, scope: str) -> None:
    for body in bodies(meta.graph_def):
        for node in body:
            shared = node.attr.get("shared_name")
            if shared is not None and shared.s:
                shared.s = f"{scope}/".encode() + shared.s
