"""What a target model checkpoints: every key, its shape and dtype, and who owns it.

The only reliable source for the keys TensorFlow will look for is TensorFlow's
own serialization of the object graph, so this module asks it, without writing
any tensor: ``save_util.serialize_graph_view`` (TF 2.16-2.21) returns the
``TrackableObjectGraph`` proto TF would store under
``_CHECKPOINTABLE_OBJECT_GRAPH`` plus, per trackable, the checkpoint keys it
saves; ``ObjectGraphView.breadth_first_traversal`` lists the trackables in node
order (node id = position), which ties proto nodes back to Python objects.
Those two private TF functions are the internals this package depends on.

Each variable is then classified — model weight, optimizer slot, optimizer
iteration counter, other optimizer variable, or state with no TF1 counterpart —
and described by a ``TargetVariable`` record, so alignment stays pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..names import unescape_local_name
from .optimizer import OptimizerInfo, describe_optimizer

ROLE_MODEL = "model"
ROLE_SLOT = "slot"
ROLE_ITERATIONS = "iterations"
ROLE_OPTIMIZER = "optimizer"
ROLE_STATE = "state"
_STATE_SUFFIXES = ("seed_generator_state", "save_counter")


@dataclass(frozen=True)
class TargetVariable:
    """One checkpoint key of the target.

    ``names`` are identity names to align on, most specific first (the
    variable's ``full_name``/Keras path, then its object path). A slot names its
    primary variable's key in ``slot_of`` and its TF1 meaning in ``slot``
    (``"m"``, ``"v"``, ``"rms"``...). ``read()`` returns the target's current
    value (numpy), for variables written from the target itself.
    """

    key: str
    shape: tuple[int, ...]
    dtype: str
    names: tuple[str, ...]
    role: str = ROLE_MODEL
    slot_of: str | None = None
    slot: str | None = None
    read: Callable[[], Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TargetSpec:
    """The target as planning sees it: variables, object graph, optimizers."""

    variables: tuple[TargetVariable, ...]
    object_graph: bytes
    optimizers: tuple[OptimizerInfo, ...] = ()


def wrap_target(target: Any) -> Any:
    """A ``tf.train.Checkpoint`` as is; any other trackable as ``Checkpoint(model=target)``."""
    import tensorflow as tf

    if isinstance(target, tf.train.Checkpoint):
        return target
    return tf.train.Checkpoint(model=target)


@dataclass(frozen=True)
class _Graph:
    """The serialized object graph plus what classification needs to know about it."""

    proto: Any
    node_of: dict[int, int]  # id(trackable) -> node id
    optimizers: tuple[OptimizerInfo, ...]
    owned: frozenset[int]  # nodes reachable only through an optimizer
    paths: dict[int, tuple[str, ...]]  # node id -> (object path,)
    key_of_node: dict[int, str]


def collect_target(target: Any) -> TargetSpec:
    """Describe every key ``tf.train.Checkpoint(...).write`` would store for ``target``."""
    from tensorflow.python.checkpoint import graph_view, save_util

    root = wrap_target(target)  # the view only holds a weak reference: keep a strong one
    view = graph_view.ObjectGraphView(root)
    objects, _ = view.breadth_first_traversal()
    tensors, _, _, proto = save_util.serialize_graph_view(view)
    key_of_node = {i: a.checkpoint_key for i, n in enumerate(proto.nodes) for a in n.attributes}
    node_of_key = {key: node for node, key in key_of_node.items()}
    node_of = {id(obj): i for i, obj in enumerate(objects)}
    for obj, saved in tensors.items():  # slot variables are not in the traversal
        for key in saved:
            if key in node_of_key:
                node_of[id(obj)] = node_of_key[key]
    trackables = list(tensors)
    described = (
        describe_optimizer(obj, node_of, proto, trackables) for obj in objects if _is_optimizer(obj)
    )
    optimizers = tuple(o for o in described if o is not None)
    blocked = {o.node for o in optimizers}
    graph = _Graph(
        proto, node_of, optimizers, frozenset(_optimizer_owned(proto, blocked)),
        _object_paths(proto, blocked), key_of_node,
    )  # fmt: skip
    records = [
        _describe(key, obj, value, graph)
        for obj, saved in tensors.items()
        for key, value in saved.items()
        if isinstance(key, str) and key
    ]
    return TargetSpec(tuple(records), proto.SerializeToString(), optimizers)


def _describe(key: str, obj: Any, value: Any, graph: _Graph) -> TargetVariable:
    shape, dtype = _shape_dtype(obj, value)
    node = graph.node_of.get(id(obj))
    attributes = graph.proto.nodes[node].attributes if node is not None else ()
    full_names = [a.full_name for a in attributes if a.full_name]
    paths = graph.paths.get(node, ()) if node is not None else ()
    names = tuple(dict.fromkeys([*full_names, *paths]))
    record = TargetVariable(key, shape, dtype, names, read=lambda: _read(value))
    for opt in graph.optimizers:
        if node is not None and node == opt.iterations_node:
            return replace(record, role=ROLE_ITERATIONS)
        if node in opt.slots:
            primary, meaning = opt.slots[node]
            slot_of = graph.key_of_node.get(primary) if primary is not None else None
            return replace(record, role=ROLE_SLOT, slot_of=slot_of, slot=meaning)
    if node in graph.owned:
        return replace(record, role=ROLE_OPTIMIZER)
    stateful = dtype == "string" or key.startswith("save_counter/")
    if stateful or any(n.endswith(_STATE_SUFFIXES) for n in names[:1]):
        return replace(record, role=ROLE_STATE)
    return record


def _is_optimizer(obj: Any) -> bool:
    mro = [f"{c.__module__}.{c.__name__}" for c in type(obj).__mro__]
    return any(
        name.endswith(("optimizers.base_optimizer.BaseOptimizer", "optimizer_v2.OptimizerV2"))
        or name.endswith(("training.optimizer.Optimizer", "optimizers.optimizer.Optimizer"))
        for name in mro
    )


def _shape_dtype(obj: Any, value: Any) -> tuple[tuple[int, ...], str]:
    import tensorflow as tf

    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        return tuple(int(d) for d in obj.shape), tf.as_dtype(obj.dtype).name
    tensor = _read(value)
    return tuple(tensor.shape), tf.as_dtype(tensor.dtype).name


def _read(value: Any) -> Any:
    """The numpy value of a serialized tensor (TF hands some out as callables)."""
    if isinstance(value, dict):  # sliced saveable: not supported as extra
        return None
    if hasattr(value, "tensor") and hasattr(value, "slice_spec"):  # a SaveSpec/Callable
        value = value.tensor
    elif callable(value) and not hasattr(value, "numpy"):
        value = value()
    return value.numpy() if hasattr(value, "numpy") else value


def _children(proto: Any, node: int) -> list[tuple[str, int]]:
    return [(c.local_name, c.node_id) for c in proto.nodes[node].children]


def _optimizer_owned(proto: Any, optimizer_nodes: set[int]) -> set[int]:
    """Nodes reachable only through an optimizer (not part of the model)."""
    model_side = _reachable(proto, optimizer_nodes)
    owned: set[int] = set()
    for start in optimizer_nodes:
        stack = [start]
        while stack:
            node = stack.pop()
            if node in owned or node in model_side:
                continue
            owned.add(node)
            stack.extend(child for _, child in _children(proto, node))
    return owned


def _reachable(proto: Any, blocked: set[int]) -> set[int]:
    seen, stack = {0}, [0]
    while stack:
        for _, child in _children(proto, stack.pop()):
            if child not in seen and child not in blocked:
                seen.add(child)
                stack.append(child)
    return seen


def _object_paths(proto: Any, blocked: set[int]) -> dict[int, tuple[str, ...]]:
    """Shortest object path of each model-side node, local names unescaped."""
    paths: dict[int, tuple[str, ...]] = {0: ()}
    queue = [0]
    for node in queue:
        for name, child in _children(proto, node):
            if child not in paths and child not in blocked:
                paths[child] = (*paths[node], unescape_local_name(name))
                queue.append(child)
    return {n: ("/".join(p),) for n, p in paths.items() if p}
