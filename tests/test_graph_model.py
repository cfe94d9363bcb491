"""LegacyModel: load forms, names, to_function / SavedModel, portable import."""

from __future__ import annotations

import os

import numpy as np
import pytest

from legacy_saver.errors import (
    CheckpointNotFoundError,
    TensorNotFoundError,
    UnsupportedFeatureError,
)
from legacy_saver.graph import LegacyModel
from legacy_saver.graph.portable import import_portably
from legacy_saver.metagraph.read import read_meta_graph


def test_load_forms_and_names(tf, classic):
    directory = os.path.dirname(classic)
    for path in (directory, classic, classic + ".meta"):
        with LegacyModel.load(path) as model:
            assert model.checkpoint == classic
            assert model.run("op_to_restore:0", {"w1:0": 13.0, "w2": 17.0}) == 60.0
    with LegacyModel.load(classic) as model:
        assert [t.name for t in model.inputs] == ["w1:0", "w2:0"]
        assert [v.op.name for v in model.variables] == ["bias"]
        value = model.tensor("bias:0")  # a resource variable: its value, not the handle
        assert value.dtype == tf.float32 and model.session.run(value) == 2.0
        assert model.graph.get_tensor_by_name("bias:0").dtype == tf.resource
        assert model.outputs == {}
        with pytest.raises(TensorNotFoundError, match="close names: op_to_restore:0"):
            model.tensor("op_to_restor:0")
    with LegacyModel.load(classic, input_map={"w1:0": 13.0}) as model:
        assert model.run("op_to_restore:0", {"w2:0": 17.0}) == 60.0
    with LegacyModel.load(classic, checkpoint=False) as model:
        with pytest.raises(tf.errors.FailedPreconditionError):
            model.run("bias:0")
    with pytest.raises(CheckpointNotFoundError, match="no meta graph"):
        LegacyModel.load(classic + "-nope")


def test_to_function_and_saved_model_match_the_session(tf, classic, tmp_path):
    with LegacyModel.load(classic) as model:
        expected = model.run("op_to_restore:0", {"w1:0": 1.5, "w2:0": 2.0})
        fn = model.to_function(["w1:0", "w2:0"], ["op_to_restore:0"])
        exported = model.export_saved_model(tmp_path / "sm", ["w1", "w2"], ["op_to_restore"])
    assert model.session._closed
    (got,) = fn(1.5, 2.0)  # works after close()
    assert got.numpy() == expected == 7.0
    loaded = tf.saved_model.load(exported)
    out = loaded.signatures["serving_default"](w1=tf.constant(1.5), w2=tf.constant(2.0))
    assert out["op_to_restore"].numpy() == expected


def test_to_function_on_reference_variables(tf, realdata):
    path = realdata / "serving_saved_model_half_plus_two_cpu" / "00000123"
    x = np.array([[1.0], [2.0], [5.0]], np.float32)
    with LegacyModel.load(path) as model:
        assert {v.op.type for v in model.variables} == {"VariableV2"}
        signature = model.signatures["serving_default"]
        assert list(signature.inputs) == ["x"] and list(model.outputs) == ["y"]
        expected = model.run(model.outputs["y"], {signature.inputs["x"]: x})
        fn = model.to_function([signature.inputs["x"]], [model.outputs["y"]])
    np.testing.assert_array_equal(expected, x / 2 + 2)
    np.testing.assert_array_equal(fn(x)[0].numpy(), expected)


def test_unregistered_ops_listed_in_one_error(tf, classic):
    meta = read_meta_graph(classic + ".meta")
    for i, op in enumerate(["Addons>ImageProjectiveTransformV2", "SentencepieceOp", "ZzCustom"]):
        node = meta.graph_def.node.add(name=f"extra{i}", op=op)
        del node  # only its op type matters
    with pytest.raises(UnsupportedFeatureError) as err:
        import_portably(meta, tf.Graph(), source="m.meta")
    text = str(err.value)
    assert "m.meta uses 3 op(s) this TensorFlow does not register" in text
    assert "Addons>ImageProjectiveTransformV2: tensorflow_addons" in text
    assert "SentencepieceOp: sentencepiece" in text
    assert "ZzCustom: unknown (a custom op library" in text


def test_baked_in_devices_cleared_or_remapped(tf, classic):
    meta = read_meta_graph(classic + ".meta")
    for node in meta.graph_def.node:
        node.device = "/job:worker/task:3/device:GPU:1"
    with open(classic + ".meta", "wb") as f:
        f.write(meta.SerializeToString())
    with LegacyModel.load(classic) as model:
        assert {op.device for op in model.graph.get_operations()} == {""}
        assert model.run("op_to_restore:0", {"w1:0": 1.0, "w2:0": 2.0}) == 6.0
    remap = {"/job:worker/task:3/device:GPU:1": "/device:CPU:0"}
    with LegacyModel.load(classic, clear_devices=False, device_map=remap) as model:
        assert model.graph.get_operation_by_name("op_to_restore").device == "/device:CPU:0"
        assert model.run("op_to_restore:0", {"w1:0": 1.0, "w2:0": 2.0}) == 6.0


def test_same_meta_twice_into_one_graph_gives_two_copies(tf, classic):
    meta = read_meta_graph(classic + ".meta")
    g = tf.Graph()
    first, scope1 = import_portably(meta, g)
    second, scope2 = import_portably(meta, g)
    assert (scope1, scope2) == (None, "import")
    with tf.compat.v1.Session(graph=g) as sess:
        first.restore(sess, classic)
        second.restore(sess, classic)
        with g.as_default():
            sess.run(
                tf.raw_ops.AssignVariableOp(
                    resource=g.get_tensor_by_name("import/bias:0"), value=5.0
                )
            )
        feeds = {"w1:0": 1.0, "w2:0": 2.0, "import/w1:0": 1.0, "import/w2:0": 2.0}
        got = sess.run(["op_to_restore:0", "import/op_to_restore:0"], feeds)
    assert got == [6.0, 15.0]
    names = [v.name for v in g.get_collection("variables")]
    assert names == ["bias:0", "import/bias:0"]


def test_tf_0_12_meta_graph_loads(tf, realdata):
    path = realdata / "serving_session_bundle_v2" / "00000123" / "export.meta"
    assert read_meta_graph(path).meta_info_def.tensorflow_version == "0.12.head"
    with LegacyModel.load(path) as model:
        assert model.run(["Variable:0", "Variable_1:0"]) == [0.5, 2.0]


def _train_without_meta(tf, directory, steps=3):
    """TF's tutorial loop: the first save writes the .meta, later ones do not."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        w = tf.compat.v1.get_variable("w", initializer=0.0)
        step = tf.compat.v1.assign_add(w, 1.0)
        sess.run(tf.compat.v1.global_variables_initializer())
        saver = tf.compat.v1.train.Saver()
        for i in range(steps):
            sess.run(step)
            saver.save(
                sess, os.path.join(directory, "model"), global_step=i, write_meta_graph=i == 0
            )
    return os.path.join(directory, f"model-{steps - 1}")


def test_directory_saved_without_meta_uses_the_matching_meta(tf, tmp_path):
    latest = _train_without_meta(tf, str(tmp_path))
    assert not os.path.exists(latest + ".meta")
    with pytest.warns(UserWarning, match=r"model-2 has no \.meta .* using .*model-0\.meta"):
        model = LegacyModel.load(tmp_path)
    with model:
        assert model.checkpoint == latest and model.run("w:0") == 3.0


def test_directory_without_a_matching_meta_says_what_to_call(tf, tmp_path):
    _train_without_meta(tf, str(tmp_path))
    os.remove(tmp_path / "model-0.meta")
    g = tf.Graph()
    with g.as_default():  # a .meta of another model
        tf.compat.v1.get_variable("other", [2])
        tf.compat.v1.train.export_meta_graph(str(tmp_path / "other.meta"))
    with pytest.raises(CheckpointNotFoundError) as err:
        LegacyModel.load(tmp_path)
    text = str(err.value)
    assert "no meta graph there has the checkpoint's 1 variables" in text
    assert "meta graphs found: other.meta" in text
    assert (
        f"LegacyModel.load('{tmp_path / 'other.meta'}', checkpoint='{tmp_path / 'model-2'}')"
        in text
    )


GRAPH_MODE_EXPORT = """
import sys
import tensorflow as tf
getattr(tf.compat.v1, sys.argv[3])()  # a TF1 program: no eager execution
from legacy_saver.graph import LegacyModel
with LegacyModel.load(sys.argv[1]) as model:
    assert not tf.executing_eagerly()
    model.export_saved_model(sys.argv[2], ["w1:0", "w2:0"], ["op_to_restore:0"])
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["disable_eager_execution", "disable_v2_behavior"])
def test_export_saved_model_in_graph_mode(tf, classic, tmp_path, mode):
    import subprocess
    import sys

    exported = tmp_path / "sm"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run(
        [sys.executable, "-c", GRAPH_MODE_EXPORT, classic, str(exported), mode],
        check=True,
        capture_output=True,
        timeout=300,
        env=env,
    )
    loaded = tf.saved_model.load(str(exported))  # read back in eager mode
    out = loaded.signatures["serving_default"](w1=tf.constant(1.5), w2=tf.constant(2.0))
    assert out["op_to_restore"].numpy() == 7.0
    assert loaded.serve(tf.constant(13.0), tf.constant(17.0))["op_to_restore"].numpy() == 60.0
