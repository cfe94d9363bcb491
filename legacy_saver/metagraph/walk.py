"""Bounded, iterative walks over a graph and its function library.

Two questions are answered here, for ``scan`` (on a parsed ``MetaGraphDef``) and for
``LegacyModel`` (on the imported ``tf.Graph``) with the same code:

- *What does running these fetches run?* ``closure`` follows data and control inputs from the
  fetches, stopping at fed tensors (as ``Session.run`` prunes them), and checks every node
  that came from the file against the allowlist (``ops.py``).
- *Is this library function safe to call?* ``FunctionTable`` looks at every function once:
  its own ops, the functions it calls (by op name, or through any ``func``/``list(func)``
  attribute, so functions reached only through attributes count), calls of undefined
  functions, recursion (any cycle in the call graph) and call chains deeper than
  ``MAX_CALL_DEPTH``. Strongly connected components are found with an iterative Tarjan, so a
  chain of any length costs time linear in the library's size and never hits Python's
  recursion limit.

Nothing is imported and nothing runs. Every walk is linear in the size of what it reads,
which is bounded by the file's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .ops import ASSET_READERS, CALL_OPS, unsafe_reason

__all__ = [
    "MAX_CALL_DEPTH",
    "Finding",
    "FunctionTable",
    "Node",
    "NodeSource",
    "ProtoGraph",
    "closure",
    "node_findings",
    "tensor_name",
]

MAX_CALL_DEPTH = 64  # nested function calls; Keras SavedModels nest about 10 deep
MAX_FINDINGS_PER_FUNCTION = 20  # reported per function (all are counted)


@dataclass(frozen=True)
class Finding:
    """One op a fetch, a load step or a file would run that is not on the allowlist.

    Attributes:
        op_name: the node's name (in a function: its name inside the function).
        op_type: the node's op type.
        where: ``"graph"`` or ``"function NAME"`` (with the call chain that reaches it).
        reason: why it is unsafe.
    """

    op_name: str
    op_type: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.op_name} ({self.op_type}) in {self.where}: {self.reason}"


@dataclass(frozen=True)
class Node:
    """What the walks need of a node, from a ``NodeDef`` or a live ``tf.Operation``.

    Attributes:
        name: the node's name.
        op: its op type (or the name of the library function it calls).
        inputs: data inputs as tensor names (``"n:0"``), control inputs as ``"^n"``.
        functions: library functions named by its attributes.
        string_attrs: its string attributes that the allowlist's conditions read.
        strings: for a small string ``Const``, its values (the saver's path suffixes).
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    functions: tuple[str, ...] = ()
    string_attrs: Mapping[str, str] | None = None
    strings: tuple[str, ...] | None = None


class NodeSource(Protocol):
    """A graph to walk: nodes by name, and which of them came from the file."""

    def node(self, name: str) -> Node | None: ...

    def from_file(self, name: str) -> bool: ...


def tensor_name(name: str) -> str:
    """``"n"`` -> ``"n:0"``; ``"n:1"`` unchanged; a control input keeps its ``^``."""
    if name.startswith("^"):
        return name
    return name if ":" in name else name + ":0"


def _producer(tensor: str) -> str:
    return tensor.lstrip("^").rsplit(":", 1)[0] if ":" in tensor else tensor.lstrip("^")


def referenced_functions(attrs: Mapping[str, Any]) -> tuple[str, ...]:
    """Function names in the ``func``/``list(func)`` values of a NodeDef's attributes, and in
    the attributes those values bind (``f = Outer[g=Evil]``: ``Outer``'s body may call ``Evil``
    through a ``$g`` placeholder), at any depth, iteratively."""
    names: list[str] = []
    pending = list(attrs.values())
    while pending:
        value = pending.pop()
        bound = []
        if value.HasField("func"):
            bound.append(value.func)
        elif value.HasField("list"):
            bound.extend(value.list.func)
        for func in bound:
            if func.name:
                names.append(func.name)
            pending.extend(func.attr.values())
    return tuple(dict.fromkeys(names))


PLACEHOLDER_MARK = "$"  # a string attribute bound by the caller: its value is unknown here


def string_attributes(attrs: Mapping[str, Any]) -> dict[str, str]:
    """A NodeDef's string attributes; one that is a function attribute's placeholder (bound
    at the call site, unknown here) reads ``$NAME``, which no condition allows."""
    out = {}
    for key, value in attrs.items():
        if value.s:
            out[key] = value.s.decode("utf-8", "replace")
        elif value.WhichOneof("value") == "placeholder":
            out[key] = PLACEHOLDER_MARK + value.placeholder
    return out


def node_from_def(node_def: Any, inputs: Iterable[str] | None = None) -> Node:
    """A ``Node`` from a ``NodeDef`` (graph syntax inputs unless ``inputs`` is given)."""
    strings = string_attributes(node_def.attr)
    given = inputs if inputs is not None else (tensor_name(i) for i in node_def.input)
    return Node(
        node_def.name,
        node_def.op,
        tuple(given),
        referenced_functions(node_def.attr),
        strings,
        const_strings(node_def) if node_def.op == "Const" else None,
    )


MAX_CONST_STRINGS = 16


def const_strings(node_def: Any) -> tuple[str, ...] | None:
    """The values of a small string ``Const`` (at most ``MAX_CONST_STRINGS``), else None."""
    value = node_def.attr["value"].tensor if "value" in node_def.attr else None
    if value is None or not value.string_val or len(value.string_val) > MAX_CONST_STRINGS:
        return None
    return tuple(v.decode("utf-8", "replace") for v in value.string_val)


class ProtoGraph:
    """A ``GraphDef``'s top-level nodes as a ``NodeSource`` (every node is from the file)."""

    def __init__(self, graph_def: Any) -> None:
        self._defs = {n.name: n for n in graph_def.node}
        self._nodes: dict[str, Node] = {}

    def __len__(self) -> int:
        return len(self._defs)

    def names(self) -> Iterator[str]:
        return iter(self._defs)

    def node(self, name: str) -> Node | None:
        found = self._nodes.get(name)
        if found is None:
            node_def = self._defs.get(name)
            if node_def is None:
                return None
            found = self._nodes[name] = node_from_def(node_def)
        return found

    def from_file(self, name: str) -> bool:
        return name in self._defs


# -- functions ---------------------------------------------------------------------------


class FunctionTable:
    """Every library function of a graph, checked once against the allowlist.

    ``problems(name)`` lists what calling ``name`` would run that is unsafe, through any
    depth of calls; ``is_safe(name)`` says whether that list is empty.
    """

    def __init__(self, library: Any) -> None:
        self.functions = {f.signature.name: f for f in library.function}
        self._own: dict[str, list[Finding]] = {}
        self._structural: dict[str, list[Finding]] = {}
        self._callees: dict[str, list[tuple[str, str]]] = {}  # (callee, calling node)
        for name, function in self.functions.items():
            self._own[name], self._callees[name] = self._look_at(name, function)
        self.callers_of: dict[str, set[str]] = {}  # function -> functions calling it
        for caller, callees in self._callees.items():
            for callee, _node in callees:
                self.callers_of.setdefault(callee, set()).add(caller)
        self.depth: dict[str, int] = {}  # longest call chain from each function (1: no calls)
        self.recursive: set[str] = set()  # functions on a call cycle
        self._problems = self._propagate()

    def __len__(self) -> int:
        return len(self.functions)

    def node_count(self) -> int:
        return sum(len(f.node_def) for f in self.functions.values())

    def is_safe(self, name: str) -> bool:
        return not self.problems(name)

    def problems(self, name: str) -> tuple[Finding, ...]:
        """Unsafe things calling ``name`` runs (an undefined function is one)."""
        if name not in self.functions:
            return (Finding(name, name, "the function library", "calls an undefined function"),)
        return self._problems[name]

    def own_findings(self, name: str) -> tuple[Finding, ...]:
        """Unsafe ops in ``name``'s own body, and its calls of undefined functions, recursion
        and too-deep nesting (not what the functions it calls contain). Nesting is reported
        only for the outermost functions too deep (a chain of 1,000 is one finding)."""
        structural = self._structural.get(name, [])
        if any(self.depth.get(c, 0) > MAX_CALL_DEPTH for c in self.callers_of.get(name, ())):
            structural = [f for f in structural if not _is_depth(f)]
        return tuple(self._own.get(name, ())) + tuple(structural)

    def _look_at(self, name: str, function: Any) -> tuple[list[Finding], list[tuple[str, str]]]:
        own: list[Finding] = []
        callees: list[tuple[str, str]] = []
        where = f"function {name}"
        for node_def in function.node_def:
            node = node_from_def(node_def, inputs=())
            called = list(node.functions)
            if node.op in self.functions:
                called.append(node.op)
            elif node.op not in CALL_OPS:
                reason = unsafe_reason(node.op, (node.string_attrs or {}).get)
                if reason is not None:
                    own.append(Finding(node.name, node.op, where, reason))
            callees.extend((callee, node.name) for callee in called)
        # A ``func`` attribute's default binds a ``$placeholder`` in the body when the caller
        # leaves it unset: the body may call it.
        defaults = {a.name: a.default_value for a in function.signature.attr}
        callees.extend((callee, "(attribute default)") for callee in referenced_functions(defaults))
        return own, callees

    def _propagate(self) -> dict[str, tuple[Finding, ...]]:
        """Findings per function, through calls, in reverse topological order of the SCCs."""
        components = _strongly_connected(
            list(self.functions),
            lambda f: [c for c, _ in self._callees[f] if c in self.functions],
        )
        problems: dict[str, tuple[Finding, ...]] = {}
        depth = self.depth
        for component in components:  # callees come first (Tarjan's output order)
            members = set(component)
            recursive = len(component) > 1 or any(
                c == component[0] for c, _ in self._callees[component[0]]
            )
            for name in component:
                found = list(self._own[name][:MAX_FINDINGS_PER_FUNCTION])
                structural: list[Finding] = []
                self._structural[name] = structural
                deepest = 0
                for callee, caller in self._callees[name]:
                    if callee not in self.functions:
                        structural.append(
                            Finding(
                                caller, callee, f"function {name}", "calls an undefined function"
                            )
                        )
                    elif callee not in members:
                        deepest = max(deepest, depth[callee])
                        inherited = [f for f in problems[callee] if not _is_depth(f)]
                        found.extend(_via(inherited, f"{name}/{caller}"))
                if recursive:
                    self.recursive.add(name)
                    cycle = " -> ".join(sorted(members)[:5])
                    structural.append(
                        Finding(name, name, f"function {name}", f"recursive calls ({cycle})")
                    )
                depth[name] = deepest + 1
                if depth[name] > MAX_CALL_DEPTH:
                    structural.append(
                        Finding(
                            name,
                            name,
                            f"function {name}",
                            f"{DEPTH_REASON} {depth[name]} deep (over {MAX_CALL_DEPTH})",
                        )
                    )
                found.extend(structural)
                problems[name] = tuple(_dedupe(found)[:MAX_FINDINGS_PER_FUNCTION])
        return problems


DEPTH_REASON = "calls nest"


def _is_depth(finding: Finding) -> bool:
    """A too-deep nesting finding: each function over the limit has its own."""
    return finding.reason.startswith(DEPTH_REASON)


def _via(findings: Iterable[Finding], caller: str) -> Iterator[Finding]:
    """``findings`` of a called function, saying which node calls it (the innermost call
    is kept: it names the function body the op sits in)."""
    for f in findings:
        if "(called by " in f.where or f.where.startswith("the function library"):
            yield f
        else:
            yield Finding(f.op_name, f.op_type, f"{f.where} (called by {caller})", f.reason)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for f in findings:
        key = (f.op_name, f.op_type, f.reason)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _strongly_connected(vertices: list[str], edges: Callable[[str], list[str]]) -> list[list[str]]:
    """Tarjan's algorithm without recursion; components in reverse topological order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in vertices:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work.append((root, iter(edges(root))))
        while work:
            vertex, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges(child))))
                    advanced = True
                    break
                if child in on_stack:
                    low[vertex] = min(low[vertex], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[vertex])
            if low[vertex] == index[vertex]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == vertex:
                        break
                out.append(component)
    return out


# -- graphs ------------------------------------------------------------------------------


def node_findings(
    node: Node,
    functions: FunctionTable,
    *,
    asset_feeds: frozenset[str] = frozenset(),
    permitted: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Why running one graph node from the file is unsafe (empty when it is safe).

    Args:
        node: the node.
        functions: the file's function library.
        asset_feeds: tensors fed with verified asset paths; an ``ASSET_READERS`` op whose file
            name input is one of them may run.
        permitted: node names allowed whatever their type (the canonical saver's restore ops).
    """
    if node.name in permitted:
        return []
    if node.op in CALL_OPS or node.op in functions.functions:
        called = list(node.functions)
        if node.op in functions.functions:
            called.append(node.op)
        found: list[Finding] = []
        for name in called:
            found.extend(_via(functions.problems(name), node.name))
        return _dedupe(found)
    reader_input = ASSET_READERS.get(node.op)
    if reader_input is not None and _data_input(node, reader_input) in asset_feeds:
        return []
    reason = unsafe_reason(node.op, (node.string_attrs or {}).get)
    if reason is None:
        return []
    found = [Finding(node.name, node.op, "graph", reason)]
    for name in node.functions:  # what an unsafe op would run too (a dataset's functions)
        found.extend(_via(functions.problems(name), node.name))
    return _dedupe(found)


def _data_input(node: Node, index: int) -> str | None:
    data = [i for i in node.inputs if not i.startswith("^")]
    return data[index] if index < len(data) else None


def closure(
    graph: NodeSource,
    roots: Iterable[str],
    *,
    fed: Iterable[str] = (),
) -> list[Node]:
    """Every node running ``roots`` runs: data and control inputs, stopping at fed tensors.

    Args:
        graph: the nodes.
        roots: tensor names (``"y:0"``) or op names (``"init"``, ``"^init"``).
        fed: tensor names that are fed (their producer is not run for that input).

    Returns:
        The nodes reached, each once; names that are not in the graph are skipped (importers
        report dangling names).
    """
    fed_set = {tensor_name(t) for t in fed}
    seen: set[str] = set()
    out: list[Node] = []
    stack = []
    for root in roots:
        if ":" in root and not root.startswith("^") and tensor_name(root) in fed_set:
            continue
        stack.append(_producer(root))
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        node = graph.node(name)
        if node is None:
            continue
        out.append(node)
        for tensor in node.inputs:
            if tensor.startswith("^") or tensor not in fed_set:
                stack.append(_producer(tensor))
    return out
