"""What a Saver's restore op reads: one ``RestoreSpec`` per checkpoint key.

For a Saver we build, the builder records the specs. For a Saver made from a stored
``SaverDef`` (``import_meta_graph``), ``specs_from_graph`` reads them back from the
restore subgraph: the ``RestoreV2`` (V2), ``RestoreSlice`` (V1) or ``Restore`` (LEGACY)
ops' name and slice constants, their dtypes, and the shape of the variable each
output is assigned to. The pre-restore check (``checks.py``) compares them with the
checkpoint; object-based checkpoints are restored by feeding other keys into the
``names_tensor`` constants (TF1 sessions may feed any tensor, constants included).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import tensorflow as tf

from .tf_types import Graph, Operation, Tensor

RESTORE_OP_TYPES = frozenset({"RestoreV2", "RestoreSlice", "Restore"})
_PASS_THROUGH = frozenset({"Identity", "Snapshot"})
MAX_SUBGRAPH_OPS = 1_000_000  # a bound on the restore-subgraph walk


@dataclass(frozen=True)
class RestoreSpec:
    """One tensor a restore op reads.

    Attributes:
        key: The checkpoint key asked for.
        slice_spec: ``""`` (whole tensor) or TF's ``"full_shape offset,length:..."``.
        dtype: TensorFlow ``DataType`` number (``tf.float32.as_datatype_enum``).
        shape: The full shape the checkpoint must hold (dims may be None), or None
            when unknown.
        names_tensor: Name of the string tensor holding the key (fed to rename keys).
        index: Position in ``names_tensor``; -1 when it is a scalar.
        reshape: The value is reshaped on restore: only element counts must agree.
        label: The graph's name for it when that is not ``key`` (``restore_variables``
            maps variables to other checkpoint keys); errors show both.
    """

    key: str
    slice_spec: str
    dtype: int
    shape: tuple[int | None, ...] | None
    names_tensor: str
    index: int
    reshape: bool = False
    label: str | None = None


def full_shape(slice_spec: str) -> tuple[int, ...]:
    """The full shape in a slice spec: ``"3 100 0,3:0,100"`` -> ``(3, 100)``."""
    return tuple(int(d) for d in slice_spec.split(" ")[:-1])


def with_reshape(specs: Iterable[RestoreSpec], reshape: bool) -> tuple[RestoreSpec, ...]:
    return tuple(replace(s, reshape=reshape) for s in specs)


def restore_subgraph(graph: Graph, op_name: str) -> list[Operation]:
    """Every op the named op depends on (data and control inputs), breadth first."""
    start = graph.get_operation_by_name(op_name)
    seen, order, queue = {start.name}, [start], deque([start])
    while queue and len(order) < MAX_SUBGRAPH_OPS:
        op = queue.popleft()
        for dep in [t.op for t in op.inputs] + list(op.control_inputs):
            if dep.name not in seen:
                seen.add(dep.name)
                order.append(dep)
                queue.append(dep)
    return order


def specs_from_graph(graph: Graph, restore_op_name: str) -> tuple[RestoreSpec, ...] | None:
    """The specs of a stored restore subgraph, or None when its keys are not constants."""
    specs: list[RestoreSpec] = []
    restore_ops = [
        op for op in restore_subgraph(graph, restore_op_name) if op.type in RESTORE_OP_TYPES
    ]
    for op in sorted(restore_ops, key=lambda o: o.name):
        found = _specs_of(op)
        if found is None:
            return None
        specs.extend(found)
    return tuple(specs)


def _const(tensor: Tensor) -> np.ndarray | None:
    if tensor.op.type != "Const":
        return None
    value: np.ndarray = tf.make_ndarray(tensor.op.get_attr("value"))
    return value


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _specs_of(op: Operation) -> list[RestoreSpec] | None:
    names = _const(op.inputs[1])
    if names is None:
        return None
    if op.type == "RestoreV2":
        slices = _const(op.inputs[2])
        if slices is None:
            return None
        dtypes = op.get_attr("dtypes")
        rows = [
            (_text(n), _text(s), d, i)
            for i, (n, s, d) in enumerate(zip(names.ravel(), slices.ravel(), dtypes, strict=True))
        ]
    elif op.type == "RestoreSlice":
        slices = _const(op.inputs[2])
        if slices is None:
            return None
        rows = [(_text(names.item()), _text(slices.item()), op.get_attr("dt"), -1)]
    else:  # Restore: whole tensors only
        rows = [(_text(names.item()), "", op.get_attr("dt"), -1)]
    specs: list[RestoreSpec] = []
    for output, (key, slice_spec, dtype, index) in zip(op.outputs, rows, strict=False):
        shape, reshaped = _assigned_shape(output)
        if slice_spec:
            shape = full_shape(slice_spec)
        specs.append(
            RestoreSpec(
                key,
                slice_spec,
                tf.as_dtype(dtype).as_datatype_enum,
                shape,
                op.inputs[1].name,
                index,
                reshaped,
            )
        )
    return specs


def _assigned_shape(tensor: Tensor) -> tuple[tuple[int | None, ...] | None, bool]:
    """The shape of the variable ``tensor`` is assigned to, and whether it is reshaped."""
    queue, seen = deque([tensor]), set()
    while queue:
        current = queue.popleft()
        for consumer in current.consumers():
            if consumer.name in seen:
                continue
            seen.add(consumer.name)
            if consumer.type in _PASS_THROUGH:
                queue.append(consumer.outputs[0])
            elif consumer.type == "Reshape":
                return None, True
            elif consumer.type in ("Assign", "AssignVariableOp"):
                return _target_shape(consumer), False
    return None, False


def _target_shape(assign: Operation) -> tuple[int | None, ...] | None:
    target = assign.inputs[0]
    while target.op.type in _PASS_THROUGH:
        target = target.op.inputs[0]
    if assign.type == "Assign":
        shape = target.shape
    elif target.op.type == "VarHandleOp":
        shape = tf.TensorShape(target.op.get_attr("shape"))
    else:
        return None
    return None if shape.rank is None else tuple(shape.as_list())
