"""Fine-tuning an imported VGG-16 (the workflow of docs/imported-graphs.md), end to end.

Stock TF writes the ``.meta`` + checkpoint; we import, cut at ``vgg_16/fc7/Relu:0``, stop
gradients, add a new head, train only the new variables, save old + new with our Saver, and
reload in a fresh process. A narrow VGG-16 (same scope names, 32x32 input) keeps the default
run fast; one run uses the real ``tf_slim`` VGG-16 at full size.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from legacy_saver.graph import LegacyModel

FC7 = "vgg_16/fc7/Relu:0"
RELOAD = """
import sys
import numpy as np
from legacy_saver.graph import LegacyModel

directory = sys.argv[1]
with LegacyModel.load(directory) as model:
    x = np.load(directory + "/x.npy")
    np.save(directory + "/reloaded.npy", model.run("new_head/logits:0", {"input:0": x}))
"""


def _narrow_vgg_16(tf, inputs, num_classes=10):
    """tf_slim's VGG-16 layer for layer (same scopes and names), narrow, for 32x32 inputs."""
    import tf_slim as slim

    widths = (8, 16, 16, 32, 32)
    repeats = (2, 2, 3, 3, 3)
    with tf.compat.v1.variable_scope("vgg_16"):
        net = inputs
        for i, (width, n) in enumerate(zip(widths, repeats, strict=True), start=1):
            net = slim.repeat(net, n, slim.conv2d, width, [3, 3], scope=f"conv{i}")
            net = slim.max_pool2d(net, [2, 2], scope=f"pool{i}")
        net = slim.conv2d(net, 64, [1, 1], padding="VALID", scope="fc6")  # 7x7 at 224 input
        net = slim.conv2d(net, 64, [1, 1], scope="fc7")
        net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, scope="fc8")
        return tf.squeeze(net, [1, 2], name="fc8/squeezed")


def _write_pretrained(tf, directory, size, build):
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        tf.compat.v1.set_random_seed(1)
        images = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3], name="input")
        build(images)
        sess.run(tf.compat.v1.global_variables_initializer())
        return tf.compat.v1.train.Saver().save(sess, os.path.join(directory, "vgg_16.ckpt"))


def _fine_tune(tf, model, x, labels, num_classes, steps):
    """The documented workflow; returns (losses, old values before, old values after, logits)."""
    old = model.variables
    before = model.run(old)
    with model.graph.as_default():
        features = tf.squeeze(tf.stop_gradient(model.tensor(FC7)), [1, 2])
        with tf.compat.v1.variable_scope("new_head"):
            w = tf.compat.v1.get_variable("weights", [features.shape[-1], num_classes])
            b = tf.compat.v1.get_variable(
                "biases", [num_classes], initializer=tf.compat.v1.zeros_initializer()
            )
            logits = tf.add(tf.matmul(features, w), b, name="logits")
        y = tf.compat.v1.placeholder(tf.int32, [None], name="labels")
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        )
        optimizer = tf.compat.v1.train.AdamOptimizer(1e-2)
        train = optimizer.minimize(loss, var_list=[w, b])
        model.session.run(tf.compat.v1.variables_initializer([w, b] + optimizer.variables()))
    feed = {"input:0": x, y: labels}
    losses = [model.run([train, loss], feed)[1] for _ in range(steps)]
    losses.append(model.run(loss, feed))
    return losses, before, model.run(old), model.run(logits, {"input:0": x})


def _workflow(tf, tmp_path, size, build, num_classes, batch, steps):
    from legacy_saver.saver import Saver

    prefix = _write_pretrained(tf, str(tmp_path / "pretrained"), size, build)
    rng = np.random.default_rng(0)
    x = rng.standard_normal([batch, size, size, 3]).astype(np.float32)
    labels = rng.integers(0, num_classes, batch).astype(np.int32)
    out = tmp_path / "fine_tuned"
    with LegacyModel.load(prefix) as model:
        losses, before, after, logits = _fine_tune(tf, model, x, labels, num_classes, steps)
        with model.graph.as_default():
            Saver().save(model.session, str(out / "model.ckpt"), global_step=steps)
        names = [v.op.name for v in model.variables]
    assert losses[-1] < losses[0], losses
    # The old weights are bit-identical.
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert "vgg_16/conv1/conv1_1/weights" in names and "new_head/weights" in names
    np.save(out / "x.npy", x)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", RELOAD, str(out)], check=True, env=env, timeout=300)
    np.testing.assert_array_equal(np.load(out / "reloaded.npy"), logits)


@pytest.mark.slow
def test_narrow_vgg_16_fine_tune_save_and_reload(tf, tmp_path):
    _workflow(tf, tmp_path, 32, lambda images: _narrow_vgg_16(tf, images), 5, 8, 5)


@pytest.mark.slow
def test_full_size_vgg_16_fine_tune_save_and_reload(tf, tmp_path):
    from tf_slim.nets import vgg

    def build(images):
        vgg.vgg_16(images, num_classes=1000, is_training=False)

    _workflow(tf, tmp_path, 224, build, 3, 2, 3)
