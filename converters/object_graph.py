"""Building and reading the ``TrackableObjectGraph`` of a TF2 checkpoint.

Building: every variable is a node reached from the root (node 0) through one
child per path component; a node may hold a value *and* children (TF1 names
``a/b`` and ``a/b/c`` both exist). Its attribute ``VARIABLE_VALUE`` carries
``full_name`` (the TF1 name, which TF's name-based fallback looks up) and the
``checkpoint_key``. Slot variables are nodes of their own, referenced — as TF
writes them — from the ``slot_variables`` of the optimizer node that owns them.

Reading: every saved attribute with its key, ``full_name``, object path, and,
for slots, the original variable's key and the slot name.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from legacy_saver.bundle.protos import TrackableObjectGraph
from legacy_saver.errors import CheckpointError

from .names import VARIABLE_VALUE, object_path, slot_key, variable_key


@dataclass(frozen=True)
class VariableSpec:
    path: tuple[str, ...]  # unescaped local names from the root
    full_name: str


@dataclass(frozen=True)
class SlotSpec:
    variable: tuple[str, ...]  # path of the slot's original variable
    optimizer: tuple[str, ...]  # path of the optimizer node
    slot_name: str
    full_name: str


class _Builder:
    def __init__(self) -> None:
        self.graph = TrackableObjectGraph()
        self.graph.nodes.add()
        self.ids: dict[tuple[str, ...], int] = {(): 0}

    def node(self, path: tuple[str, ...]) -> int:
        found = self.ids.get(path)
        if found is not None:
            return found
        if any(not part for part in path):
            raise CheckpointError(f"object path {'/'.join(path)!r} has an empty component")
        parent = self.node(path[:-1])
        node_id = len(self.graph.nodes)
        self.graph.nodes.add()
        self.graph.nodes[parent].children.add(node_id=node_id, local_name=path[-1])
        self.ids[path] = node_id
        return node_id

    def attribute(self, node_id: int, full_name: str, key: str) -> None:
        node = self.graph.nodes[node_id]
        if node.attributes:
            raise CheckpointError(f"two values for object {key!r}")
        node.attributes.add(name=VARIABLE_VALUE, full_name=full_name, checkpoint_key=key)


def build_object_graph(variables: list[VariableSpec], slots: list[SlotSpec] = ()) -> bytes:  # type: ignore[assignment]
    """Serialize the object graph for ``variables`` and ``slots``; keys follow
    ``names.variable_key``/``names.slot_key``. Output is deterministic."""
    b = _Builder()
    for spec in sorted(variables, key=lambda s: s.path):
        b.attribute(b.node(spec.path), spec.full_name, variable_key(spec.path))
    for slot in sorted(slots, key=lambda s: (s.optimizer, s.slot_name, s.variable)):
        original = b.ids.get(slot.variable)
        if original is None or not b.graph.nodes[original].attributes:
            raise CheckpointError(f"slot {slot.full_name!r} refers to {'/'.join(slot.variable)!r}, "
                                  "which is not a variable")  # fmt: skip
        optimizer = b.node(slot.optimizer)
        slot_id = len(b.graph.nodes)
        b.graph.nodes.add()
        b.attribute(
            slot_id, slot.full_name, slot_key(slot.variable, slot.optimizer, slot.slot_name)
        )
        b.graph.nodes[optimizer].slot_variables.add(
            original_variable_node_id=original,
            slot_name=slot.slot_name,
            slot_variable_node_id=slot_id,
        )
    return bytes(b.graph.SerializeToString(deterministic=True))


@dataclass(frozen=True)
class SavedAttribute:
    """One saved value of an object-based checkpoint.

    ``path`` is the escaped object path (empty for slot nodes, which no
    child edge reaches); ``slot_of`` is the original variable's checkpoint key
    and ``slot_name`` the slot's name; ``in_optimizer`` marks values owned by
    an optimizer (hyperparameters, iterations, slots).
    """

    key: str
    full_name: str
    name: str
    path: str
    slot_of: str | None = None
    slot_name: str | None = None
    in_optimizer: bool = False


def _paths(graph: object) -> dict[int, tuple[str, ...]]:
    paths: dict[int, tuple[str, ...]] = {0: ()}
    queue = deque([0])
    while queue:
        node_id = queue.popleft()
        for child in graph.nodes[node_id].children:  # type: ignore[attr-defined]
            if child.node_id not in paths and child.node_id < len(graph.nodes):  # type: ignore[attr-defined]
                paths[child.node_id] = paths[node_id] + (child.local_name,)
                queue.append(child.node_id)
    return paths


def _optimizer_owned(graph: object) -> set[int]:
    owners = [i for i, n in enumerate(graph.nodes) if n.slot_variables]  # type: ignore[attr-defined]
    owned: set[int] = set()
    queue = deque(owners)
    while queue:
        node_id = queue.popleft()
        if node_id in owned:
            continue
        owned.add(node_id)
        node = graph.nodes[node_id]  # type: ignore[attr-defined]
        queue.extend(c.node_id for c in node.children)
        queue.extend(s.slot_variable_node_id for s in node.slot_variables)
    return owned


def parse_object_graph(graph: object) -> list[SavedAttribute]:
    """Every attribute of ``graph`` (a ``TrackableObjectGraph``), in node order."""
    paths = _paths(graph)
    owned = _optimizer_owned(graph)
    slots: dict[int, tuple[str, str]] = {}
    nodes = graph.nodes  # type: ignore[attr-defined]
    for node in nodes:
        for ref in node.slot_variables:
            original = (
                nodes[ref.original_variable_node_id]
                if ref.original_variable_node_id < len(nodes)
                else None
            )
            if original is not None and original.attributes:
                slots[ref.slot_variable_node_id] = (
                    original.attributes[0].checkpoint_key,
                    ref.slot_name,
                )
    out = []
    for node_id, node in enumerate(nodes):
        for attr in node.attributes:
            slot_of, slot_name = slots.get(node_id, (None, None))
            out.append(SavedAttribute(
                attr.checkpoint_key, attr.full_name, attr.name, object_path(paths.get(node_id, ())),
                slot_of, slot_name, node_id in owned,
            ))  # fmt: skip
    return out
