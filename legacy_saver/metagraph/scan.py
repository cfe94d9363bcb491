"""Scan a meta graph: what in it is unsafe, what a safe load runs, what each output reaches.

A ``.meta`` file is a program: ``import_meta_graph`` followed by ``Saver.restore`` runs
whatever op the ``SaverDef`` names as its restore op, a SavedModel's loader runs its main op,
and any ``session.run`` may reach an op that writes files, starts Python code or talks to a
remote address. ``saved_model_cli scan`` checks three op types (a denylist) in the top-level
graph only.

``scan`` uses an allowlist (``ops.py``: an op type that is not on it is unsafe, including
every op this TensorFlow does not register) over the graph *and every library function*
(``walk.py``: ``If``/``While``/``Case`` bodies, ``PartitionedCall`` targets, functions named
only by attributes, recursion and deep nesting), and reports:

- ``findings``: every unsafe op in the file, except the checkpoint I/O of canonical savers
  (``saverdef.py``); ``report.ok`` when there is none;
- ``load``: what ``LegacyModel.load`` runs in safe mode (``loading.py``): the restore (the
  file's op when canonical, else ours) and a SavedModel's init op (run or refused), with the
  assets it is fed (a name escaping ``assets/`` is a finding); ``report.loads_safely`` when no
  step reaches an unsafe op;
- ``fetches``: per signature output and per collection of ops (``train_op``, ``init_op``,
  queue runners, ...), the unsafe ops fetching it would run (``LegacyModel.run`` refuses
  those fetches).

The scan only reads protobufs: nothing is imported into a graph and nothing runs. Its work is
linear in the file's size; the per-fetch walks share a budget (``FETCH_BUDGET_PER_NODE``) so
a file with many collections cannot make it quadratic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from legacy_saver.errors import UnsafeGraphError

from .assets import Asset, collect_assets, resolve_assets
from .loading import LoadStep, find_init_ops, init_step, restore_step, run_findings, variable_nodes
from .locate import locate_meta_graph
from .ops import CALL_OPS, unsafe_reason
from .read import read_meta_graph, read_saved_model
from .saverdef import check_save
from .walk import Finding, FunctionTable, ProtoGraph, closure

__all__ = ["FetchCheck", "Finding", "LoadStep", "ScanReport", "raise_if_unsafe", "scan"]

FETCH_BUDGET_PER_NODE = 20  # node visits of all fetch walks together, per graph node
_SAVERS = "savers"
_QUEUE_RUNNERS = "queue_runners"


@dataclass(frozen=True)
class FetchCheck:
    """What fetching one output (or running one collection) would run that is unsafe.

    Attributes:
        name: ``"signature KEY output NAME"`` or ``"collection KEY"``.
        tensors: the tensors or ops fetched.
        findings: the unsafe ops reached (empty: safe to fetch).
        checked: False when the scan's budget ran out before this walk (``LegacyModel.run``
            still checks at run time).
    """

    name: str
    tensors: tuple[str, ...]
    findings: tuple[Finding, ...]
    checked: bool = True


@dataclass(frozen=True)
class ScanReport:
    """What ``scan`` found in one meta graph.

    Attributes:
        source: the file scanned (or ``"<MetaGraphDef>"``).
        findings: every unsafe op in the file (graph first, then functions by name).
        load: what a safe ``LegacyModel.load`` runs, step by step.
        fetches: per output and op collection, the unsafe ops fetching it would run.
        nodes_scanned: graph nodes plus function-body nodes looked at.
        functions_scanned: how many library functions were looked at.
    """

    source: str
    findings: tuple[Finding, ...]
    load: tuple[LoadStep, ...]
    fetches: tuple[FetchCheck, ...]
    nodes_scanned: int
    functions_scanned: int

    @property
    def ok(self) -> bool:
        """True when nothing in the file is unsafe."""
        return not self.findings

    @property
    def unsafe(self) -> tuple[Finding, ...]:
        """The findings (every one is unsafe: the list is an allowlist)."""
        return self.findings

    @property
    def loads_safely(self) -> bool:
        """True when nothing a safe ``LegacyModel.load`` runs reaches an unsafe op."""
        return all(step.safe for step in self.load)

    def __str__(self) -> str:
        head = (
            f"{self.source}: {len(self.findings)} unsafe op(s) in {self.nodes_scanned} ops "
            f"({self.functions_scanned} library functions); safe load "
            + ("runs nothing unsafe" if self.loads_safely else "refuses it")
        )
        lines = [head]
        for step in self.load:
            lines.append(f"  load {step.name}: {step.action}")
            lines += [f"    {note}" for note in step.notes]
            lines += [f"    {f}" for f in step.findings]
        lines += [f"  unsafe: {f}" for f in self.findings]
        for fetch in self.fetches:
            if fetch.findings or not fetch.checked:
                state = "not checked (scan budget)" if not fetch.checked else "would run"
                lines.append(f"  fetch {fetch.name}: {state} {len(fetch.findings)} unsafe op(s)")
                lines += [f"    {f}" for f in fetch.findings]
        return "\n".join(lines)


def scan(meta_path_or_metagraphdef: Any) -> ScanReport:
    """Scan a meta graph (see the module docstring).

    Args:
        meta_path_or_metagraphdef: a ``.meta`` path, a checkpoint prefix (its ``.meta``, even
            when a file named like the prefix exists), a checkpoint directory (its latest
            checkpoint's ``.meta``), a SavedModel directory (its ``serve`` meta graph) or a
            parsed ``MetaGraphDef``.

    Raises:
        CheckpointNotFoundError: no meta graph there.
        CheckpointError: the file is not a regular file, or not a meta graph.
    """
    if isinstance(meta_path_or_metagraphdef, str | os.PathLike):
        location = locate_meta_graph(meta_path_or_metagraphdef)
        if location.saved_model_dir is not None:
            meta = read_saved_model(location.saved_model_dir)
        else:
            meta = read_meta_graph(location.meta_path)
        return scan_meta_graph(meta, location.meta_path, location.saved_model_dir)
    return scan_meta_graph(meta_path_or_metagraphdef)


def scan_meta_graph(
    meta: Any, source: str = "<MetaGraphDef>", saved_model_dir: str | None = None
) -> ScanReport:
    """``scan`` of a parsed ``MetaGraphDef`` (assets resolved when ``saved_model_dir``)."""
    graph = ProtoGraph(meta.graph_def)
    functions = FunctionTable(meta.graph_def.library)
    exempt_nodes, exempt_functions = _canonical_saver_parts(graph, functions, meta)
    findings = list(_graph_findings(graph, functions, exempt_nodes))
    findings += _function_findings(meta.graph_def, functions, exempt_functions)
    load, asset_findings = _load_steps(meta, graph, functions, saved_model_dir)
    findings += asset_findings
    fetches = _fetch_checks(meta, graph, functions)
    return ScanReport(
        source,
        tuple(findings),
        tuple(load),
        tuple(fetches),
        len(graph) + functions.node_count(),
        len(functions),
    )


def _saver_defs(meta: Any) -> Iterator[Any]:
    from tensorflow.core.protobuf import saver_pb2

    if meta.HasField("saver_def"):
        yield meta.saver_def
    collection = meta.collection_def.get(_SAVERS)
    if collection is not None:
        for raw in collection.bytes_list.value:
            try:
                yield saver_pb2.SaverDef.FromString(raw)
            except Exception:  # protobuf's DecodeError: not a saver, nothing to exempt
                continue


def _canonical_saver_parts(
    graph: ProtoGraph, functions: FunctionTable, meta: Any
) -> tuple[frozenset[str], frozenset[str]]:
    """Nodes and functions of canonical saver subgraphs: their checkpoint I/O is expected."""
    from .saverdef import check_restore

    nodes: set[str] = set()
    called: set[str] = set()
    for saver_def in _saver_defs(meta):
        filename = saver_def.filename_tensor_name
        for root, check in (
            (saver_def.restore_op_name, check_restore),
            (saver_def.save_tensor_name, check_save),
        ):
            if root and filename:
                result = check(graph, functions, root, filename)
                if result.canonical:
                    nodes |= result.nodes
                    called |= result.functions
    return frozenset(nodes), frozenset(called)


def _graph_findings(
    graph: ProtoGraph, functions: FunctionTable, exempt: frozenset[str]
) -> Iterator[Finding]:
    """Unsafe top-level nodes; calls are listed under the functions they call."""
    for name in graph.names():
        node = graph.node(name)
        if node is None or name in exempt:
            continue
        for fname in node.functions:
            if fname not in functions.functions:
                yield Finding(name, node.op, "graph", f"calls an undefined function {fname!r}")
        if node.op in CALL_OPS or node.op in functions.functions:
            continue
        reason = unsafe_reason(node.op, (node.string_attrs or {}).get)
        if reason is not None:
            yield Finding(name, node.op, "graph", reason)


def _function_findings(
    graph_def: Any, functions: FunctionTable, exempt: frozenset[str]
) -> list[Finding]:
    callers = _callers(graph_def)
    out = []
    for name in sorted(functions.functions):
        if name in exempt:
            continue
        suffix = ""
        if name in callers:
            suffix = f" (called by {', '.join(sorted(callers[name])[:3])})"
        for f in functions.own_findings(name):
            out.append(Finding(f.op_name, f.op_type, f.where + suffix, f.reason))
    return out


def _callers(graph_def: Any) -> dict[str, set[str]]:
    """Function name -> nodes (graph or function) that call it or name it in an attribute."""
    from .walk import referenced_functions

    library = {f.signature.name for f in graph_def.library.function}
    out: dict[str, set[str]] = {}
    bodies = [("", graph_def.node)] + [
        (f.signature.name + "/", f.node_def) for f in graph_def.library.function
    ]
    for prefix, body in bodies:
        for node in body:
            names = list(referenced_functions(node.attr))
            if node.op in library:
                names.append(node.op)
            for fname in names:
                out.setdefault(fname, set()).add(prefix + node.name)
    return out


def _load_steps(
    meta: Any, graph: ProtoGraph, functions: FunctionTable, saved_model_dir: str | None
) -> tuple[list[LoadStep], list[Finding]]:
    saver_def = meta.saver_def if meta.HasField("saver_def") else None
    step, _ = restore_step(graph, functions, saver_def, variable_nodes(meta.graph_def))
    steps = [step]
    init = find_init_ops(meta)
    if init is None:
        return steps, []
    assets, problems = _assets(meta, saved_model_dir)
    key, roots = init
    steps.append(init_step(graph, functions, key, roots, [a.tensor for a in assets]))
    if problems:
        steps.append(LoadStep("assets", "refused (unsafe)", tuple(problems)))
    return steps, problems


def _assets(meta: Any, saved_model_dir: str | None) -> tuple[list[Asset], list[Finding]]:
    try:
        if saved_model_dir is None:
            return collect_assets(meta), []
        return resolve_assets(meta, saved_model_dir), []
    except UnsafeGraphError as e:
        return [], [Finding("asset", "AssetFileDef", "the SavedModel's assets", str(e))]


def _fetch_checks(meta: Any, graph: ProtoGraph, functions: FunctionTable) -> list[FetchCheck]:
    budget = FETCH_BUDGET_PER_NODE * max(len(graph), 1)
    out = []
    for name, tensors, fed in _fetch_targets(meta):
        if budget <= 0:
            out.append(FetchCheck(name, tuple(tensors), (), checked=False))
            continue
        budget -= len(closure(graph, tensors, fed=fed))
        found = run_findings(graph, functions, tensors, fed=fed)
        out.append(FetchCheck(name, tuple(tensors), tuple(found)))
    return out


def _fetch_targets(meta: Any) -> Iterator[tuple[str, list[str], list[str]]]:
    from tensorflow.core.protobuf import queue_runner_pb2

    for key in sorted(meta.signature_def):
        signature = meta.signature_def[key]
        fed = [t.name for t in signature.inputs.values() if t.name]
        for out_key in sorted(signature.outputs):
            tensor = signature.outputs[out_key].name
            if tensor:
                yield f"signature {key} output {out_key}", [tensor], fed
    for key in sorted(meta.collection_def):
        collection = meta.collection_def[key]
        if key == _QUEUE_RUNNERS:
            for i, raw in enumerate(collection.bytes_list.value):
                try:
                    runner = queue_runner_pb2.QueueRunnerDef.FromString(raw)
                except Exception:  # protobuf's DecodeError
                    continue
                yield f"queue runner {i} ({runner.queue_name})", list(runner.enqueue_op_name), []
        elif collection.node_list.value:
            yield f"collection {key}", list(collection.node_list.value), []


def raise_if_unsafe(meta: Any, source: str = "<MetaGraphDef>", report: Any = None) -> None:
    """Raise ``UnsafeGraphError`` listing every unsafe op the scan (or ``report``) finds."""
    report = report if report is not None else scan_meta_graph(meta, source)
    if report.ok:
        return
    lines = "\n".join(f"  {f}" for f in _first(report.findings, 50))
    more = f"\n  ... and {len(report.findings) - 50} more" if len(report.findings) > 50 else ""
    raise UnsafeGraphError(
        f"{source} contains {len(report.findings)} op(s) that are not on the allowlist of "
        "pure computation (they may touch files, processes or the network); refusing to import "
        "it into a graph you will run (pass allow_unsafe=True if you trust the file, or use "
        f"legacy_saver.graph.LegacyModel.load, which checks every fetch):\n{lines}{more}"
    )


def _first(items: Iterable[Finding], count: int) -> list[Finding]:
    out: list[Finding] = []
    for item in items:
        if len(out) == count:
            break
        out.append(item)
    return out
