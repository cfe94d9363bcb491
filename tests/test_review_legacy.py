"""Adversarial review of safe loading (#12, #13.6, #20): breaks found, each a regression test.

Every test here failed on main before its fix: an attacker's ``.meta`` or SavedModel that the
safe load (or ``scan``) passed and that then wrote a file or hung the process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest

from legacy_saver.errors import UnsafeGraphError
from legacy_saver.graph import LegacyModel, scan
from tests.helpers import hostile as H
from tests.helpers.sentinel import Sentinel


@pytest.fixture
def world(tf, tmp_path):
    """``(prefix, checkpoint dir, outside dir)``: the benign model and the attacker's target."""
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    return H.base_checkpoint(tf, ckpt), ckpt, H.outside(tmp_path)


def _function(library, name, attrs=()):
    """``name(x: float) -> float`` with string/func attributes ``attrs`` ((name, type))."""
    from tensorflow.core.framework import types_pb2

    function = library.function.add()
    function.signature.name = name
    function.signature.input_arg.add(name="x", type=types_pb2.DT_FLOAT)
    function.signature.output_arg.add(name="y", type=types_pb2.DT_FLOAT)
    for attr_name, attr_type in attrs:
        function.signature.attr.add(name=attr_name, type=attr_type)
    return function


def _writer(library, victim):
    """``Evil(x)``: writes ``victim``, returns ``x``."""
    evil = _function(library, "Evil")
    H.string_const(evil.node_def, "path", str(victim).encode())
    H.string_const(evil.node_def, "text", b"owned")
    H.add_node(evil.node_def, "write", "WriteFile", ["path:output:0", "text:output:0"])
    H.add_node(evil.node_def, "id", "Identity", ["x", "^write"], T="float")
    evil.ret["y"] = "id:output:0"


def _call(body, name, f):
    return H.add_node(body, name, "PartitionedCall", ["x"], Tin={"types": [1]},
                      Tout={"types": [1]}, f=f)  # fmt: skip


def _outer_calling_placeholder(library):
    """``Outer[g: func](x)``: calls whatever function its caller binds to ``g``."""
    from tensorflow.core.framework import attr_value_pb2

    outer = _function(library, "Outer", [("g", "func")])
    _call(outer.node_def, "call", attr_value_pb2.AttrValue(placeholder="g"))
    outer.ret["y"] = "call:output:0"
    return outer


def _assert_refused_and_quiet(prefix, ckpt, outside, fetch, match):
    report = scan(prefix)
    flagged = [f for f in report.findings if f.op_type in ("WriteFile", "PrintV2")]
    assert flagged, str(report)
    with Sentinel(read=[outside], write=[ckpt, outside]) as sentinel:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with LegacyModel.load(prefix) as model:
                assert model.run("y:0", {"x:0": 2.0}) == 2 * H.W
                with pytest.raises(UnsafeGraphError, match=match):
                    model.run(fetch, {"x:0": 2.0})
    sentinel.assert_quiet()
    assert (outside / "victim.txt").read_text() == "precious\n"


def test_function_bound_in_a_call_attribute_is_walked(tf, world):
    """Defect: ``PartitionedCall f=Outer[g=Evil]``, with ``Outer``'s body calling ``$g``: the
    walk read only ``f``'s name, never the functions bound in its attributes, so
    ``model.run`` in safe mode ran ``Evil``'s ``WriteFile`` (the file was overwritten) and
    ``scan`` said the fetch was safe."""
    from tensorflow.core.framework import attr_value_pb2

    prefix, ckpt, outside = world
    meta = H.read_meta(prefix + ".meta")
    _writer(meta.graph_def.library, outside / "victim.txt")
    _outer_calling_placeholder(meta.graph_def.library)
    f = attr_value_pb2.AttrValue()
    f.func.name = "Outer"
    f.func.attr["g"].func.name = "Evil"
    _call(meta.graph_def.node, "hop", f)
    H.write_meta(meta, prefix + ".meta")
    _assert_refused_and_quiet(prefix, ckpt, outside, "hop:0", r"write \(WriteFile\)")


def test_function_attribute_default_is_walked(tf, world):
    """Defect: ``Outer``'s signature gives its ``func`` attribute ``g`` the default ``Evil``
    and the caller leaves ``g`` unset; TensorFlow calls the default, the walk saw no call,
    and safe-mode ``model.run`` wrote the file."""
    from tensorflow.core.framework import attr_value_pb2

    prefix, ckpt, outside = world
    meta = H.read_meta(prefix + ".meta")
    _writer(meta.graph_def.library, outside / "victim.txt")
    outer = _outer_calling_placeholder(meta.graph_def.library)
    outer.signature.attr[0].default_value.func.name = "Evil"
    f = attr_value_pb2.AttrValue()
    f.func.name = "Outer"
    _call(meta.graph_def.node, "hop", f)
    H.write_meta(meta, prefix + ".meta")
    _assert_refused_and_quiet(prefix, ckpt, outside, "hop:0", r"write \(WriteFile\)")


def test_print_stream_bound_by_the_caller_is_unsafe(tf, world):
    """Defect: ``PrintV2`` is allowed only towards standard streams, but inside a function its
    ``output_stream`` may be a placeholder the call binds (``Printer[s="file:///victim"]``);
    the check read the placeholder as "unset" (default ``stderr``), ``scan`` reported 0 unsafe
    ops and safe-mode ``model.run`` wrote the file."""
    from tensorflow.core.framework import attr_value_pb2

    prefix, ckpt, outside = world
    meta = H.read_meta(prefix + ".meta")
    printer = _function(meta.graph_def.library, "Printer", [("s", "string")])
    H.add_node(printer.node_def, "text", "AsString", ["x"], T="float")
    H.add_node(printer.node_def, "print", "PrintV2", ["text:output:0"],
               output_stream=attr_value_pb2.AttrValue(placeholder="s"))  # fmt: skip
    H.add_node(printer.node_def, "id", "Identity", ["x", "^print"], T="float")
    printer.ret["y"] = "id:output:0"
    f = attr_value_pb2.AttrValue()
    f.func.name = "Printer"
    f.func.attr["s"].s = ("file://" + str(outside / "victim.txt")).encode()
    _call(meta.graph_def.node, "hop", f)
    H.write_meta(meta, prefix + ".meta")
    _assert_refused_and_quiet(prefix, ckpt, outside, "hop:0", r"print \(PrintV2\).*\$s")


def test_save_path_separator_bound_by_the_caller_is_not_canonical(tf):
    """Defect: in a traced (TF2-style) save function, ``StringJoin``'s ``separator`` may be a
    placeholder the call binds (``/../../elsewhere/``); the canonical-save check read it as
    "no separator" and accepted a save writing outside the filename, so ``model.saver.save``
    would have run it."""
    from tensorflow.core.framework import attr_value_pb2, graph_pb2, types_pb2

    from legacy_saver.metagraph.saverdef import check_save
    from legacy_saver.metagraph.walk import FunctionTable, ProtoGraph

    graph_def = graph_pb2.GraphDef()
    save = graph_def.library.function.add()
    save.signature.name = "SaveFn"
    save.signature.input_arg.add(name="file", type=types_pb2.DT_STRING)
    save.signature.input_arg.add(name="v", type=types_pb2.DT_FLOAT)
    save.signature.output_arg.add(name="y", type=types_pb2.DT_STRING)
    save.signature.attr.add(name="sep", type="string")
    body = save.node_def
    H.string_const(body, "suffix", b"_temp/part")
    H.add_node(body, "join", "StringJoin", ["file", "suffix:output:0"], N=2,
               separator=attr_value_pb2.AttrValue(placeholder="sep"))  # fmt: skip
    H.string_const(body, "names", b"w", vector=True)
    H.string_const(body, "slices", b"", vector=True)
    H.add_node(body, "write", "SaveV2",
               ["join:output:0", "names:output:0", "slices:output:0", "v"],
               dtypes={"types": [1]})  # fmt: skip
    H.add_node(body, "out", "Identity", ["file", "^write"], T={"type": types_pb2.DT_STRING})
    save.ret["y"] = "out:output:0"
    nodes = graph_def.node
    H.add_node(nodes, "filename", "Placeholder", dtype={"type": types_pb2.DT_STRING})
    H.float_const(nodes, "value", 1.0)
    f = attr_value_pb2.AttrValue()
    f.func.name = "SaveFn"
    f.func.attr["sep"].s = b"/../../elsewhere/"
    H.add_node(nodes, "save", "StatefulPartitionedCall", ["filename", "value"],
               Tin={"types": [types_pb2.DT_STRING, 1]},
               Tout={"types": [types_pb2.DT_STRING]}, f=f)  # fmt: skip
    check = check_save(ProtoGraph(graph_def), FunctionTable(graph_def.library), "save:0",
                       "filename:0")  # fmt: skip
    assert not check.canonical
    assert any("write (SaveV2)" in p for p in check.problems), check.problems


CHILD = """
import json, sys, warnings
from legacy_saver.errors import UnsafeGraphError
from legacy_saver.graph import LegacyModel
warnings.simplefilter("ignore")
try:
    with LegacyModel.load(sys.argv[1]) as model:
        print(json.dumps({"loaded": True}))
except UnsafeGraphError as e:
    print(json.dumps({"refused": str(e)}))
"""


@pytest.mark.slow
def test_fifo_asset_is_refused_not_read(tf, tmp_path):
    """Defect: a SavedModel whose vocabulary asset ``assets/vocab.txt`` is a FIFO (a tarball
    can carry one) hung ``LegacyModel.load`` forever in the table initializer; assets must
    be regular files (#13.6: open only regular files)."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "vocab.txt").write_text("apple\nbanana\n")
    export = H.saved_model(tf, tmp_path, vocabulary=source / "vocab.txt")
    asset = export / "assets" / "vocab.txt"
    asset.unlink()
    os.mkfifo(asset)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(export)], capture_output=True,
                              text=True, timeout=120, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("LegacyModel.load hung on a FIFO asset")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "not a regular file" in result.get("refused", ""), result
    assert "vocab.txt" in result["refused"]


RESTORE_CHILD = """
import json, sys, warnings
import tensorflow as tf
from legacy_saver.errors import CheckpointError
from legacy_saver.graph import LegacyModel, restore_variables
warnings.simplefilter("ignore")
how, path = sys.argv[1], sys.argv[2]
try:
    if how == "load":
        with LegacyModel.load(path):
            pass
    else:
        g = tf.Graph()
        with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
            tf.compat.v1.get_variable("w", initializer=1.0)
            if how == "restore_variables":
                restore_variables(sess, path)
            else:
                from legacy_saver import Saver
                Saver().restore(sess, path)
    print(json.dumps({"done": True}))
except CheckpointError as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
"""


def _fifo_shard(tf, tmp_path, where):
    """A checkpoint (or SavedModel) whose ``where`` file ("data" or "index") is a FIFO."""
    if where == "saved_model_index":
        export = H.saved_model(tf, tmp_path)
        victim = export / "variables" / "variables.index"
        target = str(export)
    else:
        target = H.base_checkpoint(tf, tmp_path)
        (victim,) = tmp_path.glob("model.data-*")
    victim.unlink()
    os.mkfifo(victim)
    return target, victim


@pytest.mark.slow
@pytest.mark.parametrize(
    "how, where",
    [
        ("load", "data"),
        ("load", "saved_model_index"),
        ("restore_variables", "data"),
        ("saver", "data"),
    ],
)
def test_fifo_checkpoint_file_is_refused_not_waited_on(tf, tmp_path, how, where):
    """Defect (#13.6): a FIFO as the checkpoint's data shard (or a SavedModel's
    ``variables.index``) hung ``LegacyModel.load``, ``restore_variables`` and
    ``Saver.restore`` forever: TensorFlow's restore op (and the Saver's ``.index`` shortcut)
    opened it with a blocking ``open``. Now a ``CorruptCheckpointError`` naming the file."""
    target, victim = _fifo_shard(tf, tmp_path, where)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        done = subprocess.run([sys.executable, "-c", RESTORE_CHILD, how, target],
                              capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{how} hung on a FIFO {where} file")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.get("error") == "CorruptCheckpointError", result
    assert str(victim) in result["message"] and "FIFO" in result["message"]


def test_restore_call_naming_two_functions_is_not_canonical(tf):
    """Defect: the canonical-restore check of a traced (TF2-style) restore call looked only at
    the *first* function the call names. A call with an extra ``_decoy`` attribute naming a
    canonical restore function, and ``f`` naming one that also writes a file, was proven
    "canonical" (and its nodes permitted at load) while TensorFlow runs ``f``."""
    from tensorflow.core.framework import attr_value_pb2, graph_pb2, types_pb2

    from legacy_saver.metagraph.saverdef import check_restore
    from legacy_saver.metagraph.walk import FunctionTable, ProtoGraph

    graph_def = graph_pb2.GraphDef()

    def restore_function(name, evil):
        function = graph_def.library.function.add()
        function.signature.name = name
        function.signature.input_arg.add(name="file", type=types_pb2.DT_STRING)
        function.signature.output_arg.add(name="y", type=types_pb2.DT_FLOAT)
        body = function.node_def
        H.string_const(body, "names", b"w", vector=True)
        H.string_const(body, "slices", b"", vector=True)
        H.add_node(body, "read", "RestoreV2", ["file", "names:output:0", "slices:output:0"],
                   dtypes={"types": [1]})  # fmt: skip
        inputs = ["read:tensors:0"]
        if evil:
            H.string_const(body, "path", b"/tmp/victim")
            H.add_node(body, "write", "WriteFile", ["path:output:0", "file"])
            inputs.append("^write")
        H.add_node(body, "out", "Identity", inputs, T="float")
        function.ret["y"] = "out:output:0"

    restore_function("Good", evil=False)
    restore_function("Evil", evil=True)
    nodes = graph_def.node
    H.add_node(nodes, "filename", "Placeholder", dtype={"type": types_pb2.DT_STRING})
    call = H.add_node(nodes, "restore", "StatefulPartitionedCall", ["filename"],
                      Tin={"types": [types_pb2.DT_STRING]}, Tout={"types": [1]})  # fmt: skip
    decoy = attr_value_pb2.AttrValue()
    decoy.func.name = "Good"
    call.attr["_decoy"].CopyFrom(decoy)
    real = attr_value_pb2.AttrValue()
    real.func.name = "Evil"
    call.attr["f"].CopyFrom(real)
    graph_def = graph_pb2.GraphDef.FromString(graph_def.SerializeToString())
    check = check_restore(ProtoGraph(graph_def), FunctionTable(graph_def.library), "restore",
                          "filename:0")  # fmt: skip
    assert not check.canonical, check


def _rename_asset_tensor(tf, tmp_path, name):
    from tensorflow.core.protobuf import meta_graph_pb2

    source = tmp_path / "source"
    source.mkdir()
    (source / "vocab.txt").write_text("apple\nbanana\n")
    export = H.saved_model(tf, tmp_path, vocabulary=source / "vocab.txt")

    def edit(meta):
        (packed,) = meta.collection_def["saved_model_assets"].any_list.value
        asset = meta_graph_pb2.AssetFileDef()
        packed.Unpack(asset)
        asset.tensor_info.name = name
        packed.Pack(asset)

    H.edit_saved_model(export, edit)
    return export


def test_asset_tensor_spelled_as_an_op_name_loads(tf, tmp_path):
    """Defect: an asset whose tensor is spelled ``vocab/hash_table/asset_path`` (no ``:0``)
    was checked under the normalised name but fed under the raw one, so
    ``LegacyModel.load`` crashed with an untyped ``ValueError`` ("refers to an Operation")."""
    export = _rename_asset_tensor(tf, tmp_path, "vocab/hash_table/asset_path")
    with LegacyModel.load(str(export)) as model:
        ids = model.run("ids:0", {"words:0": [b"banana", b"apple", b"durian"]})
    assert list(ids) == [1, 0, 2]


def test_asset_naming_a_missing_tensor_is_a_typed_error(tf, tmp_path):
    """Defect: with ``allow_unsafe=True``, an asset naming a tensor the graph lacks crashed
    the load with a bare ``KeyError``; now a ``CorruptCheckpointError`` naming the file."""
    from legacy_saver.errors import CorruptCheckpointError

    export = _rename_asset_tensor(tf, tmp_path, "missing:0")
    with pytest.raises(CorruptCheckpointError, match=r"saved_model\.pb.*missing:0"):
        LegacyModel.load(str(export), allow_unsafe=True)
