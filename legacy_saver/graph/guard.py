"""The safe-mode guard of ``LegacyModel``: nothing from the file runs unless it is allowed.

Every ``LegacyModel.run`` (and what ``load``, ``to_function`` and ``export_saved_model`` run)
asks ``Guard.check`` first. The check walks the imported ``tf.Graph`` from the fetches with
``legacy_saver.metagraph.walk`` (the same code ``scan`` uses on the file), stopping at fed
tensors, and refuses with ``UnsafeGraphError`` when a node that came from the file is not on
the allowlist, or calls a library function that reaches one. Nodes the caller or this package
added to the graph are trusted (they are the caller's program), but their inputs are walked:
a new op reading a file node still reaches what that node depends on.

Walks are cached per (fetches, feeds): a training loop pays for the walk once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from legacy_saver.errors import UnsafeGraphError
from legacy_saver.metagraph.loading import run_findings
from legacy_saver.metagraph.ops import ALLOWED, CALL_OPS, CONDITIONS
from legacy_saver.metagraph.walk import Finding, FunctionTable, Node, referenced_functions

__all__ = ["Guard", "LiveGraph"]

MAX_CACHED_WALKS = 1024
MAX_FINDINGS_SHOWN = 20


class LiveGraph:
    """An imported ``tf.Graph`` as a ``NodeSource``; ``file_nodes`` came from the file."""

    def __init__(self, graph: Any, file_nodes: Iterable[str], functions: FunctionTable) -> None:
        self.graph = graph
        self.file_nodes = frozenset(file_nodes)
        self.functions = functions
        self._nodes: dict[str, Node] = {}

    def from_file(self, name: str) -> bool:
        return name in self.file_nodes

    def node(self, name: str) -> Node | None:
        found = self._nodes.get(name)
        if found is not None:
            return found
        try:
            op = self.graph.get_operation_by_name(name)
        except (KeyError, ValueError):
            return None
        found = self._nodes[name] = self._describe(op)
        return found

    def _describe(self, op: Any) -> Node:
        inputs = [t.name for t in op.inputs] + [f"^{c.name}" for c in op.control_inputs]
        functions: tuple[str, ...] = ()
        strings = None
        attrs: dict[str, str] | None = None
        if op.type in CALL_OPS or op.type in self.functions.functions or op.type not in ALLOWED:
            functions = referenced_functions(op.node_def.attr)  # an unsafe op's too: reported
        if op.type in CONDITIONS:
            attr = CONDITIONS[op.type][0]
            value = op.node_def.attr[attr].s if attr in op.node_def.attr else None
            attrs = {} if value is None else {attr: value.decode("utf-8", "replace")}
        if op.type == "Const" and op.get_attr("dtype").name == "string":
            from legacy_saver.metagraph.walk import const_strings

            strings = const_strings(op.node_def)
        return Node(op.name, op.type, tuple(inputs), functions, attrs, strings)


class Guard:
    """Refuses runs that reach unsafe ops from the file (see the module docstring)."""

    def __init__(self, live: LiveGraph, source: str, *, enabled: bool = True) -> None:
        self.live = live
        self.source = source
        self.enabled = enabled
        self._checked: dict[tuple[frozenset[str], frozenset[str]], tuple[Finding, ...]] = {}

    def findings(
        self,
        roots: Iterable[str],
        fed: Iterable[str] = (),
        *,
        asset_feeds: frozenset[str] = frozenset(),
        permitted: frozenset[str] = frozenset(),
    ) -> tuple[Finding, ...]:
        """What running ``roots`` with ``fed`` fed would run from the file that is unsafe."""
        key = (frozenset(roots), frozenset(fed))
        if not asset_feeds and not permitted and key in self._checked:
            return self._checked[key]
        found = tuple(
            run_findings(
                self.live,
                self.live.functions,
                key[0],
                fed=key[1],
                asset_feeds=asset_feeds,
                permitted=permitted,
            )
        )
        if not asset_feeds and not permitted:
            if len(self._checked) >= MAX_CACHED_WALKS:
                self._checked.clear()
            self._checked[key] = found
        return found

    def check(self, roots: Iterable[str], fed: Iterable[str] = (), *, what: str) -> None:
        """Raise ``UnsafeGraphError`` when running ``roots`` reaches an unsafe op."""
        if not self.enabled:
            return
        found = self.findings(roots, fed)
        if found:
            raise UnsafeGraphError(refusal(self.source, what, found))


def refusal(source: str, what: str, found: tuple[Finding, ...], hint: str = "") -> str:
    """The message of a refused run: what, how many unsafe ops, each one, and the way out."""
    shown = "\n".join(f"  {f}" for f in found[:MAX_FINDINGS_SHOWN])
    more = (
        f"\n  ... and {len(found) - MAX_FINDINGS_SHOWN} more"
        if len(found) > MAX_FINDINGS_SHOWN
        else ""
    )
    hint = hint or "pass allow_unsafe=True to LegacyModel.load if you trust the file"
    return (
        f"{source}: {what} would run {len(found)} op(s) from the file that are not on the "
        f"allowlist of pure computation; refusing ({hint}):\n{shown}{more}"
    )
