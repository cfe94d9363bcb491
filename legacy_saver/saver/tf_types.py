"""The shapes of the TensorFlow objects the Saver touches, for the type checker.

TensorFlow ships no type information, so every ``tf.*`` value is ``Any`` to mypy. The
Protocols below name the attributes and methods we actually use, so a misspelt or removed
field (``saver_def.save_tensor``) is caught; the aliases say which kind of graph object an
``Any`` is. Nothing here imports TensorFlow or runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeAlias

Tensor: TypeAlias = Any  # tf.Tensor (a graph tensor, or a variable used as one)
Operation: TypeAlias = Any  # tf.Operation
Graph: TypeAlias = Any  # tf.Graph
Proto: TypeAlias = Any  # a TensorFlow protobuf message (MetaGraphDef, GraphDef, ...)
Variable: TypeAlias = Any  # tf.Variable, a PartitionedVariable or a SaveableObject
VarList: TypeAlias = Sequence[Variable] | Mapping[str, Variable]  # Saver(var_list=...)


class SaverDef(Protocol):
    """``tf.compat.v1.train.SaverDef`` (saver.proto): the fields the Saver reads and sets."""

    filename_tensor_name: str
    save_tensor_name: str
    restore_op_name: str
    max_to_keep: int
    sharded: bool
    keep_checkpoint_every_n_hours: float
    version: int

    def CopyFrom(self, other: SaverDef) -> None: ...  # protobuf's message copy


class Session(Protocol):
    """``tf.compat.v1.Session`` (or a ``MonitoredSession``): a graph and ``run``."""

    @property
    def graph(self) -> Graph: ...

    def run(self, fetches: Any, feed_dict: Mapping[Any, Any] | None = None) -> Any: ...

    def close(self) -> None: ...


class SaveSpec(Protocol):
    """``saveable_object.SaveSpec``: one tensor a SaveableObject writes."""

    name: str
    slice_spec: str
    device: str

    @property
    def tensor(self) -> Tensor: ...  # a tensor, or (resource variables) a closure

    @property
    def dtype(self) -> Any: ...  # tf.DType


class Saveable(Protocol):
    """``saveable_object.SaveableObject``: what ``validate_and_slice_inputs`` returns."""

    name: str
    op: Any
    specs: Sequence[SaveSpec]

    def restore(self, restored_tensors: Sequence[Tensor], restored_shapes: Any) -> Operation: ...


SaveInputs: TypeAlias = tuple[list[str], list[str], list[Tensor]]  # names, slices, tensors
SaveThunk: TypeAlias = Callable[[], SaveInputs]  # called inside a shard's device scope
