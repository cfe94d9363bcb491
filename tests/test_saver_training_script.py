"""A TF1-style training script, run with the stock Saver and with ours: same files, same values."""

from __future__ import annotations

import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver import state  # noqa: E402
from legacy_saver.bundle import load_checkpoint  # noqa: E402
from legacy_saver.saver import Saver  # noqa: E402

v1 = tf.compat.v1


def train(saver_class, directory: str, steps: int = 6) -> dict:
    """What a 2017 training script does: build, init or restore, train, save every 2 steps."""
    with tf.Graph().as_default() as g:
        v1.set_random_seed(0)
        x = tf.constant(np.linspace(-1, 1, 32, dtype=np.float32).reshape(32, 1))
        y = 3.0 * x + 0.5
        step = v1.train.get_or_create_global_step()
        w = v1.get_variable("linear/w", [1, 1])
        b = v1.get_variable("linear/b", [1], initializer=v1.zeros_initializer())
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
        train_op = v1.train.AdamOptimizer(0.1).minimize(loss, global_step=step)
        saver = saver_class(max_to_keep=2)
        with v1.Session(graph=g) as sess:
            latest = v1.train.latest_checkpoint(directory)
            if latest:
                saver.restore(sess, latest)
            else:
                sess.run(v1.global_variables_initializer())
            for _ in range(steps):
                sess.run(train_op)
                if sess.run(step) % 2 == 0:
                    saver.save(sess, os.path.join(directory, "model.ckpt"), global_step=step)
            return {"graph": {op.name for op in g.get_operations()}, "saver_def": saver.saver_def}


@pytest.mark.slow
def test_stock_and_ours_produce_the_same_files_and_values(tmp_path):
    stock_dir, ours_dir = str(tmp_path / "stock"), str(tmp_path / "ours")
    stock = train(v1.train.Saver, stock_dir)
    ours = train(Saver, ours_dir)
    assert sorted(os.listdir(stock_dir)) == sorted(os.listdir(ours_dir))
    assert sorted(os.listdir(ours_dir)) == [
        "checkpoint",
        *(
            f"model.ckpt-{s}.{ext}"
            for s in (4, 6)
            for ext in ("data-00000-of-00001", "index", "meta")
        ),
    ]
    for name in ("model.ckpt-4", "model.ckpt-6"):
        a = load_checkpoint(os.path.join(stock_dir, name))
        b = load_checkpoint(os.path.join(ours_dir, name))
        assert a.keys() == b.keys()
        assert a.get_variable_to_dtype_map() == b.get_variable_to_dtype_map()
        for key in a.keys():
            np.testing.assert_array_equal(a.get_tensor(key), b.get_tensor(key), err_msg=key)
    names = [
        [os.path.basename(p) for p in state.read_state(d).all_model_checkpoint_paths]
        for d in (stock_dir, ours_dir)
    ]
    assert names[0] == names[1] == ["model.ckpt-4", "model.ckpt-6"]
    assert ours["graph"] == stock["graph"]  # the same node names, save/restore ops included
    assert ours["saver_def"] == stock["saver_def"]
    # resume: each restarts from its own latest checkpoint, and they stay identical
    train(v1.train.Saver, stock_dir, steps=2)
    train(Saver, ours_dir, steps=2)
    a, b = (load_checkpoint(os.path.join(d, "model.ckpt-8")) for d in (stock_dir, ours_dir))
    for key in a.keys():
        np.testing.assert_array_equal(a.get_tensor(key), b.get_tensor(key), err_msg=key)
