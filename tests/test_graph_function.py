"""to_function: gradients for both variable kinds (#14.2), inputs with defaults (#14.6)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from legacy_saver.graph import LegacyModel

RNG = np.random.default_rng(7)
X = RNG.normal(size=(8, 3)).astype(np.float32)
Y = RNG.normal(size=(8, 2)).astype(np.float32)
LEARNING_RATE = 0.1
STEPS = 4


def _regression(tf, directory):
    """loss = mean((x @ w + b - y)^2): w a reference variable, b a resource variable."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        y = tf.compat.v1.placeholder(tf.float32, [None, 2], name="y")
        w = tf.compat.v1.Variable(
            RNG.normal(size=(3, 2)).astype(np.float32), name="w", use_resource=False
        )
        b = tf.compat.v1.get_variable(
            "b", initializer=RNG.normal(size=(2,)).astype(np.float32), use_resource=True
        )
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y), name="loss")
        sess.run(tf.compat.v1.global_variables_initializer())
        prefix = tf.compat.v1.train.Saver().save(sess, os.path.join(directory, "model"))
        grads = sess.run(tf.gradients(loss, [w, b]), {x: X, y: Y})
        train = tf.compat.v1.train.GradientDescentOptimizer(LEARNING_RATE).minimize(loss)
        losses = []
        for _ in range(STEPS):
            value, _ = sess.run([loss, train], {x: X, y: Y})
            losses.append(value)
    assert {v.op.type for v in g.get_collection("variables")} == {"VariableV2", "VarHandleOp"}
    return prefix, dict(zip(["w", "b"], grads, strict=True)), losses


def test_gradients_and_training_match_tf1_for_both_variable_kinds(tf, tmp_path):
    prefix, tf1_grads, tf1_losses = _regression(tf, str(tmp_path))
    with LegacyModel.load(prefix) as model:
        fn = model.to_function(["x:0", "y:0"], ["loss:0"])
    variables = dict(zip(fn.variable_names, fn.legacy_variables, strict=True))
    with tf.GradientTape() as tape:
        (loss,) = fn(X, Y)
    grads = tape.gradient(loss, [variables["w"], variables["b"]])
    assert all(g is not None for g in grads), "no gradient for a variable"
    np.testing.assert_allclose(grads[0].numpy(), tf1_grads["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[1].numpy(), tf1_grads["b"], rtol=1e-5, atol=1e-6)
    losses = []
    for _ in range(STEPS):
        with tf.GradientTape() as tape:
            (loss,) = fn(X, Y)
        losses.append(loss.numpy())
        for var, grad in zip(
            fn.legacy_variables, tape.gradient(loss, fn.legacy_variables), strict=True
        ):
            var.assign_sub(LEARNING_RATE * grad)
    np.testing.assert_allclose(losses, tf1_losses, rtol=1e-5)
    assert losses[-1] < losses[0]


def _batch_norm_model(tf, directory):
    """A conv + batch norm + dropout net with an ``is_training`` PlaceholderWithDefault."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        images = tf.compat.v1.placeholder(tf.float32, [None, 4, 4, 3], name="input")
        training = tf.compat.v1.placeholder_with_default(True, [], name="is_training")
        kernel = tf.compat.v1.get_variable("conv/kernel", [3, 3, 3, 4])
        net = tf.nn.conv2d(images, kernel, 1, "VALID")
        with tf.compat.v1.variable_scope("bn"):  # batch norm as TF1 graphs spell it
            stats = {
                name: tf.compat.v1.get_variable(
                    name, initializer=RNG.uniform(0.5, 2.0, size=4).astype(np.float32)
                )  # random moving statistics
                for name in ("moving_mean", "moving_variance", "gamma", "beta")
            }
            batch_mean, batch_variance = tf.nn.moments(net, [0, 1, 2])
            mean = tf.where(training, batch_mean, stats["moving_mean"])
            variance = tf.where(training, batch_variance, stats["moving_variance"])
            net = tf.nn.batch_normalization(
                net, mean, variance, stats["beta"], stats["gamma"], 1e-3
            )
        net = tf.where(training, tf.nn.dropout(net, rate=0.5), net)
        tf.reduce_sum(net, axis=[1, 2], name="logits")
        sess.run(tf.compat.v1.global_variables_initializer())
        return tf.compat.v1.train.Saver().save(sess, os.path.join(directory, "model"))


def test_inputs_list_placeholders_with_defaults_and_a_left_out_one_warns(tf, tmp_path):
    prefix = _batch_norm_model(tf, str(tmp_path))
    images = RNG.normal(size=(2, 4, 4, 3)).astype(np.float32)
    with LegacyModel.load(prefix) as model:
        assert [t.name for t in model.inputs] == ["input:0", "is_training:0"]
        assert model.input_defaults == {"is_training:0": True}
        inference = model.run("logits:0", {"input:0": images, "is_training:0": False})
        with pytest.warns(
            UserWarning, match=r"depend on is_training:0 \(default True\), not among"
        ):
            model.to_function(["input:0"], ["logits:0"])
        fn = model.to_function(["input:0", "is_training:0"], ["logits:0"])
    np.testing.assert_allclose(fn(images, False)[0].numpy(), inference, rtol=1e-5, atol=1e-5)
    with LegacyModel.load(prefix, input_map={"is_training:0": False}) as model:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fixed = model.to_function(["input:0"], ["logits:0"])
    np.testing.assert_allclose(fixed(images)[0].numpy(), inference, rtol=1e-5, atol=1e-5)
