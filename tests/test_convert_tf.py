"""Differential tests against stock TensorFlow: what TF2 and TF1 readers make
of structurally converted checkpoints, and resumed Adam training."""

from __future__ import annotations

import numpy as np
import pytest

from converters.api import tf1_to_tf2, tf2_to_tf1

NAMES = {"a/b": [2], "a/b/c": [3], "x.y/z": [1], "dense/kernel": [3, 2]}


def _save_tf1(tf, prefix, names=NAMES):
    values = {n: np.random.default_rng(i).standard_normal(s).astype(np.float32)
              for i, (n, s) in enumerate(names.items())}  # fmt: skip
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        vs = [tf.compat.v1.get_variable(n, initializer=v) for n, v in values.items()]
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver(vs).save(sess, prefix, write_meta_graph=False, write_state=False)
    return values


def test_tf2_checkpoint_read_assert_consumed(tf, tmp_path):
    values = _save_tf1(tf, str(tmp_path / "tf1"))
    dst = str(tmp_path / "tf2")
    tf1_to_tf2(str(tmp_path / "tf1"), dst)
    a, xy, dense = tf.Module(), tf.Module(), tf.Module()
    a.b = tf.Variable(tf.zeros([2]))
    c = tf.Variable(tf.zeros([3]))
    a.b._track_trackable(c, name="c")  # "a/b" is a variable and a scope
    xy.z = tf.Variable(tf.zeros([1]))
    dense.kernel = tf.Variable(tf.zeros([3, 2]))
    ckpt = tf.train.Checkpoint(a=a, dense=dense, **{"x.y": xy})
    ckpt.read(dst).assert_consumed()
    got = {"a/b": a.b, "a/b/c": c, "x.y/z": xy.z, "dense/kernel": dense.kernel}
    for name, var in got.items():
        np.testing.assert_array_equal(var.numpy(), values[name])
    # a tree that does not match is reported by TF, not silently accepted
    wrong = tf.train.Checkpoint(a=tf.Module(), dense=dense)
    with pytest.raises(AssertionError):
        wrong.read(dst).assert_consumed()


def test_tf1_saver_name_based_fallback_finds_variables(tf, tmp_path):
    values = _save_tf1(tf, str(tmp_path / "tf1"))
    dst = str(tmp_path / "tf2")
    tf1_to_tf2(str(tmp_path / "tf1"), dst)
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        vs = {n: tf.compat.v1.get_variable(n, shape=s) for n, s in NAMES.items()}
        tf.compat.v1.train.Saver(list(vs.values())).restore(sess, dst)
        for name, var in vs.items():
            np.testing.assert_array_equal(sess.run(var), values[name])


def _adam_graph(tf):
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(6, 2)
    y = (x @ np.array([[1.5], [-2.0]], np.float32)).astype(np.float32)
    return x, y


def test_adam_training_resumes_after_conversion(tf, tmp_path):
    x, y = _adam_graph(tf)
    g = tf.Graph()
    losses = []
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        w = tf.compat.v1.get_variable("dense/kernel", initializer=np.full([2, 1], 0.1, np.float32))
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - y))
        train = tf.compat.v1.train.AdamOptimizer(0.05).minimize(loss)
        saver = tf.compat.v1.train.Saver()
        sess.run(tf.compat.v1.global_variables_initializer())
        for step in range(6):
            if step == 3:
                saver.save(sess, str(tmp_path / "tf1"), write_meta_graph=False, write_state=False)
            losses.append(sess.run([loss, train])[0])
    report = tf1_to_tf2(str(tmp_path / "tf1"), str(tmp_path / "tf2"))
    assert {a.how for a in report.actions} == {"exact", "optimizer-slot", "optimizer-state"}
    dense = tf.Module()
    dense.kernel = tf.Variable(tf.zeros([2, 1]))
    opt = tf.compat.v1.train.AdamOptimizer(0.05)
    status = tf.train.Checkpoint(dense=dense, optimizer=opt).read(str(tmp_path / "tf2"))
    resumed = []
    for _ in range(3):

        def loss_fn():
            return tf.reduce_mean(tf.square(tf.matmul(x, dense.kernel) - y))

        resumed.append(float(loss_fn()))
        opt.minimize(loss_fn, var_list=[dense.kernel])
    status.assert_consumed()  # slots and beta powers were all picked up
    np.testing.assert_allclose(resumed, losses[3:], rtol=1e-6)
    # and back to TF1 names
    back = tf2_to_tf1(str(tmp_path / "tf2"), str(tmp_path / "back"))
    assert sorted(a.dst for a in back.actions) == [
        "beta1_power",
        "beta2_power",
        "dense/kernel",
        "dense/kernel/Adam",
        "dense/kernel/Adam_1",
    ]
