"""Is a ``SaverDef``'s subgraph the canonical one a Saver builds, or something else?

``Saver.restore`` runs the op the ``SaverDef`` names, with the file name fed; a ``.meta`` can
name anything there. Safe mode uses the file's restore op only when this module proves it has
exactly the canonical shape (``check_restore``):

- every op it runs is restore machinery: ``RestoreV2``/``Restore``/``RestoreSlice``, the
  assigns into variables and tables, identities, no-ops, constants, variable and table handles,
  the file name placeholder, and for TF2 SavedModels one call of a function made only of these;
- every restore op reads the file named by the ``SaverDef``'s filename tensor (fed by the
  caller), directly or through ``Identity`` (in a function: the argument the call binds to it).

The save side (``check_save``) may run any allowed op (it computes the values to save) plus
``SaveV2``/``Save``/``SaveSlices``/``MergeV2Checkpoints``, each writing only under the filename
tensor: the path must be the filename itself, ``ShardedFilename`` of it, or ``StringJoin`` of it
with a suffix TensorFlow's savers use (``_temp/part``, ``_temp_<uuid hex>/part``, ``.part``,
possibly chosen by ``Select`` on a ``StaticRegexFullMatch``).

Anything else (a ``SaveV2`` fed by the filename behind a ``NoOp`` of the restore op, a
``WriteFile``, a restore op reading a constant path) makes the subgraph non-canonical, and the
reasons say which node broke which rule. Nothing runs here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .ops import CALL_OPS, RESTORE_OPS, SAVE_OPS, unsafe_reason
from .walk import FunctionTable, Node, NodeSource, closure, node_from_def, tensor_name

__all__ = ["SaverCheck", "check_restore", "check_save"]

_VARIABLES = frozenset(["VariableV2", "Variable", "VarHandleOp"])
_TABLES = frozenset(
    [
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
RESTORE_SHAPE = (
    RESTORE_OPS
    | _VARIABLES
    | _TABLES
    | frozenset(
        [
            "NoOp",
            "Identity",
            "IdentityN",
            "Const",
            "Assign",
            "AssignVariableOp",
            "DisableCopyOnRead",
            "LookupTableImport",
            "LookupTableImportV2",
            "Placeholder",
            "PlaceholderWithDefault",
        ]
    )
)
_CALLS = frozenset(["PartitionedCall", "StatefulPartitionedCall"])
# (op, indices of its inputs that name files)
_PATH_INPUTS = {
    "SaveV2": (0,),
    "Save": (0,),
    "SaveSlices": (0,),
    "MergeV2Checkpoints": (0, 1),
    "Restore": (0,),
    "RestoreV2": (0,),
    "RestoreSlice": (0,),
}
SAFE_SUFFIX = re.compile(r"\A(_temp(_[0-9a-f]{32})?[/\\]part|\.part)\Z")
MAX_PATH_DEPTH = 8  # nodes between a path input and the filename tensor


@dataclass(frozen=True)
class SaverCheck:
    """Whether one side (restore or save) of a ``SaverDef`` is canonical.

    Attributes:
        canonical: True when it is (see the module docstring).
        problems: why not, one line per offending node.
        nodes: the graph nodes running it runs.
        functions: the library functions it calls.
    """

    canonical: bool
    problems: tuple[str, ...]
    nodes: frozenset[str]
    functions: frozenset[str]


class FunctionBody:
    """A library function's nodes as a ``NodeSource``; arguments read as ``$arg:NAME``."""

    def __init__(self, function: Any) -> None:
        self.args = [a.name for a in function.signature.input_arg]
        self._defs = {n.name: n for n in function.node_def}
        self._nodes: dict[str, Node] = {}

    def node(self, name: str) -> Node | None:
        if name not in self._nodes:
            node_def = self._defs.get(name)
            if node_def is None:
                return None
            inputs = [self._tensor(i) for i in node_def.input]
            self._nodes[name] = node_from_def(node_def, inputs)
        return self._nodes[name]

    def from_file(self, name: str) -> bool:
        return name in self._defs

    def names(self) -> list[str]:
        return list(self._defs)

    def _tensor(self, text: str) -> str:
        if text.startswith("^"):
            return text
        parts = text.split(":")
        if len(parts) == 1:
            return f"$arg:{parts[0]}"
        return f"{parts[0]}:{parts[-1]}"


def check_restore(
    graph: NodeSource, functions: FunctionTable, restore_op: str, filename_tensor: str
) -> SaverCheck:
    """Whether running ``restore_op`` with ``filename_tensor`` fed is the canonical restore."""
    return _check(graph, functions, restore_op, filename_tensor, restore=True)


def check_save(
    graph: NodeSource, functions: FunctionTable, save_tensor: str, filename_tensor: str
) -> SaverCheck:
    """Whether fetching ``save_tensor`` with ``filename_tensor`` fed is a canonical save."""
    return _check(graph, functions, save_tensor, filename_tensor, restore=False)


def _check(
    graph: NodeSource, functions: FunctionTable, root: str, filename: str, *, restore: bool
) -> SaverCheck:
    filename = tensor_name(filename)
    nodes = closure(graph, [root], fed=[filename])
    problems: list[str] = []
    called: set[str] = set()
    if not nodes:
        problems.append(f"{root!r} is not in the graph")
    for node in nodes:
        if node.op in _CALLS:
            problems += _check_call(graph, functions, node, filename, restore, called)
        else:
            problems += _check_node(node, restore, "graph")
            problems += _check_paths(graph, node, lambda t: t == filename, "graph")
    return SaverCheck(
        not problems, tuple(problems), frozenset(n.name for n in nodes), frozenset(called)
    )


def _check_node(node: Node, restore: bool, where: str) -> list[str]:
    if node.op in _CALLS or node.op in CALL_OPS:
        return [f"{node.name} ({node.op}) in {where}: a call where none is expected"]
    if restore:
        if node.op in RESTORE_SHAPE:
            return []
        return [f"{node.name} ({node.op}) in {where}: not restore machinery"]
    if node.op in SAVE_OPS or node.op in RESTORE_SHAPE:
        return []
    reason = unsafe_reason(node.op, (node.string_attrs or {}).get)
    return [] if reason is None else [f"{node.name} ({node.op}) in {where}: {reason}"]


def _check_call(
    graph: NodeSource,
    functions: FunctionTable,
    call: Node,
    filename: str,
    restore: bool,
    called: set[str],
) -> list[str]:
    """A TF2 SavedModel's traced save/restore: one call of a function of machinery only."""
    if len(set(call.functions)) > 1:  # TF runs ``f``; a second name could be a decoy
        return [f"{call.name} ({call.op}) names {len(set(call.functions))} functions; a "
                "canonical call names one"]  # fmt: skip
    (name,) = call.functions[:1] or ("",)
    function = functions.functions.get(name)
    if function is None:
        return [f"{call.name} ({call.op}) calls an undefined function {name!r}"]
    called.add(name)
    body = FunctionBody(function)
    data = [i for i in call.inputs if not i.startswith("^")]
    bound = {
        f"$arg:{arg}": _through_identity(graph, data[i]) == filename
        for i, arg in enumerate(body.args)
        if i < len(data)
    }
    where = f"function {name}"
    problems = []
    for node_name in body.names():
        node = body.node(node_name)
        if node is None:
            continue
        problems += _check_node(node, restore, where)
        problems += _check_paths(body, node, lambda t: bound.get(t, False), where)
    return problems


def _check_paths(graph: NodeSource, node: Node, is_filename: Any, where: str) -> list[str]:
    """Every file-naming input of a checkpoint op is the filename (or under it)."""
    indices = _PATH_INPUTS.get(node.op, ())
    data = [i for i in node.inputs if not i.startswith("^")]
    problems = []
    for index in indices:
        tensor = data[index] if index < len(data) else None
        if tensor is None or not _under_filename(graph, tensor, is_filename, node.op):
            problems.append(
                f"{node.name} ({node.op}) in {where}: its file name (input {index}) is not "
                "the saver's filename tensor"
            )
    return problems


def _through_identity(graph: NodeSource, tensor: str) -> str:
    for _ in range(MAX_PATH_DEPTH):
        node = graph.node(tensor.split(":")[0]) if not tensor.startswith("$") else None
        if node is None or node.op != "Identity":
            return tensor
        data = [i for i in node.inputs if not i.startswith("^")]
        if not data:
            return tensor
        tensor = data[0]
    return tensor


def _under_filename(graph: NodeSource, tensor: str, is_filename: Any, op: str) -> bool:
    """The path grammar of the module docstring, to a bounded depth."""
    pending = [(tensor, 0, "path")]
    while pending:
        current, depth, kind = pending.pop()
        if depth > MAX_PATH_DEPTH:
            return False
        current = _through_identity(graph, current)
        if kind == "path" and is_filename(current):
            continue
        node = None if current.startswith("$") else graph.node(current.split(":")[0])
        if node is None:
            return False
        data = [i for i in node.inputs if not i.startswith("^")]
        next_items = _expand(node, data, kind, op)
        if next_items is None:
            return False
        pending.extend((t, depth + 1, k) for t, k in next_items)
    return True


def _expand(node: Node, data: list[str], kind: str, op: str) -> Iterable[tuple[str, str]] | None:
    """What a path (or suffix) node is made of, or None when it is not allowed."""
    if kind == "suffix":
        if node.op == "Const":
            return [] if node.strings and all(SAFE_SUFFIX.match(s) for s in node.strings) else None
        if node.op in ("Select", "SelectV2") and len(data) == 3:
            return [(data[1], "suffix"), (data[2], "suffix")]
        return None
    if node.op == "ShardedFilename" and data:
        return [(data[0], "path")]
    if node.op == "StringJoin" and data and not (node.string_attrs or {}).get("separator"):
        return [(data[0], "path"), *((t, "suffix") for t in data[1:])]
    if node.op == "Pack" and op == "MergeV2Checkpoints":
        return [(t, "path") for t in data]
    return None
