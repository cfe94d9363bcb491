"""Saver semantics: var_list forms, variable kinds, partitions, steps, flags, arguments."""

from __future__ import annotations

import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver.bundle import load_checkpoint  # noqa: E402
from legacy_saver.errors import UnsupportedFeatureError  # noqa: E402
from legacy_saver.saver import Saver  # noqa: E402

v1 = tf.compat.v1


def session(g):
    return v1.Session(graph=g)


def init(sess):
    sess.run(v1.global_variables_initializer())


def test_var_list_none_list_and_dict_keys(tmp_path):
    with tf.Graph().as_default() as g:
        a = v1.get_variable("scope/a", [2], initializer=v1.ones_initializer())
        b = v1.Variable([1, 2, 3], name="b", use_resource=False)  # a reference variable
        with session(g) as sess:
            init(sess)
            assert set(load_checkpoint(Saver().save(sess, str(tmp_path / "all"))).keys()) == {
                "scope/a",
                "b",
            }
            assert load_checkpoint(Saver([a]).save(sess, str(tmp_path / "list"))).keys() == [
                "scope/a"
            ]
            path = Saver({"renamed/a": a, "x": b}).save(sess, str(tmp_path / "dict"))
            reader = load_checkpoint(path)
            assert reader.keys() == ["renamed/a", "x"]
            np.testing.assert_array_equal(reader.get_tensor("x"), [1, 2, 3])


def test_resource_and_reference_variables_round_trip(tmp_path):
    with tf.Graph().as_default() as g:
        res = v1.get_variable("res", [3, 4], use_resource=True)
        ref = v1.get_variable("ref", [5], use_resource=False)
        saver = Saver()
        with session(g) as sess:
            init(sess)
            before = sess.run([res, ref])
            path = saver.save(sess, str(tmp_path / "m"))
            sess.run([res.assign(tf.zeros([3, 4])), ref.assign(tf.zeros([5]))])
            saver.restore(sess, path)
            after = sess.run([res, ref])
    for x, y in zip(before, after, strict=True):
        np.testing.assert_array_equal(x, y)


def test_partitioned_saved_under_full_name_and_restored_into_other_partitioning(tmp_path):
    with tf.Graph().as_default() as g:
        p = v1.get_variable("p", [6, 4], partitioner=v1.fixed_size_partitioner(3))
        with session(g) as sess:
            init(sess)
            value = sess.run(tf.convert_to_tensor(p))
            path = Saver().save(sess, str(tmp_path / "m"))
    reader = load_checkpoint(path)
    assert reader.keys() == ["p"]
    assert reader.get_variable_to_shape_map()["p"] == [6, 4]
    np.testing.assert_array_equal(reader.get_tensor("p"), value)
    for shards in (2, 1):
        with tf.Graph().as_default() as g:
            p = v1.get_variable("p", [6, 4], partitioner=v1.fixed_size_partitioner(shards))
            saver = Saver()
            with session(g) as sess:
                init(sess)
                saver.restore(sess, path)
                np.testing.assert_array_equal(sess.run(tf.convert_to_tensor(p)), value)


@pytest.mark.parametrize("pad", [False, True])
def test_global_step_as_int_tensor_and_name(tmp_path, pad):
    with tf.Graph().as_default() as g:
        step = v1.train.get_or_create_global_step()
        saver = Saver(pad_step_number=pad)
        with session(g) as sess:
            init(sess)
            sess.run(step.assign(42))
            paths = [
                saver.save(sess, str(tmp_path / "m"), global_step=s)
                for s in (7, step, "global_step:0", "global_step")
            ]
    suffixes = ["00000007", "00000042"] if pad else ["7", "42"]
    assert [os.path.basename(p) for p in paths] == [f"m-{suffixes[0]}"] + [f"m-{suffixes[1]}"] * 3


def test_write_meta_graph_false_and_write_state_false(tmp_path):
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        saver = Saver()
        with session(g) as sess:
            init(sess)
            saver.save(sess, str(tmp_path / "m"), global_step=0)  # graph once
            saver.save(sess, str(tmp_path / "m"), global_step=1, write_meta_graph=False)
            saver.save(
                sess, str(tmp_path / "m"), global_step=2, write_meta_graph=False, write_state=False
            )
    names = sorted(os.listdir(tmp_path))
    assert "m-0.meta" in names and "m-1.meta" not in names and "m-2.meta" not in names
    assert "m-2.index" in names
    assert v1.train.latest_checkpoint(str(tmp_path)).endswith("m-1")


def test_latest_filename(tmp_path):
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        saver = Saver()
        with session(g) as sess:
            init(sess)
            saver.save(sess, str(tmp_path / "m"), latest_filename="latest")
            with pytest.raises(ValueError, match="path components"):
                saver.save(sess, str(tmp_path / "m"), latest_filename="a/b")
    assert (tmp_path / "latest").exists() and not (tmp_path / "checkpoint").exists()
    assert v1.train.latest_checkpoint(str(tmp_path), "latest").endswith("m")


def test_sharded_save_across_devices(tmp_path):
    config = v1.ConfigProto(device_count={"CPU": 2})
    with tf.Graph().as_default() as g:
        with tf.device("/cpu:0"):
            v1.get_variable("a", [3], initializer=v1.ones_initializer())
        with tf.device("/cpu:1"):
            v1.get_variable("b", [3], initializer=v1.zeros_initializer())
        saver = Saver(sharded=True)
        assert saver.saver_def.sharded
        with v1.Session(graph=g, config=config) as sess:
            init(sess)
            path = saver.save(sess, str(tmp_path / "m"))
            saver.restore(sess, path)
    names = sorted(os.listdir(tmp_path))
    assert "m.data-00000-of-00002" in names and "m.data-00001-of-00002" in names
    assert not [n for n in names if "_temp" in n or ".tmp-" in n]
    assert load_checkpoint(path).keys() == ["a", "b"]


def test_save_creates_missing_parent_directory(tmp_path):
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        with session(g) as sess:
            init(sess)
            path = Saver().save(sess, str(tmp_path / "no" / "such" / "dir" / "m"))
    assert os.path.exists(path + ".index")


def test_reshape_and_restore_sequentially(tmp_path):
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2, 3], initializer=tf.constant_initializer(np.arange(6.0)))
        v1.get_variable("u", [2])
        with session(g) as sess:
            init(sess)
            path = Saver().save(sess, str(tmp_path / "m"))
    with tf.Graph().as_default() as g:
        w = v1.get_variable("w", [3, 2])
        v1.get_variable("u", [2])
        saver = Saver(reshape=True, restore_sequentially=True)
        with session(g) as sess:
            init(sess)
            saver.restore(sess, path)
            np.testing.assert_array_equal(sess.run(w), np.arange(6.0).reshape(3, 2))


def test_empty_defer_build_and_saver_def_round_trip(tmp_path):
    with tf.Graph().as_default() as g:
        assert Saver(allow_empty=True).save(session(g), str(tmp_path / "e")) is None
        with pytest.raises(ValueError, match="No variables to save"):
            Saver()
        v1.get_variable("w", [2])
        deferred = Saver(defer_build=True)
        with pytest.raises(RuntimeError, match="build"):
            deferred.save(session(g), str(tmp_path / "d"))
        deferred.build()
        saver_def = deferred.as_saver_def()
        assert saver_def.restore_op_name == "save/restore_all"
        assert saver_def.filename_tensor_name == "save/Const:0"
        assert Saver.from_proto(deferred.to_proto()).saver_def == saver_def
        with pytest.raises(ValueError, match="var_list"):
            Saver([v1.global_variables()[0]], defer_build=True)


def test_arguments_we_cannot_honour_raise(tmp_path):
    with tf.Graph().as_default():
        v1.get_variable("w", [2])
        with pytest.raises(UnsupportedFeatureError, match="write_version"):
            Saver(write_version=v1.train.SaverDef.LEGACY)
        Saver(write_version=v1.train.SaverDef.V1)  # written with SaveSlices, as stock
        with pytest.raises(UnsupportedFeatureError, match="builder"):
            Saver(builder=object())


def test_eager_mode_needs_a_var_list_and_points_to_legacy_model():
    assert tf.executing_eagerly()
    with pytest.raises(RuntimeError, match=r"var_list.*LegacyModel"):
        Saver()
    Saver([tf.Variable(1.0)])  # works, as stock's (tests/test_saver_stock_compat.py)


def test_last_checkpoints_api(tmp_path):
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        saver = Saver(max_to_keep=2)
        with session(g) as sess:
            init(sess)
            paths = [saver.save(sess, str(tmp_path / "m"), global_step=i) for i in range(3)]
        assert saver.last_checkpoints == paths[1:]
        saver.set_last_checkpoints_with_time([(paths[2], 5.0)])
        assert saver.last_checkpoints == [paths[2]]
        saver.recover_last_checkpoints(paths)  # the deleted one is skipped
        assert saver.last_checkpoints == paths[1:]
