"""What a caller written for ``tf.compat.v1.train.Saver`` relies on (issue #19): eager mode
with an explicit ``var_list``, ``write_version=V1``, restore errors of stock's
``tf.errors`` classes, and the eager-mode message pointing to ``LegacyModel`` (#14.8).
TensorFlow's own suite runs in ``test_peer_suite.py``; these are the same promises in
small, with our guarantees checked too."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver import LegacyModel, Saver, import_meta_graph, load_checkpoint  # noqa: E402
from legacy_saver.errors import RestoreMismatchError  # noqa: E402
from legacy_saver.state import get_checkpoint_state  # noqa: E402

v1 = tf.compat.v1
V1 = tf.compat.v1.train.SaverDef.V1


# -- eager mode ---------------------------------------------------------------------------


def test_eager_save_and_restore_with_a_var_list(tmp_path):
    a = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="a")
    b = tf.Variable([1, 2], dtype=tf.int64, name="b")
    step = tf.Variable(7, dtype=tf.int64)
    saver = Saver({"a": a, "b": b}, max_to_keep=1)
    first = saver.save(None, str(tmp_path / "ckpt"), global_step=step)
    assert first == str(tmp_path / "ckpt-7")
    assert not os.path.exists(first + ".meta")  # no graph in eager mode, as stock
    step.assign(8)
    second = saver.save(None, str(tmp_path / "ckpt"), global_step=step)
    assert saver.last_checkpoints == [second] and not os.path.exists(first + ".index")
    assert get_checkpoint_state(tmp_path).model_checkpoint_path == second
    a.assign(tf.zeros([2, 3]))
    b.assign([0, 0])
    saver.restore(None, second)
    np.testing.assert_array_equal(a.numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(b.numpy(), [1, 2])


@pytest.mark.parametrize("version", [V1, 2], ids=["V1", "V2"])
def test_eager_sharded_checkpoints_read_by_stock_in_graph_mode(tmp_path, version):
    a = tf.Variable([1.0, 2.0], name="a")
    path = Saver([a], sharded=True, write_version=version).save(None, str(tmp_path / "s"))
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        a2 = v1.get_variable("a", [2])
        v1.train.Saver([a2]).restore(sess, path)
        np.testing.assert_array_equal(sess.run(a2), [1.0, 2.0])


def test_eager_restore_errors_are_ours_and_stocks(tmp_path):
    a = tf.Variable([1.0, 2.0], name="a")
    path = Saver([a]).save(None, str(tmp_path / "m"))
    wrong = tf.Variable([0.0, 0.0, 0.0], name="a")
    with pytest.raises(RestoreMismatchError) as e:
        Saver([wrong]).restore(None, path)
    assert isinstance(e.value, tf.errors.InvalidArgumentError)
    assert "shape: 'a' is [2] in the checkpoint, the graph expects [3]" in str(e.value)
    np.testing.assert_array_equal(wrong.numpy(), [0.0, 0.0, 0.0])  # nothing restored
    other = tf.Variable([0.0, 0.0], name="zz")
    with pytest.raises(tf.errors.NotFoundError, match="Key zz not found in checkpoint"):
        Saver([other]).restore(None, path)


def test_eager_mode_points_to_legacy_model_and_it_works(tmp_path):
    with tf.Graph().as_default() as g:
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        w = v1.get_variable("w", initializer=[[1.0], [2.0]])
        tf.identity(tf.matmul(x, w), name="y")
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            prefix = Saver().save(sess, str(tmp_path / "m"))
    assert tf.executing_eagerly()
    messages = []
    for call in (lambda: Saver(), lambda: import_meta_graph(prefix + ".meta")):
        with pytest.raises(RuntimeError) as e:
            call()
        messages.append(str(e.value))
    for message in messages:
        assert "LegacyModel" in message and "tf.train.Checkpoint" not in message
    with pytest.raises(RuntimeError, match="Use save/restore instead of build in eager mode"):
        Saver([w := tf.Variable(1.0)]).build()
    del w
    model = LegacyModel.load(prefix + ".meta")  # what the message promises, in eager mode
    np.testing.assert_allclose(model.run(["y:0"], {"x:0": [[1.0, 1.0]]})[0], [[3.0]])


# -- V1 writing ---------------------------------------------------------------------------


def _save_both(tmp_path, sharded):
    """The same values saved by stock's V1 Saver and ours; returns (stock, ours) prefixes."""
    out = []
    for kind, cls in (("stock", v1.train.Saver), ("ours", Saver)):
        (tmp_path / kind).mkdir()  # stock's Saver does not create it
        with tf.Graph().as_default() as g:
            config = v1.ConfigProto(device_count={"CPU": 2})
            with tf.device("/cpu:0"):
                a = v1.get_variable("a", initializer=np.arange(12, dtype=np.float32).reshape(3, 4))
                s = v1.get_variable("s", initializer=np.array([b"x", b"\xff"], dtype=object))
            with tf.device("/cpu:1"):
                p = v1.get_variable("p", [6, 2], partitioner=v1.fixed_size_partitioner(2))
            with v1.Session(graph=g, config=config) as sess:
                sess.run(v1.global_variables_initializer())
                sess.run([part.assign(tf.fill(part.shape, 2.5)) for part in p])
                saver = cls([a, s, p], write_version=V1, sharded=sharded)
                out.append(saver.save(sess, str(tmp_path / kind / "model"), global_step=3))
    return out


@pytest.mark.parametrize("sharded", [False, True])
def test_v1_files_are_byte_for_byte_stocks(tmp_path, sharded, caplog):
    with caplog.at_level(logging.WARNING):
        stock, ours = _save_both(tmp_path, sharded)
    assert os.path.basename(ours) == os.path.basename(stock)
    assert "TensorFlow's V1 checkpoint format has been deprecated." in caplog.text
    names = sorted(n for n in os.listdir(tmp_path / "stock") if n.startswith("model-3"))
    assert sorted(n for n in os.listdir(tmp_path / "ours") if n.startswith("model-3")) == names
    for name in names:
        if name.endswith(".meta"):
            continue  # a graph: ours has our own save/restore subgraph
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "stock" / name).read_bytes()
    reader = tf.train.load_checkpoint(ours)
    np.testing.assert_array_equal(reader.get_tensor("a"), np.arange(12).reshape(3, 4))
    with load_checkpoint(ours) as r:
        assert list(r.get_tensor("s")) == [b"x", b"\xff"]
    meta = v1.MetaGraphDef()
    meta.ParseFromString(open(ours.split("-?????")[0] + ".meta", "rb").read())
    assert meta.saver_def.version == V1


def test_v1_retention_deletes_old_v1_files(tmp_path):
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        v1.get_variable("w", [2])
        sess.run(v1.global_variables_initializer())
        saver = Saver(write_version=V1, max_to_keep=1)
        first = saver.save(sess, str(tmp_path / "m"), global_step=1)
        second = saver.save(sess, str(tmp_path / "m"), global_step=2)
        saver.restore(sess, second)
    assert not os.path.exists(first) and not os.path.exists(first + ".meta")
    assert os.path.exists(second) and saver.last_checkpoints == [second]


# -- graph-mode compatibility details --------------------------------------------------


def test_restore_errors_carry_stocks_class_and_words(tmp_path):
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        v1.get_variable("w", [2, 3])
        sess.run(v1.global_variables_initializer())
        path = Saver().save(sess, str(tmp_path / "m"))
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        v1.get_variable("w", [3, 2], use_resource=False)
        with pytest.raises(tf.errors.InvalidArgumentError) as e:
            Saver().restore(sess, path)
    assert isinstance(e.value, RestoreMismatchError) and isinstance(e.value, ValueError)
    assert "Assign requires shapes of both tensors to match. lhs shape= [3,2] rhs shape= [2,3]" in (
        str(e.value)
    )
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        v1.get_variable("w", [2, 3], dtype=tf.int32)
        with pytest.raises(tf.errors.InvalidArgumentError, match="original dtype"):
            Saver().restore(sess, path)


def test_max_to_keep_none_or_zero_tracks_nothing_in_memory_but_lists_all(tmp_path):
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        v1.get_variable("w", [2])
        sess.run(v1.global_variables_initializer())
        saver = Saver(max_to_keep=None)
        for step in range(3):
            saver.save(sess, str(tmp_path / "m"), global_step=step)
        assert saver.last_checkpoints == []  # as stock's
    assert len(get_checkpoint_state(tmp_path).all_model_checkpoint_paths) == 3  # ours: all


def test_a_saver_from_a_saver_def_uses_its_retention(tmp_path):
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        v1.get_variable("w", [2])
        sess.run(v1.global_variables_initializer())
        first = Saver(max_to_keep=1)
        twin = Saver(saver_def=first.as_saver_def())
        paths = [twin.save(sess, str(tmp_path / "m"), global_step=s) for s in range(3)]
        assert twin.last_checkpoints == paths[-1:]
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith(".index")) == ["m-2.index"]
