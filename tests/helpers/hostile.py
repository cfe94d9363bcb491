"""Building hostile meta graphs and SavedModels for the safe-mode tests.

Every builder starts from a benign model written by stock TensorFlow (a variable ``w`` = 3.0,
``y = x * w``) and plants one payload, so a test can check both that the payload is refused
and that the benign part still works. Payload nodes are added as ``NodeDef``\\ s, so ops
without Python wrappers (``RpcServer``, ``DumpTensor``) can be planted too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

W = 3.0


def base_checkpoint(tf: Any, directory: Path, name: str = "model") -> str:
    """Stock TF writes the benign model; returns its prefix."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        x = tf.compat.v1.placeholder(tf.float32, [], name="x")
        w = tf.compat.v1.get_variable("w", initializer=W)
        tf.multiply(x, w, name="y")
        sess.run(tf.compat.v1.global_variables_initializer())
        return str(tf.compat.v1.train.Saver().save(sess, str(directory / name)))


def read_meta(path: str) -> Any:
    from legacy_saver.metagraph.read import read_meta_graph

    return read_meta_graph(path)


def write_meta(meta: Any, path: str) -> str:
    Path(path).write_bytes(meta.SerializeToString())
    return path


def attr(value: Any) -> Any:
    """An ``AttrValue``: ``"float"`` or ``{"type": enum}``, ``{"types": [...]}``, bool, int,
    str or bytes, ``{"func": name}``, ``{"strings": [...]}``, ``{"ints": [...]}``."""
    from tensorflow.core.framework import attr_value_pb2, types_pb2

    out = attr_value_pb2.AttrValue()
    if value == "float":
        out.type = types_pb2.DT_FLOAT
    elif isinstance(value, dict) and "type" in value:
        out.type = value["type"]
    elif isinstance(value, bool):
        out.b = value
    elif isinstance(value, int):
        out.i = value
    elif isinstance(value, str):
        out.s = value.encode()
    elif isinstance(value, bytes):
        out.s = value
    elif isinstance(value, dict) and "func" in value:
        out.func.name = value["func"]
    elif isinstance(value, dict) and "types" in value:
        out.list.type.extend(value["types"])
    elif isinstance(value, dict) and "strings" in value:
        out.list.s.extend(s.encode() for s in value["strings"])
    elif isinstance(value, dict) and "ints" in value:
        out.list.i.extend(value["ints"])
    else:
        raise TypeError(f"no AttrValue for {value!r}")
    return out


def add_node(body: Any, name: str, op: str, inputs: list[str] = (), **attrs: Any) -> Any:
    """Append a ``NodeDef`` to a graph's or function's node list."""
    node = body.add(name=name, op=op)
    node.input.extend(inputs)
    for key, value in attrs.items():
        node.attr[key].CopyFrom(value if hasattr(value, "SerializeToString") else attr(value))
    return node


def merge(meta: Any, build: Any, tf: Any) -> Any:
    """Add the nodes and functions that ``build()`` makes in a fresh graph to ``meta``."""
    g = tf.Graph()
    with g.as_default():
        build()
    graph_def = g.as_graph_def()
    existing = {f.signature.name for f in meta.graph_def.library.function}
    meta.graph_def.node.extend(graph_def.node)
    for function in graph_def.library.function:
        if function.signature.name not in existing:
            meta.graph_def.library.function.add().CopyFrom(function)
    return meta


def string_const(body: Any, name: str, value: bytes, *, vector: bool = False) -> Any:
    """A string ``Const``: a scalar, or with ``vector`` a one-element vector."""
    from tensorflow.core.framework import tensor_pb2, types_pb2

    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
    tensor.tensor_shape.SetInParent()
    if vector:
        tensor.tensor_shape.dim.add(size=1)
    tensor.string_val.append(value)
    return add_node(
        body, name, "Const", dtype={"type": types_pb2.DT_STRING}, value=_tensor_attr(tensor)
    )


def float_const(body: Any, name: str, value: float, *, vector: bool = False) -> Any:
    from tensorflow.core.framework import tensor_pb2, types_pb2

    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    tensor.tensor_shape.SetInParent()
    if vector:
        tensor.tensor_shape.dim.add(size=1)
    tensor.float_val.append(value)
    return add_node(
        body, name, "Const", dtype={"type": types_pb2.DT_FLOAT}, value=_tensor_attr(tensor)
    )


def _tensor_attr(tensor: Any) -> Any:
    from tensorflow.core.framework import attr_value_pb2

    out = attr_value_pb2.AttrValue()
    out.tensor.CopyFrom(tensor)
    return out


def identity_function(library: Any, name: str, calls: str | None = None) -> Any:
    """``name(x: float) -> float``: returns ``x``, or ``calls(x)`` through a PartitionedCall."""
    from tensorflow.core.framework import types_pb2

    function = library.function.add()
    function.signature.name = name
    function.signature.input_arg.add(name="x", type=types_pb2.DT_FLOAT)
    function.signature.output_arg.add(name="y", type=types_pb2.DT_FLOAT)
    if calls is None:
        add_node(function.node_def, "id", "Identity", ["x"], T="float")
        function.ret["y"] = "id:output:0"
    else:
        add_node(
            function.node_def,
            "call",
            "PartitionedCall",
            ["x"],
            Tin={"types": [types_pb2.DT_FLOAT]},
            Tout={"types": [types_pb2.DT_FLOAT]},
            f={"func": calls},
        )
        function.ret["y"] = "call:output:0"
    return function


def saved_model(tf: Any, directory: Path, *, vocabulary: Path | None = None) -> Path:
    """A TF1 SavedModel (``tf.compat.v1.saved_model.Builder``): ``y = x * w``, and, with
    ``vocabulary``, a lookup table ``ids = table.lookup(words)`` from that file as an asset."""
    g = tf.Graph()
    export = directory / "sm"
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        w = tf.compat.v1.get_variable("w", initializer=W)
        outputs = {"y": tf.multiply(x, w, name="y")}
        inputs = {"x": x}
        main_op = None
        if vocabulary is not None:
            from tensorflow.python.ops import lookup_ops  # TF1's index_table_from_file

            words = tf.compat.v1.placeholder(tf.string, [None], name="words")
            table = lookup_ops.index_table_from_file(
                str(vocabulary), num_oov_buckets=1, name="vocab"
            )
            outputs["ids"] = tf.identity(table.lookup(words), name="ids")
            inputs["words"] = words
            main_op = tf.compat.v1.tables_initializer(name="init_tables")
        sess.run(tf.compat.v1.global_variables_initializer())
        builder = tf.compat.v1.saved_model.Builder(str(export))
        signature = tf.compat.v1.saved_model.predict_signature_def(inputs, outputs)
        builder.add_meta_graph_and_variables(
            sess,
            ["serve"],
            signature_def_map={"serving_default": signature},
            assets_collection=tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
            main_op=main_op,
        )
        builder.save()
    return export


def edit_saved_model(directory: Path, edit: Any) -> Path:
    """Apply ``edit(meta_graph)`` to the SavedModel's meta graph, in place."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = directory / "saved_model.pb"
    model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    edit(model.meta_graphs[0])
    path.write_bytes(model.SerializeToString())
    return directory


def set_main_op(meta: Any, op_name: str) -> None:
    """Make ``op_name`` the SavedModel's main op (what TF's loader runs after restoring)."""
    meta.collection_def["saved_model_main_op"].node_list.value[:] = [op_name]


def outside(tmp: Path) -> Path:
    """A directory outside the model's, with a secret to read and a victim to overwrite."""
    out = tmp / "outside"
    out.mkdir(exist_ok=True)
    (out / "secret.txt").write_text("the secret\n")
    (out / "victim.txt").write_text("precious\n")
    os.utime(out / "secret.txt", (1, 1))
    return out
