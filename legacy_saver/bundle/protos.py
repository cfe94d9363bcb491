"""The protocol buffers of the checkpoint format, without TensorFlow.

TensorFlow's generated classes live inside TensorFlow, which this layer must
not import. We declare the few messages we need (field numbers taken from
TensorFlow's ``.proto`` files, names kept for readability) in a *private*
descriptor pool, so they never clash with TensorFlow's own classes when both
are loaded in one process. Only the fields we read or write are declared;
unknown fields are kept by the protobuf runtime and ignored.

Sources of the field numbers:
``tensorflow/core/protobuf/tensor_bundle.proto`` (BundleHeaderProto, BundleEntryProto),
``tensorflow/core/framework/{tensor_shape,tensor_slice,tensor,versions}.proto``,
``tensorflow/core/util/saved_tensor_slice.proto`` (V1 checkpoints),
``tensorflow/core/protobuf/trackable_object_graph.proto``,
``tensorflow/python/training/checkpoint_state.proto``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_TYPES = {
    "int32": _F.TYPE_INT32, "int64": _F.TYPE_INT64, "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64, "bool": _F.TYPE_BOOL, "float": _F.TYPE_FLOAT,
    "double": _F.TYPE_DOUBLE, "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES,
    "fixed32": _F.TYPE_FIXED32,
}  # fmt: skip
_PACKAGE = "legacy_saver.tf"

# message name -> [(field name, number, type or message name, repeated?)]
_MESSAGES: dict[str, list[tuple[str, int, str, bool]]] = {
    "TensorShapeProto.Dim": [("size", 1, "int64", False), ("name", 2, "string", False)],
    "TensorShapeProto": [
        ("dim", 2, "TensorShapeProto.Dim", True), ("unknown_rank", 3, "bool", False),
    ],
    "TensorSliceProto.Extent": [("start", 1, "int64", False), ("length", 2, "int64", False)],
    "TensorSliceProto": [("extent", 1, "TensorSliceProto.Extent", True)],
    "VersionDef": [
        ("producer", 1, "int32", False), ("min_consumer", 2, "int32", False),
        ("bad_consumers", 3, "int32", True),
    ],
    "BundleHeaderProto": [
        ("num_shards", 1, "int32", False), ("endianness", 2, "int32", False),
        ("version", 3, "VersionDef", False),
    ],
    "BundleEntryProto": [
        ("dtype", 1, "int32", False), ("shape", 2, "TensorShapeProto", False),
        ("shard_id", 3, "int32", False), ("offset", 4, "int64", False),
        ("size", 5, "int64", False), ("crc32c", 6, "fixed32", False),
        ("slices", 7, "TensorSliceProto", True),
    ],
    "TensorProto": [
        ("dtype", 1, "int32", False), ("tensor_shape", 2, "TensorShapeProto", False),
        ("version_number", 3, "int32", False), ("tensor_content", 4, "bytes", False),
        ("float_val", 5, "float", True), ("double_val", 6, "double", True),
        ("int_val", 7, "int32", True), ("string_val", 8, "bytes", True),
        ("scomplex_val", 9, "float", True), ("int64_val", 10, "int64", True),
        ("bool_val", 11, "bool", True), ("dcomplex_val", 12, "double", True),
        ("half_val", 13, "int32", True), ("uint32_val", 16, "uint32", True),
        ("uint64_val", 17, "uint64", True),
    ],
    "SavedSliceMeta": [
        ("name", 1, "string", False), ("shape", 2, "TensorShapeProto", False),
        ("type", 3, "int32", False), ("slice", 4, "TensorSliceProto", True),
    ],
    "SavedTensorSliceMeta": [
        ("tensor", 1, "SavedSliceMeta", True), ("versions", 2, "VersionDef", False),
    ],
    "SavedSlice": [
        ("name", 1, "string", False), ("slice", 2, "TensorSliceProto", False),
        ("data", 3, "TensorProto", False),
    ],
    "SavedTensorSlices": [
        ("meta", 1, "SavedTensorSliceMeta", False), ("data", 2, "SavedSlice", False),
    ],
    "CheckpointState": [
        ("model_checkpoint_path", 1, "string", False),
        ("all_model_checkpoint_paths", 2, "string", True),
        ("all_model_checkpoint_timestamps", 3, "double", True),
        ("last_preserved_timestamp", 4, "double", False),
    ],
    "BoolValue": [("value", 1, "bool", False)],
    "TrackableObjectGraph.ObjectReference": [
        ("node_id", 1, "int32", False), ("local_name", 2, "string", False),
    ],
    "TrackableObjectGraph.SerializedTensor": [
        ("name", 1, "string", False), ("full_name", 2, "string", False),
        ("checkpoint_key", 3, "string", False),
    ],
    "TrackableObjectGraph.SlotVariableReference": [
        ("original_variable_node_id", 1, "int32", False), ("slot_name", 2, "string", False),
        ("slot_variable_node_id", 3, "int32", False),
    ],
    "TrackableObjectGraph.RegisteredSaver": [
        ("name", 1, "string", False), ("object_name", 2, "string", False),
    ],
    "TrackableObjectGraph.TrackableObject": [
        ("children", 1, "TrackableObjectGraph.ObjectReference", True),
        ("attributes", 2, "TrackableObjectGraph.SerializedTensor", True),
        ("slot_variables", 3, "TrackableObjectGraph.SlotVariableReference", True),
        ("registered_saver", 4, "TrackableObjectGraph.RegisteredSaver", False),
        ("has_checkpoint_values", 5, "BoolValue", False),
    ],
    "TrackableObjectGraph": [("nodes", 1, "TrackableObjectGraph.TrackableObject", True)],
}  # fmt: skip

# Fields declared proto2-optional so presence is tracked (TF declares them in
# a oneof or wrapper; on the wire it is the same).
_WITH_PRESENCE = {("TensorSliceProto.Extent", "length")}


def _build() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="legacy_saver_tf.proto", package=_PACKAGE, syntax="proto3"
    )
    declared: dict[str, descriptor_pb2.DescriptorProto] = {}
    for full in sorted(_MESSAGES, key=lambda n: n.count(".")):  # parents first
        parent, _, leaf = full.rpartition(".")
        container = declared[parent].nested_type if parent else file.message_type
        declared[full] = container.add(name=leaf)
    for full, fields in _MESSAGES.items():
        for name, number, kind, repeated in fields:
            field = declared[full].field.add(
                name=name, number=number, label=_REP if repeated else _OPT
            )
            if kind in _TYPES:
                field.type = _TYPES[kind]
            else:
                field.type = _F.TYPE_MESSAGE
                field.type_name = f".{_PACKAGE}.{kind}"
            if (full, name) in _WITH_PRESENCE:
                field.proto3_optional = True
                oneof = len(declared[full].oneof_decl)
                declared[full].oneof_decl.add(name=f"_{name}")
                field.oneof_index = oneof
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        full: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{full}"))
        for full in _MESSAGES
        if "." not in full
    }


_CLASSES = _build()
TensorShapeProto: Any = _CLASSES["TensorShapeProto"]
TensorSliceProto: Any = _CLASSES["TensorSliceProto"]
VersionDef: Any = _CLASSES["VersionDef"]
BundleHeaderProto: Any = _CLASSES["BundleHeaderProto"]
BundleEntryProto: Any = _CLASSES["BundleEntryProto"]
TensorProto: Any = _CLASSES["TensorProto"]
SavedTensorSlices: Any = _CLASSES["SavedTensorSlices"]
CheckpointState: Any = _CLASSES["CheckpointState"]
TrackableObjectGraph: Any = _CLASSES["TrackableObjectGraph"]

ENDIAN_LITTLE = 0  # BundleHeaderProto.Endianness
ENDIAN_BIG = 1
