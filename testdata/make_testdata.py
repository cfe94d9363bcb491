"""Regenerate the bundled TF1 test checkpoints (run with stock TensorFlow).

    .venv/bin/python testdata/make_testdata.py

Writes ``testdata/tf1_mlp/``: a two-layer MLP (``dense/kernel``, ``dense/bias``,
``logits/kernel``, ``logits/bias``) trained 3 steps with
``tf.compat.v1.train.AdamOptimizer`` by stock ``tf.compat.v1.train.Saver``: name-based
V2 checkpoint with Adam slots, ``beta1_power``/``beta2_power``, an int64
``global_step``, the ``.meta`` graph and the ``checkpoint`` state file
(relative paths). Values are seeded, so reruns give the same numbers; the
``.meta`` bytes may differ between TensorFlow versions. Made with TF 2.21.0.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

OUT = Path(__file__).resolve().parent / "tf1_mlp"


def _dense(inputs: tf.Tensor, n_in: int, n_out: int, scope: str) -> tf.Tensor:
    """A TF1-style dense layer (``tf.compat.v1.layers`` is gone under Keras 3)."""
    with tf.compat.v1.variable_scope(scope):
        kernel = tf.compat.v1.get_variable("kernel", [n_in, n_out])
        bias = tf.compat.v1.get_variable("bias", [n_out], initializer=tf.zeros_initializer())
    return tf.matmul(inputs, kernel) + bias


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x_data = rng.standard_normal((16, 8)).astype(np.float32)
    y_data = rng.integers(0, 3, size=16)
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.set_random_seed(0)
        x = tf.compat.v1.placeholder(tf.float32, [None, 8], name="x")
        y = tf.compat.v1.placeholder(tf.int64, [None], name="y")
        hidden = tf.nn.relu(_dense(x, 8, 16, "dense"))
        logits = _dense(hidden, 16, 3, "logits")
        tf.identity(tf.nn.softmax(logits), name="probabilities")
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits), name="loss"
        )
        step = tf.compat.v1.train.get_or_create_global_step()
        train = tf.compat.v1.train.AdamOptimizer(0.01).minimize(loss, global_step=step)
        saver = tf.compat.v1.train.Saver(save_relative_paths=True)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for _ in range(3):
                sess.run(train, {x: x_data, y: y_data})
            saver.save(sess, os.fspath(OUT / "model.ckpt"), global_step=step)
    np.savez(OUT / "inputs.npz", x=x_data, y=y_data)


if __name__ == "__main__":
    main()
