"""What loading a meta graph runs, decided the same way by ``scan`` and ``LegacyModel``.

A load runs at most three things from the file, and safe mode decides each one here (on a
parsed ``MetaGraphDef`` for ``scan``, on the imported graph for ``LegacyModel``):

1. **The restore.** The ``SaverDef``'s restore op only when ``saverdef.check_restore`` proves
   it canonical; otherwise our own restore subgraph, built from the graph's variables by the
   Saver's builder. Ours still reads the file's variable nodes, so their inputs are checked.
2. **The SavedModel's init op**, as TensorFlow's loader picks it: the ``__saved_model_init_op``
   signature, else the ``saved_model_main_op`` collection, else ``legacy_init_op`` (and, as
   ``LegacyModel`` always did, ``table_initializer``), run with every asset tensor fed. It runs
   only when everything it reaches is allowed (an asset reader fed with a verified asset path
   counts as allowed).
3. Nothing else: queue runners are never started, other collections never run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .saverdef import SaverCheck, check_restore
from .walk import Finding, FunctionTable, NodeSource, closure, node_findings, tensor_name

__all__ = [
    "INIT_SIGNATURE",
    "LoadStep",
    "RESTORE_STEP",
    "find_init_ops",
    "init_step",
    "is_saved_model",
    "restore_step",
    "run_findings",
]

INIT_SIGNATURE = "__saved_model_init_op"
INIT_COLLECTIONS = ("saved_model_main_op", "legacy_init_op", "table_initializer")
RESTORE_STEP = "restore"
FILE_RESTORE = "the file's restore op (canonical)"
OWN_RESTORE = "our own restore subgraph, built from the graph's variables"
RUN = "runs"
REFUSE = "refused (unsafe)"
_VARIABLE_OPS = frozenset(["VariableV2", "Variable", "VarHandleOp"])


@dataclass(frozen=True)
class LoadStep:
    """One thing a safe load runs (or refuses to run).

    Attributes:
        name: ``"restore"``, or the init op's source (``"saved_model_main_op"``, ...).
        action: what safe mode does: the file's canonical restore op, our own restore, runs,
            or refused.
        findings: unsafe ops it would reach (refused steps; for our own restore, the variable
            nodes' inputs).
        notes: why the file's restore op is not canonical, and similar explanations.
    """

    name: str
    action: str
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def safe(self) -> bool:
        return not self.findings


def run_findings(
    graph: NodeSource,
    functions: FunctionTable,
    roots: Iterable[str],
    *,
    fed: Iterable[str] = (),
    asset_feeds: frozenset[str] = frozenset(),
    permitted: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Unsafe nodes from the file that running ``roots`` (with ``fed`` fed) would run."""
    nodes = closure(graph, roots, fed=fed)
    if asset_feeds:
        asset_feeds = _through_identities(nodes, asset_feeds)
    found: list[Finding] = []
    for node in nodes:
        if graph.from_file(node.name):
            found.extend(
                node_findings(node, functions, asset_feeds=asset_feeds, permitted=permitted)
            )
    return found


def _through_identities(nodes: Sequence[Any], tensors: frozenset[str]) -> frozenset[str]:
    """``tensors`` plus the outputs of ``Identity`` chains over them (an asset's path passed
    on unchanged)."""
    identities = {f"{n.name}:0": n.inputs[0] for n in nodes if n.op == "Identity" and n.inputs}
    known: dict[str, bool] = {t: True for t in tensors}
    for start in identities:
        chain = []
        tensor = start
        while tensor not in known and tensor in identities:
            chain.append(tensor)
            known[tensor] = False  # provisional: also stops cycles
            tensor = identities[tensor]
        result = known.get(tensor, False)
        for member in chain:
            known[member] = result
    return frozenset(t for t, is_asset in known.items() if is_asset)


def restore_step(
    graph: NodeSource,
    functions: FunctionTable,
    saver_def: Any | None,
    variable_nodes: Sequence[str],
) -> tuple[LoadStep, SaverCheck | None]:
    """How safe mode restores: the file's canonical restore op, or our own.

    Args:
        graph: the graph (names as imported).
        functions: its function library.
        saver_def: the ``SaverDef`` (names as imported), or None.
        variable_nodes: the variable nodes our own restore would assign.
    """
    check = None
    if saver_def is not None and saver_def.restore_op_name:
        check = check_restore(
            graph, functions, saver_def.restore_op_name, saver_def.filename_tensor_name
        )
        if check.canonical:
            return LoadStep(RESTORE_STEP, FILE_RESTORE), check
    notes = ("the file's restore op is not canonical:", *check.problems) if check else ()
    found = run_findings(graph, functions, variable_nodes)
    return LoadStep(RESTORE_STEP, OWN_RESTORE, tuple(found), notes), check


def variable_nodes(graph_def: Any) -> list[str]:
    """The variable nodes of a GraphDef (what our own restore assigns)."""
    return [n.name for n in graph_def.node if n.op in _VARIABLE_OPS]


def is_saved_model(meta: Any) -> bool:
    """Whether a parsed meta graph came from a SavedModel (they are tagged; ``.meta`` files
    written by a Saver are not)."""
    return bool(meta.meta_info_def.tags)


def find_init_ops(meta: Any) -> tuple[str, list[str]] | None:
    """``(source, op names)`` of the init op TensorFlow's SavedModel loader runs, or None
    (always None for a meta graph that is not from a SavedModel)."""
    if not is_saved_model(meta):
        return None
    signature = meta.signature_def.get(INIT_SIGNATURE)
    if signature is not None and signature.outputs:
        return INIT_SIGNATURE, [t.name for t in signature.outputs.values()]
    for key in INIT_COLLECTIONS:
        collection = meta.collection_def.get(key)
        if collection is not None and collection.node_list.value:
            return key, list(collection.node_list.value)
    return None


def init_step(
    graph: NodeSource,
    functions: FunctionTable,
    name: str,
    roots: Sequence[str],
    asset_tensors: Iterable[str],
) -> LoadStep:
    """Whether the init op may run: every op it reaches is allowed, assets fed."""
    assets = frozenset(tensor_name(t) for t in asset_tensors)
    found = run_findings(graph, functions, roots, fed=assets, asset_feeds=assets)
    return LoadStep(name, REFUSE if found else RUN, tuple(found))
