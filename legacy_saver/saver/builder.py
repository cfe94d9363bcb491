"""The Saver's own save/restore subgraph and its ``SaverDef``.

The graph has the shape and the node names of the one ``tf.compat.v1.train.Saver``
builds (``save/Const:0`` is the filename, ``save/control_dependency:0`` or
``save/Identity:0`` the save tensor, ``save/restore_all`` the restore op), so tools
that hard-code those names (``freeze_graph``) and stock ``import_meta_graph`` keep
working on our ``.meta`` files:

* unsharded: ``SaveV2(prefix)`` then ``Identity(prefix)``; ``RestoreV2(prefix)`` feeding
  one assign per saveable, grouped into ``restore_all``;
* sharded: one ``SaveV2`` per device into ``<prefix>_temp/part-NNNNN-of-NNNNN``, then
  ``MergeV2Checkpoints`` into ``<prefix>`` (deleting the ``_temp`` directory), then
  ``Identity(prefix)``; one ``RestoreV2`` per device.

The save tensor's value is the prefix written, so the graph writes a valid checkpoint
when stock TensorFlow runs it with the final prefix; our ``Saver.save`` runs it with a
temporary prefix and renames the files (``atomic.py``).

TensorFlow internals used: ``saveable_object_util.op_list_to_dict``,
``validate_and_slice_inputs`` and ``set_cpu0`` (turning ``var_list`` into
SaveableObjects: resource, reference and partitioned variables, saveable objects), and
``variables._all_saveable_objects`` for ``var_list=None``.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
from tensorflow.python.framework import device as pydev
from tensorflow.python.ops import variables as tf_variables
from tensorflow.python.training.saving import saveable_object_util

from ..errors import UnsupportedFeatureError
from .specs import RestoreSpec, full_shape
from .tf_types import (
    Operation,
    Saveable,
    SaveInputs,
    SaverDef,
    SaveThunk,
    Tensor,
    Variable,
    VarList,
)

SAVER_DEF_V1 = 1  # saver.proto: SaverDef.CheckpointFormatVersion.V1 (one table per shard)
SAVER_DEF_V2 = 2  # saver.proto: SaverDef.CheckpointFormatVersion.V2


@dataclass(frozen=True)
class BuildOptions:
    """The constructor arguments that shape the subgraph (``tf.compat.v1.train.Saver``'s)."""

    reshape: bool = False
    sharded: bool = False
    max_to_keep: int = 5
    keep_checkpoint_every_n_hours: float = 10000.0
    name: str | None = None
    restore_sequentially: bool = False
    filename: str | None = None
    write_version: int = SAVER_DEF_V2


@dataclass(frozen=True)
class SaveGroup:
    """What one ``SaveV2`` writes: a device's keys, slice specs and tensors, in order.

    ``device`` is the saveables' canonical device for a sharded saver, ``""`` otherwise.
    """

    device: str
    names: tuple[str, ...]
    slices: tuple[str, ...]
    tensors: tuple[Tensor, ...]


@dataclass(frozen=True)
class BuiltSaver:
    """What ``build_saver`` made: the ``SaverDef``, what its restore op reads, and what its
    save op writes (the async snapshot, ``background.py``, mirrors those groups)."""

    saver_def: SaverDef
    specs: tuple[RestoreSpec, ...]
    groups: tuple[SaveGroup, ...] = ()


def all_saveables() -> list[Variable]:
    """``var_list=None``: every global variable and saveable object, as TF's Saver."""
    found: list[Variable] = tf_variables._all_saveable_objects()  # noqa: SLF001 - documented
    return found


def to_saveables(var_list: VarList) -> list[Saveable]:
    """SaveableObjects for a list (keys are op names) or dict (keys as given)."""
    if not isinstance(var_list, dict):
        var_list = saveable_object_util.op_list_to_dict(var_list)
    saveables: list[Saveable] = saveable_object_util.validate_and_slice_inputs(var_list)
    return saveables


def build_saver(var_list: VarList, options: BuildOptions) -> BuiltSaver:
    """Adds the save/restore subgraph for ``var_list`` to the default graph."""
    saveables = to_saveables(var_list)
    max_to_keep = options.max_to_keep or 0
    with tf.compat.v1.name_scope(options.name, "save", [s.op for s in saveables]):
        filename = tf.compat.v1.placeholder_with_default(
            options.filename or "model", shape=(), name="filename"
        )
        # "Const" is the name every TF1 tool expects ("save/Const:0").
        filename = tf.compat.v1.placeholder_with_default(filename, shape=(), name="Const")
        if options.sharded:
            per_device = group_by_device(saveables)
            inputs = [(device, _inputs_of(group)) for device, group in per_device]
            save_tensor, groups = add_sharded_save_ops(filename, inputs, options.write_version)
            tensors = [t for g in groups for t in g.tensors]
            restore_op, specs = _add_sharded_restore_ops(filename, per_device, tensors, options)
        else:
            group = SaveGroup("", *(tuple(x) for x in _save_inputs(saveables)))
            save_tensor = add_save_ops(filename, group, options.write_version)
            groups, tensors = (group,), list(group.tensors)
            restore_op, specs = _add_restore_ops(filename, saveables, tensors, options)
    _materialize_partitioned_collections()
    saver_def = tf.compat.v1.train.SaverDef(
        filename_tensor_name=filename.name,
        save_tensor_name=save_tensor.name,
        restore_op_name=restore_op.name,
        max_to_keep=max_to_keep,
        sharded=options.sharded,
        keep_checkpoint_every_n_hours=options.keep_checkpoint_every_n_hours,
        version=options.write_version,
    )
    return BuiltSaver(saver_def, tuple(specs), tuple(groups))


def _save_inputs(saveables: Sequence[Saveable]) -> SaveInputs:
    names: list[str] = []
    slices: list[str] = []
    tensors: list[Tensor] = []
    for saveable in saveables:
        for spec in saveable.specs:
            names.append(spec.name)
            slices.append(spec.slice_spec)
            tensors.append(spec.tensor)  # a closure for resource variables: call once
    return names, slices, tensors


def _inputs_of(saveables: Sequence[Saveable]) -> SaveThunk:
    """A thunk giving ``_save_inputs(saveables)``, called inside the shard's device scope."""
    return lambda: _save_inputs(saveables)


def add_save_ops(filename: Tensor, group: SaveGroup, version: int = SAVER_DEF_V2) -> Tensor:
    """``SaveV2(filename, group)`` (V1: ``SaveSlices``, one table named ``filename``, as
    stock's V1 Saver) then ``Identity(filename)``: the save tensor."""
    if version == SAVER_DEF_V1:
        save = tf.raw_ops.SaveSlices(
            filename=filename,
            tensor_names=list(group.names),
            shapes_and_slices=list(group.slices),
            data=list(group.tensors),
            name="SaveSlices",
        )
    else:
        save = tf.raw_ops.SaveV2(
            prefix=filename,
            tensor_names=list(group.names),
            shape_and_slices=list(group.slices),
            tensors=list(group.tensors),
            name="SaveV2",
        )
    with tf.control_dependencies([save]):
        return tf.identity(filename, name="control_dependency")


def add_sharded_save_ops(
    prefix: Tensor, inputs: Sequence[tuple[str, SaveThunk]], version: int = SAVER_DEF_V2
) -> tuple[Tensor, tuple[SaveGroup, ...]]:
    """One SaveV2 per device into temporary parts, merged into ``prefix`` (V1: one
    ``SaveSlices`` table per device, ``prefix-00000-of-00002``, and the save tensor is
    the pattern ``prefix-?????-of-00002``, as stock's V1 Saver).

    ``inputs`` is ``[(device, thunk)]``; each thunk returns ``(names, slices, tensors)`` and
    is called inside that shard's device scope. Returns the save tensor and the groups.
    """
    if version == SAVER_DEF_V1:
        return _add_sharded_v1_save_ops(prefix, inputs)
    with tf.device("CPU"):
        suffix = tf.where(
            tf.strings.regex_full_match(prefix, "^s3://.*"),
            tf.constant(".part"),
            tf.constant(os.path.normpath("_temp/part")),
        )
        tmp_prefix = tf.strings.join([prefix, suffix])
    num_shards = tf.constant(len(inputs), name="num_shards")
    saves: list[Tensor] = []
    parts: list[Tensor] = []
    groups: list[SaveGroup] = []
    last_device: str | None = None
    for shard, (device, thunk) in enumerate(inputs):
        last_device = device
        with tf.device(saveable_object_util.set_cpu0(device)):
            part = tf.raw_ops.ShardedFilename(
                basename=tmp_prefix, shard=shard, num_shards=num_shards
            )
            parts.append(part)
            group = SaveGroup(device, *(tuple(x) for x in thunk()))
            saves.append(add_save_ops(part, group))
            groups.append(group)
    with tf.control_dependencies(saves):
        with tf.device(saveable_object_util.set_cpu0(last_device)):
            merge = tf.raw_ops.MergeV2Checkpoints(
                checkpoint_prefixes=parts, destination_prefix=prefix, delete_old_dirs=True
            )
            with tf.control_dependencies([merge]):
                return tf.identity(prefix), tuple(groups)


def _add_sharded_v1_save_ops(
    prefix: Tensor, inputs: Sequence[tuple[str, SaveThunk]]
) -> tuple[Tensor, tuple[SaveGroup, ...]]:
    num_shards = tf.constant(len(inputs), name="num_shards")
    saves: list[Tensor] = []
    groups: list[SaveGroup] = []
    for shard, (device, thunk) in enumerate(inputs):
        with tf.device(saveable_object_util.set_cpu0(device)):
            part = tf.raw_ops.ShardedFilename(basename=prefix, shard=shard, num_shards=num_shards)
            group = SaveGroup(device, *(tuple(x) for x in thunk()))
            saves.append(add_save_ops(part, group, SAVER_DEF_V1))
            groups.append(group)
    with tf.control_dependencies(saves), tf.device("CPU"):
        spec = tf.raw_ops.ShardedFilespec(basename=prefix, num_shards=num_shards)
    return spec, tuple(groups)


def group_by_device(saveables: Sequence[Saveable]) -> list[tuple[str, list[Saveable]]]:
    """Saveables grouped by their (single) canonical device, sorted by device."""
    per_device: collections.defaultdict[str, list[Saveable]] = collections.defaultdict(list)
    for saveable in saveables:
        devices = {pydev.canonical_name(spec.device) for spec in saveable.specs}
        if len(devices) != 1:
            raise ValueError(
                f"All tensors of a saveable object must be on the same device: {saveable.name}"
            )
        per_device[devices.pop()].append(saveable)
    return sorted(per_device.items(), key=lambda item: item[0])


def _add_sharded_restore_ops(
    filename: Tensor,
    per_device: Sequence[tuple[str, list[Saveable]]],
    tensors: Sequence[Tensor],
    options: BuildOptions,
) -> tuple[Operation, list[RestoreSpec]]:
    restores: list[Operation] = []
    specs: list[RestoreSpec] = []
    start = 0
    for device, saveables in per_device:
        count = sum(len(s.specs) for s in saveables)
        with tf.device(device):
            op, shard_specs = _add_restore_ops(
                filename, saveables, tensors[start : start + count], options, "restore_shard"
            )
        start += count
        restores.append(op)
        specs.extend(shard_specs)
    return tf.group(*restores, name="restore_all"), specs


def _add_restore_ops(
    filename: Tensor,
    saveables: Sequence[Saveable],
    tensors: Sequence[Tensor],
    options: BuildOptions,
    name: str = "restore_all",
) -> tuple[Operation, list[RestoreSpec]]:
    """RestoreV2 (one, or one per saveable chained if ``restore_sequentially``) + assigns."""
    assigns: list[Operation] = []
    specs: list[RestoreSpec] = []
    previous: list[Operation] = []
    start = 0
    groups = [[s] for s in saveables] if options.restore_sequentially else [saveables]
    for group in groups:
        count = sum(len(s.specs) for s in group)
        group_tensors = tensors[start : start + count]
        start += count
        with tf.control_dependencies(previous):
            restored, names_tensor = _restore_v2(filename, group)
            previous = _assign(group, restored, group_tensors, options)
        assigns.extend(previous)
        specs.extend(_restore_specs(group, group_tensors, names_tensor))
    return tf.group(*assigns, name=name), specs


def _restore_v2(filename: Tensor, saveables: Sequence[Saveable]) -> tuple[list[Tensor], str]:
    names: list[str] = []
    slices: list[str] = []
    dtypes: list[Any] = []  # tf.DType
    for saveable in saveables:
        for spec in saveable.specs:
            names.append(spec.name)
            slices.append(spec.slice_spec)
            dtypes.append(spec.dtype.base_dtype)
    with tf.device("cpu:0"):  # string tensors live on the CPU
        restored = tf.raw_ops.RestoreV2(
            prefix=filename,
            tensor_names=names,
            shape_and_slices=slices,
            dtypes=dtypes,
            name="RestoreV2",
        )
    return restored, restored[0].op.inputs[1].name


def _restore_specs(
    saveables: Sequence[Saveable], tensors: Sequence[Tensor], names_tensor: str
) -> list[RestoreSpec]:
    specs: list[RestoreSpec] = []
    for saveable in saveables:
        for spec in saveable.specs:
            index = len(specs)
            shape = tensors[index].shape
            stored = full_shape(spec.slice_spec) if spec.slice_spec else _known(shape)
            specs.append(
                RestoreSpec(
                    key=spec.name,
                    slice_spec=spec.slice_spec,
                    dtype=spec.dtype.base_dtype.as_datatype_enum,
                    shape=stored,
                    names_tensor=names_tensor,
                    index=index,
                )
            )
    return specs


def _known(shape: Any) -> tuple[int | None, ...] | None:
    if shape.rank is None:
        return None
    return tuple(shape.as_list())


def _assign(
    saveables: Sequence[Saveable],
    restored: Sequence[Tensor],
    tensors: Sequence[Tensor],
    options: BuildOptions,
) -> list[Operation]:
    assigns: list[Operation] = []
    index = 0
    for saveable in saveables:
        count = len(saveable.specs)
        shapes: list[Any] | None = None  # TensorShapes, or shape tensors when not fully known
        if options.reshape:
            shapes = []
            for tensor in tensors[index : index + count]:
                shape = tensor.shape
                shapes.append(shape if shape.is_fully_defined() else tf.shape(tensor))
        assigns.append(saveable.restore(restored[index : index + count], shapes))
        index += count
    return assigns


def _materialize_partitioned_collections() -> None:
    """As TF's builder: a PartitionedVariable in a collection needs its concat op in
    the GraphDef, or importing the meta graph fails looking it up."""
    graph = tf.compat.v1.get_default_graph()
    for key in graph.get_all_collection_keys():
        for element in graph.get_collection(key):
            if isinstance(element, tf_variables.PartitionedVariable):
                try:
                    graph.get_operation_by_name(element.name)
                except KeyError:
                    element.as_tensor()


def check_write_version(write_version: int) -> None:
    if write_version not in (SAVER_DEF_V1, SAVER_DEF_V2):
        raise UnsupportedFeatureError(
            f"write_version={write_version}: this Saver writes SaverDef.V2 (TensorFlow's "
            "default since 1.0) or SaverDef.V1; LEGACY SaverDefs from imported meta graphs "
            "still restore."
        )


V1_DEPRECATION = (  # the lines stock's Saver.save logs for a V1 write_version
    "*******************************************************",
    "TensorFlow's V1 checkpoint format has been deprecated.",
    "Consider switching to the more efficient V2 format:",
    "   `tf.train.Saver(write_version=tf.train.SaverDef.V2)`",
    "now on by default.",
    "*******************************************************",
)
