"""Hostile SavedModels and function libraries, built here, refused in safe mode.

SavedModel main ops (``WriteFile``, ``DatasetFromGraph`` hiding a ``WriteFile`` in a string,
``RpcServer``, ``DumpTensor``, ``CalibrationStatisticsSaver``, ``legacy_init_op``) and assets
(``../``); the cases that would kill or hang the process (``Abort``, ``Recv``, recursive and
1,500-deep function calls) run in a child with a deadline: it must exit normally, with the
refusal, in time. Each asserts the refusal *and* that nothing was read, written, moved or
listened on (``tests.helpers.sentinel``). The restore-closure, top-level and collection cases
are in ``test_graph_hostile.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from legacy_saver.errors import UnsafeGraphError
from legacy_saver.graph import LegacyModel, scan
from legacy_saver.saver import import_meta_graph
from tests.helpers import hostile as H
from tests.helpers.sentinel import Sentinel

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


# -- SavedModels: main ops and assets ---------------------------------------------------


def _main_op(tf, tmp_path, plant, key="saved_model_main_op"):
    export = H.saved_model(tf, tmp_path)

    def edit(meta):
        name = plant(meta.graph_def)
        meta.collection_def[key].node_list.value[:] = [name]

    return H.edit_saved_model(export, edit)


def _write_file(outside):
    def plant(graph_def):
        H.string_const(graph_def.node, "evil/path", str(outside / "victim.txt").encode())
        H.string_const(graph_def.node, "evil/text", b"owned")
        H.add_node(graph_def.node, "evil/main", "WriteFile", ["evil/path", "evil/text"])
        return "evil/main"

    return plant


def _dataset_from_graph(outside):
    def plant(graph_def):
        import tensorflow as tf

        hidden = tf.Graph()
        with hidden.as_default():
            tf.io.write_file(str(outside / "victim.txt"), "owned")
        H.string_const(graph_def.node, "evil/graph", hidden.as_graph_def().SerializeToString())
        H.add_node(graph_def.node, "evil/main", "DatasetFromGraph", ["evil/graph"])
        return "evil/main"

    return plant


def _rpc_server(_outside):
    def plant(graph_def):
        H.string_const(graph_def.node, "evil/address", b"127.0.0.1:0")
        H.add_node(graph_def.node, "evil/main", "RpcServer", ["evil/address"])
        return "evil/main"

    return plant


def _dump_tensor(outside):
    def plant(graph_def):
        H.add_node(
            graph_def.node,
            "evil/main",
            "DumpTensor",
            ["w/Read/ReadVariableOp"],
            T="float",
            log_dir_path=str(outside),
            file_name="dump.npy",
            enabled=True,
            func_name="f",
            node_name="n",
        )
        return "evil/main"

    return plant


def _calibration_saver(outside):
    def plant(graph_def):
        H.add_node(
            graph_def.node,
            "evil/main",
            "CalibrationStatisticsSaver",
            [],
            Tin={"types": []},
            ids={"strings": ["a"]},
            calibration_methods={"ints": [1]},
            output_file_path=str(outside / "stats.pb"),
        )
        return "evil/main"

    return plant


@pytest.mark.parametrize(
    "plant, op_type, key",
    [
        (_write_file, "WriteFile", "saved_model_main_op"),
        (_write_file, "WriteFile", "legacy_init_op"),
        (_dataset_from_graph, "DatasetFromGraph", "saved_model_main_op"),
        (_rpc_server, "RpcServer", "saved_model_main_op"),
        (_dump_tensor, "DumpTensor", "saved_model_main_op"),
        (_calibration_saver, "CalibrationStatisticsSaver", "saved_model_main_op"),
    ],
    ids=["write-file", "legacy-init-op", "dataset-from-graph", "rpc-server", "dump", "calibration"],
)
def test_saved_model_main_op_is_refused_or_skipped(tf, tmp_path, plant, op_type, key):
    outside = H.outside(tmp_path)
    export = _main_op(tf, tmp_path, plant(outside), key)
    report = scan(export)
    (init,) = [s for s in report.load if s.name == key]
    assert not init.safe and op_type in {f.op_type for f in init.findings}
    with Sentinel(read=[outside], write=[outside, export]) as sentinel:
        with pytest.raises(UnsafeGraphError, match=rf"SavedModel's {key} would run 1 op") as err:
            LegacyModel.load(export)
        assert f"evil/main ({op_type})" in str(err.value)
        assert "skip_unsafe_init=True" in str(err.value)
        with pytest.warns(UserWarning, match="skipped it as asked"):
            model = LegacyModel.load(export, skip_unsafe_init=True)
        with model:
            assert list(model.run("y:0", {"x:0": [2.0]})) == [2 * H.W]
    sentinel.assert_quiet()


def test_asset_escaping_the_saved_model_is_refused(tf, tmp_path):
    outside = H.outside(tmp_path)
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("a\nb\n")
    export = H.saved_model(tf, tmp_path, vocabulary=vocabulary)

    def edit(meta):
        from tensorflow.core.protobuf import meta_graph_pb2

        collection = meta.collection_def["saved_model_assets"].any_list.value
        asset = meta_graph_pb2.AssetFileDef()
        collection[0].Unpack(asset)
        asset.filename = "../../outside/secret.txt"
        collection[0].Pack(asset)

    H.edit_saved_model(export, edit)
    report = scan(export)
    assert any("escapes" in f.reason for f in report.findings) and not report.loads_safely
    with Sentinel(read=[outside], write=[outside]) as sentinel:
        for unsafe in (False, True):  # never fed, even to a trusted file
            with pytest.raises(UnsafeGraphError, match=r"'../../outside/secret.txt' .* escapes"):
                LegacyModel.load(export, allow_unsafe=unsafe)
    sentinel.assert_quiet()


# -- process control: in a child, with a deadline ----------------------------------------


def _abort(graph_def):
    H.add_node(graph_def.node, "evil/main", "Abort", error_msg="bye", exit_without_error=False)
    return "evil/main"


def _recv(graph_def):
    device = "/job:localhost/replica:0/task:0/device:CPU:0"
    H.add_node(
        graph_def.node,
        "evil/main",
        "Recv",
        tensor_type="float",
        tensor_name="never_sent",
        send_device=device,
        send_device_incarnation=1,
        recv_device=device,
    )
    return "evil/main"


def _recursive(graph_def):
    H.identity_function(graph_def.library, "loop", calls="loop")
    return _call(graph_def, "loop")


def _deep_chain(graph_def, depth=1500):
    for i in range(depth):
        H.identity_function(
            graph_def.library, f"f{i}", calls=f"f{i + 1}" if i + 1 < depth else None
        )
    return _call(graph_def, "f0")


def _call(graph_def, function):
    H.float_const(graph_def.node, "evil/x", 1.0)
    H.add_node(
        graph_def.node,
        "evil/main",
        "PartitionedCall",
        ["evil/x"],
        Tin={"types": [1]},
        Tout={"types": [1]},
        f={"func": function},
    )
    return "evil/main"


@pytest.mark.slow
@pytest.mark.parametrize(
    "plant, expected, refused",
    [
        (_abort, "evil/main (Abort)", "evil/main (Abort)"),
        (_recv, "evil/main (Recv)", "evil/main (Recv)"),
        (_recursive, "recursive calls (loop)", "recursive calls ('loop')"),
        (_deep_chain, "calls nest 1500 deep", "calls nested 1500 deep from 'f0'"),
    ],
    ids=["abort", "recv-hangs", "recursive-function", "call-chain-1500"],
)
def test_process_control_main_ops_never_run(tf, tmp_path, plant, expected, refused):
    outside = H.outside(tmp_path)
    export = _main_op(tf, tmp_path, plant)
    started = time.monotonic()
    report = scan(export)  # in this process: iterative, no RecursionError
    assert time.monotonic() - started < 10
    assert not report.loads_safely
    assert any(expected in str(f) for s in report.load for f in s.findings), str(report)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with Sentinel(read=[outside], write=[outside, export]) as sentinel:
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(export)],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
    assert child.returncode == 0, child.stderr[-2000:]  # not killed, not crashed
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert refused in result["refused"]
    sentinel.assert_quiet()


def test_recursive_library_is_refused_before_tensorflow_imports_it(tf):
    """TensorFlow's importer itself dies with SIGSEGV on these: refused with a typed error."""
    meta = tf.compat.v1.MetaGraphDef()
    _recursive(meta.graph_def)
    with tf.Graph().as_default(), pytest.raises(UnsafeGraphError, match="importer crashes"):
        import_meta_graph(meta)  # even without safe=True
    deep = tf.compat.v1.MetaGraphDef()
    _deep_chain(deep.graph_def, depth=600)
    with tf.Graph().as_default(), pytest.raises(UnsafeGraphError, match="nested 600 deep"):
        import_meta_graph(deep)


def test_scan_of_recursive_and_deep_libraries_is_linear(tf):
    meta = tf.compat.v1.MetaGraphDef()
    _recursive(meta.graph_def)
    mutual = meta.graph_def.library
    H.identity_function(mutual, "ping", calls="pong")
    H.identity_function(mutual, "pong", calls="ping")
    H.identity_function(mutual, "dangling", calls="nowhere")
    report = scan(meta)
    reasons = {f.op_name: f.reason for f in report.findings}
    assert reasons["loop"] == "recursive calls (loop)"
    assert reasons["ping"] == reasons["pong"] == "recursive calls (ping -> pong)"
    assert reasons["call"] == "calls an undefined function" or "nowhere" in str(report)
    deep = tf.compat.v1.MetaGraphDef()
    _deep_chain(deep.graph_def, depth=20_000)
    started = time.monotonic()
    report = scan(deep)
    assert time.monotonic() - started < 20
    assert any("calls nest 20000 deep" in f.reason for f in report.findings)
