"""Building and reading the ``TrackableObjectGraph`` of a TF2 checkpoint.

Building: every variable is a node reached from the root (node 0) through one
child per path component; a node may hold a value *and* children (TF1 names
``a/b`` and ``a/b/c`` both exist). Its attribute ``VARIABLE_VALUE`` carries
``full_name`` (the TF1 name, which TF's name-based fallback looks up) and the
``checkpoint_key``. Slot variables are nodes of their own, referenced — as TF
writes them — from the ``slot_variables`` of the optimizer node that owns them.

Reading: every saved attribute with its key, ``full_name`` and, for slots,
the original variable's key and the slot name. The graph comes from the
file, so it is hostile input: ``read_object_graph`` turns bytes that do not
parse and references to nodes that do not exist into
``CorruptCheckpointError`` naming the file and the key, and everything runs
in time and memory linear in the graph's size.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from legacy_saver.bundle.naming import OBJECT_GRAPH_KEY
from legacy_saver.bundle.protos import TrackableObjectGraph
from legacy_saver.errors import CheckpointError, CorruptCheckpointError

from .names import VARIABLE_VALUE, slot_key, variable_key

MAX_PATH_COMPONENTS = 4096  # a name with more scopes is crafted (real ones have < 50)


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
        """The node at ``path``, creating it and its missing ancestors (no recursion:
        a name may have thousands of components)."""
        found = self.ids.get(path)
        if found is not None:
            return found
        if any(not part for part in path):
            raise CheckpointError(f"object path {'/'.join(path)!r} has an empty component")
        if len(path) > MAX_PATH_COMPONENTS:
            raise CheckpointError(
                f"object path {'/'.join(path[:3])}/... has {len(path)} components; at most "
                f"{MAX_PATH_COMPONENTS} are supported"
            )
        depth = len(path)
        while path[: depth - 1] not in self.ids:
            depth -= 1
        parent = self.ids[path[: depth - 1]]
        for end in range(depth, len(path) + 1):
            node_id = len(self.graph.nodes)
            self.graph.nodes.add()
            self.graph.nodes[parent].children.add(node_id=node_id, local_name=path[end - 1])
            self.ids[path[:end]] = node_id
            parent = node_id
        return parent

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

    ``slot_of`` is the original variable's checkpoint key and ``slot_name``
    the slot's name; ``in_optimizer`` marks values owned by an optimizer
    (hyperparameters, iterations, slots).
    """

    key: str
    full_name: str
    name: str
    slot_of: str | None = None
    slot_name: str | None = None
    in_optimizer: bool = False


def decode_object_graph(data: bytes, where: str) -> Any:
    """Parse and check a serialized ``TrackableObjectGraph``; ``where`` (the file)
    names it in errors.

    Raises:
        CorruptCheckpointError: the bytes are not a ``TrackableObjectGraph``, or a
            child or slot reference names a node that does not exist.
    """
    graph = TrackableObjectGraph()
    try:
        graph.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:  # DecodeError; C++ parser: others
        raise CorruptCheckpointError(
            f"{where}: {OBJECT_GRAPH_KEY} is not a TrackableObjectGraph ({len(data)} bytes): {exc}"
        ) from None
    check_object_graph(graph, where)
    return graph


def check_object_graph(graph: Any, where: str) -> None:
    """Refuse references to nodes that do not exist (one pass, linear)."""
    n = len(graph.nodes)
    if n == 0:
        raise CorruptCheckpointError(f"{where}: {OBJECT_GRAPH_KEY} has no nodes (no root)")
    for node_id, node in enumerate(graph.nodes):
        for child in node.children:
            if not 0 <= child.node_id < n:
                raise CorruptCheckpointError(
                    f"{where}: {OBJECT_GRAPH_KEY} node {node_id} has child "
                    f"{child.local_name!r} -> node {child.node_id}, but there are {n} nodes"
                )
        for ref in node.slot_variables:
            for what, ref_id in (("variable", ref.original_variable_node_id),
                                 ("slot", ref.slot_variable_node_id)):  # fmt: skip
                if not 0 <= ref_id < n:
                    raise CorruptCheckpointError(
                        f"{where}: {OBJECT_GRAPH_KEY} node {node_id} has slot "
                        f"{ref.slot_name!r} whose {what} is node {ref_id}, but there are {n} nodes"
                    )


def read_object_graph(reader: Any) -> Any:
    """The checked object graph of the object-based checkpoint ``reader`` reads,
    None for a name-based one (see ``decode_object_graph``)."""
    if not reader.has_tensor(OBJECT_GRAPH_KEY):
        return None
    value = reader.get_tensor(OBJECT_GRAPH_KEY)
    where = reader.prefix
    if value.dtype != object or value.size != 1:
        raise CorruptCheckpointError(
            f"{where}: {OBJECT_GRAPH_KEY} must be one string, found {value.dtype} "
            f"of shape {list(value.shape)}"
        )
    return decode_object_graph(bytes(value.reshape(-1)[0]), where)


def _optimizer_owned(graph: Any) -> set[int]:
    """Nodes reachable from a node that owns slot variables (each visited once)."""
    owners = [i for i, n in enumerate(graph.nodes) if n.slot_variables]
    owned: set[int] = set()
    queue = deque(owners)
    while queue:
        node_id = queue.popleft()
        if node_id in owned:
            continue
        owned.add(node_id)
        node = graph.nodes[node_id]
        queue.extend(c.node_id for c in node.children)
        queue.extend(s.slot_variable_node_id for s in node.slot_variables)
    return owned


def parse_object_graph(graph: Any) -> list[SavedAttribute]:
    """Every attribute of ``graph`` (a checked ``TrackableObjectGraph``), in node
    order. Linear in the graph's size: no object paths are built (a crafted chain
    200,000 nodes deep would make them quadratic), keys already say where a value is."""
    owned = _optimizer_owned(graph)
    slots: dict[int, tuple[str, str]] = {}
    nodes = graph.nodes
    for node in nodes:
        for ref in node.slot_variables:
            original = nodes[ref.original_variable_node_id]
            if original.attributes:
                slots[ref.slot_variable_node_id] = (
                    original.attributes[0].checkpoint_key,
                    ref.slot_name,
                )
    out = []
    for node_id, node in enumerate(nodes):
        for attr in node.attributes:
            slot_of, slot_name = slots.get(node_id, (None, None))
            out.append(SavedAttribute(attr.checkpoint_key, attr.full_name, attr.name,
                                      slot_of, slot_name, node_id in owned))  # fmt: skip
    return out
