"""Interoperability with stock TensorFlow 2.21, both ways, and where TF1 expects a Saver."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver.bundle import load_checkpoint  # noqa: E402
from legacy_saver.saver import Saver, import_meta_graph  # noqa: E402

v1 = tf.compat.v1


def model():
    """A small TF1 model: resource, reference and partitioned variables, a global step."""
    v1.set_random_seed(1)
    step = v1.train.get_or_create_global_step()
    w = v1.get_variable("dense/kernel", [3, 2], use_resource=True)
    b = v1.get_variable(
        "dense/bias", [2], use_resource=False, initializer=v1.constant_initializer(0.5)
    )
    p = v1.get_variable("emb", [6, 2], partitioner=v1.fixed_size_partitioner(2))
    return step, w, b, p


def values(sess, tensors):
    return [sess.run(tf.convert_to_tensor(t)) for t in tensors]


def assert_same(xs, ys):
    for x, y in zip(xs, ys, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("sharded", [False, True])
def test_ours_restores_with_stock_import_meta_graph_and_stock_saver(tmp_path, sharded):
    with tf.Graph().as_default() as g:
        tensors = model()
        saver = Saver(sharded=sharded)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            expected = values(sess, tensors)
            path = saver.save(sess, str(tmp_path / "m"), global_step=tensors[0])
    assert v1.train.latest_checkpoint(str(tmp_path)) == path
    with tf.Graph().as_default() as g:  # stock import_meta_graph + the stock Saver it makes
        stock = v1.train.import_meta_graph(path + ".meta")
        assert type(stock) is v1.train.Saver
        with v1.Session(graph=g) as sess:
            stock.restore(sess, path)
            by_name = {v.op.name: v for v in v1.global_variables()}
            got = sess.run([by_name[n] for n in ("global_step", "dense/kernel", "dense/bias")])
            assert_same(got, expected[:3])
    with tf.Graph().as_default() as g:  # a stock Saver over the same model code
        tensors = model()
        with v1.Session(graph=g) as sess:
            v1.train.Saver().restore(sess, path)
            assert_same(values(sess, tensors), expected)


@pytest.mark.parametrize("sharded", [False, True])
def test_stock_checkpoints_and_meta_graphs_restore_with_ours(tmp_path, sharded):
    with tf.Graph().as_default() as g:
        tensors = model()
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            expected = values(sess, tensors)
            path = v1.train.Saver(sharded=sharded).save(sess, str(tmp_path / "m"), global_step=3)
    with tf.Graph().as_default() as g:
        tensors = model()
        with v1.Session(graph=g) as sess:
            Saver().restore(sess, path)
            assert_same(values(sess, tensors), expected)
    with tf.Graph().as_default() as g:
        saver = import_meta_graph(path + ".meta")
        assert type(saver) is Saver
        with v1.Session(graph=g) as sess:
            saver.restore(sess, path)
            assert sess.run("dense/bias:0").tolist() == expected[2].tolist()


def test_same_graph_ours_and_stock_write_the_same_tensors(tmp_path):
    with tf.Graph().as_default() as g:
        model()
        ours, stock = Saver(), v1.train.Saver()
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            a = load_checkpoint(ours.save(sess, str(tmp_path / "ours")))
            b = load_checkpoint(stock.save(sess, str(tmp_path / "stock")))
    assert a.keys() == b.keys()
    for key in a.keys():
        np.testing.assert_array_equal(a.get_tensor(key), b.get_tensor(key))
    assert a.get_variable_to_dtype_map() == b.get_variable_to_dtype_map()


@pytest.mark.slow
def test_scaffold_monitored_training_session_and_checkpoint_saver_hook(tmp_path):
    def run(steps):
        with tf.Graph().as_default():
            step, w, _, _ = model()
            train = v1.assign_add(step, 1)
            saver = Saver(max_to_keep=2)
            scaffold = v1.train.Scaffold(saver=saver)
            hook = v1.train.CheckpointSaverHook(str(tmp_path), save_steps=2, scaffold=scaffold)
            with v1.train.MonitoredTrainingSession(
                checkpoint_dir=str(tmp_path),
                scaffold=scaffold,
                hooks=[hook],
                save_checkpoint_secs=None,
                save_checkpoint_steps=None,
                save_summaries_steps=None,
                save_summaries_secs=None,
                log_step_count_steps=None,
            ) as sess:
                start = sess.run(step)
                for _ in range(steps):
                    sess.run(train)
            return start, saver

    start, _ = run(5)
    assert start == 0
    latest = v1.train.latest_checkpoint(str(tmp_path))
    assert latest.endswith("model.ckpt-5")
    start, saver = run(1)  # a restart resumes from the checkpoint
    assert start == 5
    kept = sorted(n[:-6] for n in os.listdir(tmp_path) if n.endswith(".index"))
    assert kept == ["model.ckpt-5", "model.ckpt-6"]  # max_to_keep=2 after the restart
    assert [os.path.basename(p) for p in saver.last_checkpoints] == kept


@pytest.mark.slow
def test_keep_every_n_hours_as_stock_with_a_real_clock(tmp_path):
    """TensorFlow's KeepCheckpointEveryNHoursTest patches its Saver module's clock, which
    our Saver does not read (the one accepted difference in its suite besides state-file
    paths). The same sequence with real time: the same lists and the same files."""
    from legacy_saver import Saver as Ours

    outcomes = []
    for kind, cls in (("stock", tf.compat.v1.train.Saver), ("ours", Ours)):
        d = tmp_path / kind
        with tf.Graph().as_default() as g, tf.compat.v1.Session(graph=g) as sess:
            v = tf.compat.v1.Variable([10.0], name="v")
            sess.run(tf.compat.v1.global_variables_initializer())
            save = cls({"v": v}, max_to_keep=2, keep_checkpoint_every_n_hours=0.7 / 3600)
            time.sleep(1.0)  # s1 will be old enough to keep
            lists = []
            for name in ("s1", "s2", "s3", "s4"):
                save.save(sess, str(d / name))
                lists.append([os.path.basename(p) for p in save.last_checkpoints])
        exists = {n: tf.compat.v1.train.checkpoint_exists(str(d / n)) for n in ("s1", "s2", "s3")}
        outcomes.append((lists, exists))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][0][-1] == ["s3", "s4"] and outcomes[1][1] == {
        "s1": True,
        "s2": False,
        "s3": True,
    }
