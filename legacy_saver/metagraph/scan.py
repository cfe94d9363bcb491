"""Find the ops in a meta graph that touch files, processes or the network.

A ``.meta`` file is a program: ``import_meta_graph`` followed by ``Saver.restore`` runs
whatever op the ``SaverDef`` names as its restore op, and any ``session.run`` may reach an op
that writes files, starts Python code or talks to a remote address. ``saved_model_cli scan``
checks three op types in the top-level graph only; ops inside function-library bodies (the
branches of ``If``/``Case``, the bodies of ``While``, ``PartitionedCall`` targets) escape it.

``scan`` reads the graph *and every library function*, and reports:

1. every op whose type is in ``RISKY_OPS`` (file, process or network access), unless it is
   part of the SaverDef's own save/restore subgraph;
2. every op of that subgraph that is not save/restore machinery (``SAVER_MACHINERY``): the
   SaverDef's restore op, save tensor and filename tensor are followed through all data and
   control inputs, and anything else found there (a ``WriteFile`` planted as the restore op,
   a ``PyFunc`` hidden behind a control dependency) is a finding;
3. ``PrintV2`` ops whose ``output_stream`` is a file, and ``Debug*`` ops.

The scan only reads protobufs: nothing is imported into a graph and nothing runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from legacy_saver.errors import UnsafeGraphError

from .read import read_meta_graph, read_saved_model

__all__ = [
    "Finding",
    "ScanReport",
    "RISKY_OPS",
    "SAVER_MACHINERY",
    "UNSAFE",
    "WARNING",
    "raise_if_unsafe",
    "scan",
]

UNSAFE = "unsafe"  # refused by LegacyModel.load unless allow_unsafe=True
WARNING = "warning"  # reported: reads files (input pipelines, warm starts, other savers)

_WRITES = (UNSAFE, "writes files")
_CODE = (UNSAFE, "runs arbitrary Python code")
_NET = (UNSAFE, "talks to another process or the network")
_DEBUG = (UNSAFE, "debug op: may write to a file:// or grpc:// debug URL")
_READS = (WARNING, "reads files")
_CKPT_READ = (WARNING, "reads checkpoint files")
_CKPT_WRITE = (UNSAFE, "writes checkpoint files outside the SaverDef's save subgraph")

RISKY_OPS: dict[str, tuple[str, str]] = {
    "WriteFile": _WRITES,
    "ReadFile": (UNSAFE, "reads any file into a tensor"),
    **dict.fromkeys(["Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints"], _CKPT_WRITE),
    **dict.fromkeys(["Restore", "RestoreV2", "RestoreSlice", "LoadAndRemapMatrix"], _CKPT_READ),
    "ShardedFilename": (WARNING, "builds checkpoint file names outside the saver"),
    **dict.fromkeys(["PyFunc", "PyFuncStateless", "EagerPyFunc"], _CODE),
    **dict.fromkeys(
        [
            "DebugIdentity",
            "DebugIdentityV2",
            "DebugIdentityV3",
            "DebugNanCount",
            "DebugNumericSummary",
            "DebugNumericSummaryV2",
        ],
        _DEBUG,
    ),
    **dict.fromkeys(
        [
            "MatchingFiles",
            "ImmutableConst",
            "GenerateVocabRemapping",
            "TFRecordReader",
            "TFRecordReaderV2",
            "FixedLengthRecordReader",
            "FixedLengthRecordReaderV2",
            "WholeFileReader",
            "WholeFileReaderV2",
            "TextLineReader",
            "TextLineReaderV2",
            "LMDBReader",
            "TFRecordDataset",
            "TFRecordDatasetV2",
            "FixedLengthRecordDataset",
            "FixedLengthRecordDatasetV2",
            "TextLineDataset",
            "LMDBDataset",
            "ExperimentalLMDBDataset",
            "CSVDataset",
            "CSVDatasetV2",
            "ExperimentalCSVDataset",
            "InitializeTableFromTextFile",
            "InitializeTableFromTextFileV2",
            "LoadDataset",
        ],
        _READS,
    ),
    **dict.fromkeys(
        [
            "CacheDataset",
            "CacheDatasetV2",
            "SnapshotDataset",
            "SnapshotDatasetV2",
            "SaveDataset",
            "SaveDatasetV2",
            "DatasetToTFRecord",
            "ExperimentalDatasetToTFRecord",
            "CreateSummaryFileWriter",
            "CreateSummaryDbWriter",
            "WriteSummary",
            "WriteScalarSummary",
            "WriteHistogramSummary",
            "WriteImageSummary",
            "WriteAudioSummary",
            "WriteGraphSummary",
            "WriteRawProtoSummary",
            "ImportEvent",
        ],
        _WRITES,
    ),
    **dict.fromkeys(
        [
            "SqlDataset",
            "ExperimentalSqlDataset",
            "DataServiceDataset",
            "DataServiceDatasetV2",
            "DataServiceDatasetV3",
            "DataServiceDatasetV4",
            "RegisterDataset",
            "RegisterDatasetV2",
            "DistributedSave",
            "RemoteCall",
            "BigQueryReader",
            "GcsConfigureCredentials",
            "GcsConfigureBlockCache",
            "_Send",
            "_Recv",
            "_HostSend",
            "_HostRecv",
        ],
        _NET,
    ),
}

# What a SaverDef's save and restore subgraphs are made of (TF 0.x LEGACY to TF 2.x V2
# savers, sharded or not, ref and resource variables, lookup tables, and the
# ``__inference__traced_save``/``_restore`` functions of TF2 SavedModels).
SAVER_MACHINERY = frozenset(
    [
        "Const",
        "Identity",
        "NoOp",
        "Placeholder",
        "PlaceholderWithDefault",
        "StringJoin",
        "ShardedFilename",
        "ShardedFilespec",
        "StaticRegexFullMatch",
        "Select",
        "SelectV2",
        "Pack",
        "Save",
        "SaveV2",
        "SaveSlices",
        "Restore",
        "RestoreV2",
        "RestoreSlice",
        "MergeV2Checkpoints",
        "Assign",
        "AssignVariableOp",
        "ReadVariableOp",
        "VarHandleOp",
        "VariableV2",
        "Variable",
        "DisableCopyOnRead",
        "PartitionedCall",
        "StatefulPartitionedCall",
        "LookupTableExportV2",
        "LookupTableImportV2",
        "LookupTableExport",
        "LookupTableImport",
        "HashTable",
        "HashTableV2",
        "MutableHashTable",
        "MutableHashTableV2",
        "MutableHashTableOfTensors",
        "MutableHashTableOfTensorsV2",
        "MutableDenseHashTable",
        "MutableDenseHashTableV2",
    ]
)
_VARIABLES = frozenset(["VariableV2", "Variable", "VarHandleOp"])
_CALLS = frozenset(["PartitionedCall", "StatefulPartitionedCall"])
_STD_STREAMS = frozenset(
    ["stdout", "stderr", "log(info)", "log(warning)", "log(error)", "log(fatal)"]
)
_DESCRIPTOR_POOL = "local://"  # DecodeProto/EncodeProto reading no file


@dataclass(frozen=True)
class Finding:
    """One op that needs a human's attention.

    Attributes:
        op_name: the node's name.
        op_type: the node's op type.
        where: ``"graph"``, ``"graph (saver)"`` or ``"function <name> (called by ...)"``.
        reason: why it was reported.
        severity: ``"unsafe"`` (refused by default) or ``"warning"`` (only reads files).
    """

    op_name: str
    op_type: str
    where: str
    reason: str
    severity: str = UNSAFE

    def __str__(self) -> str:
        return f"[{self.severity}] {self.op_name} ({self.op_type}) in {self.where}: {self.reason}"


@dataclass(frozen=True)
class ScanReport:
    """What ``scan`` found in one meta graph.

    Attributes:
        source: the file scanned (or ``"<MetaGraphDef>"``).
        findings: every finding, graph first, then functions by name.
        nodes_scanned: graph nodes plus function-body nodes looked at.
        functions_scanned: how many library functions were looked at.
    """

    source: str
    findings: tuple[Finding, ...]
    nodes_scanned: int
    functions_scanned: int

    @property
    def unsafe(self) -> tuple[Finding, ...]:
        """Findings that make the graph fail the scan."""
        return tuple(f for f in self.findings if f.severity == UNSAFE)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings that only read files (input pipelines, warm starts)."""
        return tuple(f for f in self.findings if f.severity == WARNING)

    @property
    def ok(self) -> bool:
        """True when no finding is unsafe (the graph passes the scan)."""
        return not self.unsafe

    def __str__(self) -> str:
        head = (
            f"{self.source}: {len(self.unsafe)} unsafe, {len(self.warnings)} warning(s) in "
            f"{self.nodes_scanned} ops ({self.functions_scanned} library functions)"
        )
        return "\n".join([head, *(f"  {f}" for f in self.findings)])


def scan(meta_path_or_metagraphdef: Any) -> ScanReport:
    """Report the ops of a meta graph that touch files, processes or the network.

    Args:
        meta_path_or_metagraphdef: a ``.meta`` path, a checkpoint prefix, a SavedModel
            directory (its ``serve`` meta graph) or a parsed ``MetaGraphDef``.

    Returns:
        A ``ScanReport``; ``report.ok`` is False when an unsafe op was found.
    """
    if isinstance(meta_path_or_metagraphdef, str | os.PathLike):
        source = os.fspath(meta_path_or_metagraphdef)
        if os.path.isdir(source):
            meta = read_saved_model(source)
        else:
            if not os.path.exists(source) and os.path.isfile(source + ".meta"):
                source += ".meta"  # a checkpoint prefix
            meta = read_meta_graph(source)
    else:
        source, meta = "<MetaGraphDef>", meta_path_or_metagraphdef
    walker = _Walker(meta.graph_def)
    sd = meta.saver_def if meta.HasField("saver_def") else None
    roots = [sd.restore_op_name, sd.save_tensor_name, sd.filename_tensor_name] if sd else []
    saver_ops, saver_fns, foreign = walker.closure([r for r in roots if r])
    findings = [
        Finding(
            n,
            t,
            w,
            "in the SaverDef's save/restore subgraph but not save/restore machinery" + _why(t),
        )
        for n, t, w in foreign
    ]
    findings += walker.graph_findings(skip=saver_ops)
    callers = _callers(meta.graph_def)
    for name in sorted(walker.functions):
        if name not in saver_fns:
            where = f"function {name}"
            if name in callers:
                where += f" (called by {', '.join(sorted(callers[name])[:3])})"
            findings += _risky(walker.functions[name].node_def, where)
    count = len(walker.nodes) + sum(len(f.node_def) for f in walker.functions.values())
    return ScanReport(source, tuple(findings), count, len(walker.functions))


class _Walker:
    """Input closures over a GraphDef and its function library."""

    def __init__(self, graph_def: Any) -> None:
        self.nodes = {n.name: n for n in graph_def.node}
        self.functions = {f.signature.name: f for f in graph_def.library.function}

    def closure(self, roots: list[str]) -> tuple[set[str], set[str], list[tuple[str, str, str]]]:
        """Graph nodes and functions reachable from ``roots``, and the non-machinery ops."""
        seen: set[str] = set()
        fns: set[str] = set()
        foreign: list[tuple[str, str, str]] = []
        stack = [_node_name(r) for r in roots]
        while stack:
            name = stack.pop()
            node = self.nodes.get(name)
            if name in seen or node is None:  # import_meta_graph reports dangling names
                continue
            seen.add(name)
            if node.op not in SAVER_MACHINERY:
                foreign.append((node.name, node.op, "graph (saver)"))
            if node.op in _CALLS:
                self._enter(node.attr["f"].func.name, fns, foreign)
            if node.op not in _VARIABLES:
                stack.extend(_node_name(i) for i in node.input)
        return seen, fns, foreign

    def _enter(self, fname: str, fns: set[str], foreign: list[tuple[str, str, str]]) -> None:
        """Check a function the saver calls: every op in it must be machinery."""
        fn = self.functions.get(fname)
        if fn is None or fname in fns:
            return
        fns.add(fname)
        for node in fn.node_def:
            if node.op not in SAVER_MACHINERY:
                foreign.append((node.name, node.op, f"function {fname} (saver)"))
            if node.op in _CALLS:
                self._enter(node.attr["f"].func.name, fns, foreign)

    def graph_findings(self, skip: set[str]) -> list[Finding]:
        """Risky graph ops outside ``skip``; pure-machinery savers of their own are warnings."""
        out = []
        for f in _risky((n for n in self.nodes.values() if n.name not in skip), "graph"):
            if f.op_type in ("Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints"):
                _, _, foreign = self.closure([f.op_name])
                if not foreign:
                    f = Finding(
                        f.op_name,
                        f.op_type,
                        f.where,
                        "writes checkpoint files when run "
                        "explicitly (another saver, not the SaverDef's)",
                        WARNING,
                    )
            out.append(f)
        return out


def _risky(nodes: Iterable[Any], where: str) -> Iterator[Finding]:
    for node in nodes:
        found = _reason(node)
        if found:
            yield Finding(node.name, node.op, where, found[1], found[0])


def _reason(node: Any) -> tuple[str, str] | None:
    if node.op == "PrintV2":
        stream = node.attr["output_stream"].s.decode("utf-8", "replace")
        return None if stream in _STD_STREAMS else (UNSAFE, f"prints to {stream!r}")
    if node.op in ("DecodeProtoV2", "EncodeProto"):
        source = node.attr["descriptor_source"].s.decode("utf-8", "replace")
        if source in ("", _DESCRIPTOR_POOL):
            return None
        return (WARNING, f"reads protobuf descriptors from {source!r}")
    if node.op.startswith("Debug"):
        return RISKY_OPS.get(node.op, _DEBUG)
    return RISKY_OPS.get(node.op)


def _why(op_type: str) -> str:
    return f" ({RISKY_OPS[op_type][1]})" if op_type in RISKY_OPS else ""


def _callers(graph_def: Any) -> dict[str, set[str]]:
    """Function name -> nodes (graph or function) whose attrs reference it."""
    out: dict[str, set[str]] = {}
    bodies = [("", graph_def.node)] + [
        (f.signature.name + "/", f.node_def) for f in graph_def.library.function
    ]
    for prefix, body in bodies:
        for node in body:
            for value in node.attr.values():
                names = [value.func.name] + [f.name for f in value.list.func]
                for fname in filter(None, names):
                    out.setdefault(fname, set()).add(prefix + node.name)
    return out


def _node_name(tensor_or_input: str) -> str:
    return tensor_or_input.lstrip("^").split(":")[0]


def raise_if_unsafe(meta: Any, source: str = "<MetaGraphDef>", report: Any = None) -> None:
    """Raise ``UnsafeGraphError`` listing every unsafe op the scan (or ``report``) finds."""
    report = report if report is not None else scan(meta)
    if report.ok:
        return
    lines = "\n".join(f"  {f}" for f in report.unsafe)
    raise UnsafeGraphError(
        f"{source} contains {len(report.unsafe)} op(s) that touch files, processes or the "
        f"network outside the saver's own subgraph; refusing to import it (pass "
        f"allow_unsafe=True if you trust the file):\n{lines}"
    )
