"""Training resumes after conversion: TF1 Adam state carried into TF2 targets.

A two-layer TF1 model is trained 5 steps with ``tf.compat.v1.train.AdamOptimizer``
in a graph, saved by stock TF, and trained 3 more steps (the reference losses).
The step-5 checkpoint is converted into each TF2 target, restored with
``assert_existing_objects_matched()``, and trained on the same 3 batches.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from converters.api import tf1_to_tf2
from converters.rules import Rule, RuleError
from legacy_saver.errors import RestoreMismatchError, UnsupportedFeatureError

LR, EPS = 0.01, 1e-8
SIZES = [(4, 16), (16, 1)]
RTOL = 1e-5


def _train_tf1(tf, prefix, make_optimizer, *, global_step=True):
    """Train 5 steps, save, train 3 more: (batches, losses 6-8, step-5 values)."""
    rng = np.random.default_rng(0)
    batches = [
        (rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 1)).astype("float32"))
        for _ in range(8)
    ]
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4])
        y = tf.compat.v1.placeholder(tf.float32, [None, 1])
        h, variables = x, []
        for i, (n_in, n_out) in enumerate(SIZES):
            with tf.compat.v1.variable_scope("dense" if i == 0 else f"dense_{i}"):
                init = tf.compat.v1.initializers.glorot_uniform(seed=i + 1)
                k = tf.compat.v1.get_variable("kernel", [n_in, n_out], initializer=init)
                b = tf.compat.v1.get_variable("bias", [n_out], initializer=tf.zeros_initializer())
            h = tf.matmul(h, k) + b
            h = tf.nn.relu(h) if i == 0 else h
            variables += [k, b]
        loss = tf.reduce_mean(tf.square(h - y))
        step = tf.compat.v1.train.get_or_create_global_step() if global_step else None
        train = make_optimizer().minimize(loss, global_step=step)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for bx, by in batches[:5]:
                sess.run(train, {x: bx, y: by})
            tf.compat.v1.train.Saver().save(sess, prefix)
            values = {v.op.name: sess.run(v) for v in variables}
            losses = [sess.run([loss, train], {x: bx, y: by})[0] for bx, by in batches[5:]]
    return batches, np.array(losses), values


@pytest.fixture(scope="module")
def trained(tf, tmp_path_factory):
    """(prefix, batches, losses of TF1 steps 6-8, step-5 values by TF1 name), TF1 Adam."""
    prefix = str(tmp_path_factory.mktemp("tf1") / "model.ckpt")
    make = lambda: tf.compat.v1.train.AdamOptimizer(LR, epsilon=EPS)  # noqa: E731
    return (prefix, *_train_tf1(tf, prefix, make))


def _resume(tf, call, opt, batches):
    """Train steps 6-8 on TF1's batches; the losses before each update."""
    losses = []
    variables = list(call.trainable_variables)
    for bx, by in batches[5:]:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(call(bx) - by))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        losses.append(float(loss))
    return np.array(losses)


def _keras3(tf):
    import keras

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    opt = keras.optimizers.Adam(LR, epsilon=EPS)
    opt.build(model.trainable_variables)
    return model, opt


def test_keras3_adam_resumes_with_tf1_losses(tf, trained, tmp_path):
    prefix, batches, tf1_losses, _ = trained
    model, opt = _keras3(tf)
    target = tf.train.Checkpoint(model=model, optimizer=opt)
    report = tf1_to_tf2(prefix, tmp_path / "tf2", target=target)
    assert {d.src for d in report.dropped} == {"beta1_power", "beta2_power"}
    assert sum(a.how == "slot" for a in report.actions) == 8
    model, opt = _keras3(tf)  # a fresh twin restores the file
    ckpt = tf.train.Checkpoint(model=model, optimizer=opt)
    ckpt.read(str(tmp_path / "tf2")).assert_existing_objects_matched()
    assert int(opt.iterations) == 5
    losses = _resume(tf, model, opt, batches)
    np.testing.assert_allclose(losses, tf1_losses, rtol=RTOL)
    # Control: Keras 3 Adam's bias correction runs on iterations; reset it and
    # the losses part from TF1's, so the match above depends on the carried count.
    model, opt = _keras3(tf)
    tf.train.Checkpoint(model=model, optimizer=opt).read(str(tmp_path / "tf2")).expect_partial()
    opt.iterations.assign(0)
    wrong = _resume(tf, model, opt, batches)
    assert not np.allclose(wrong, tf1_losses, rtol=RTOL)


def test_without_global_step_iterations_come_from_beta1_power(tf, tmp_path):
    prefix = str(tmp_path / "tf1" / "model.ckpt")
    make = lambda: tf.compat.v1.train.AdamOptimizer(LR, beta1=0.8, epsilon=EPS)  # noqa: E731
    batches, tf1_losses, _ = _train_tf1(tf, prefix, make, global_step=False)
    import keras

    def build():
        model, _ = _keras3(tf)
        opt = keras.optimizers.Adam(LR, beta_1=0.8, epsilon=EPS)
        opt.build(model.trainable_variables)
        return model, opt, tf.train.Checkpoint(model=model, optimizer=opt)

    report = tf1_to_tf2(prefix, tmp_path / "tf2", target=build()[2])
    assert "global_step" not in {a.src for a in report.actions}
    model, opt, target = build()
    target.read(str(tmp_path / "tf2")).assert_existing_objects_matched()
    assert int(opt.iterations) == 5
    np.testing.assert_allclose(_resume(tf, model, opt, batches), tf1_losses, rtol=RTOL)


@pytest.mark.parametrize("centered", [False, True])
def test_keras3_rmsprop_resumes_with_tf1_losses(tf, tmp_path, centered):
    """TF1 RMSProp slots: rms, [mg,] momentum (RMSProp, RMSProp_1[, RMSProp_2])."""
    import keras

    prefix = str(tmp_path / "tf1" / "model.ckpt")
    kwargs = dict(decay=0.9, momentum=0.5, epsilon=1e-6, centered=centered)
    make = lambda: tf.compat.v1.train.RMSPropOptimizer(LR, **kwargs)  # noqa: E731
    batches, tf1_losses, _ = _train_tf1(tf, prefix, make)

    def build():
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
        )
        opt = keras.optimizers.RMSprop(LR, rho=0.9, momentum=0.5, epsilon=1e-6, centered=centered)
        opt.build(model.trainable_variables)
        return model, opt, tf.train.Checkpoint(model=model, optimizer=opt)

    report = tf1_to_tf2(prefix, tmp_path / "tf2", target=build()[2])
    assert sum(a.how == "slot" for a in report.actions) == 4 * (3 if centered else 2)
    model, opt, target = build()
    target.read(str(tmp_path / "tf2")).assert_existing_objects_matched()
    losses = _resume(tf, model, opt, batches)
    np.testing.assert_allclose(losses, tf1_losses, rtol=RTOL)


def _module(tf):
    """A tf.Module whose variables carry no TF1 names: matched by object path."""
    root = tf.Module()
    for i, (n_in, n_out) in enumerate(SIZES):
        layer = tf.Module()
        layer.kernel = tf.Variable(tf.zeros([n_in, n_out]))
        layer.bias = tf.Variable(tf.zeros([n_out]))
        setattr(root, "dense" if i == 0 else f"dense_{i}", layer)
    return root


def _module_call(tf, root):
    def call(x):
        h = tf.nn.relu(tf.matmul(x, root.dense.kernel) + root.dense.bias)
        return tf.matmul(h, root.dense_1.kernel) + root.dense_1.bias

    call.trainable_variables = [root.dense.kernel, root.dense.bias,
                                root.dense_1.kernel, root.dense_1.bias]  # fmt: skip
    return call


def _v1_adam(tf, variables):
    opt = tf.compat.v1.train.AdamOptimizer(LR, epsilon=EPS)
    step = tf.Variable(0, dtype=tf.int64, name="global_step")
    opt.apply_gradients([(tf.zeros_like(v), v) for v in variables])  # creates the slots
    return opt, step


def test_tf_module_with_v1_adam_slot_layout_resumes(tf, trained, tmp_path):
    prefix, batches, tf1_losses, _ = trained

    def build():
        root = _module(tf)
        call = _module_call(tf, root)
        opt, step = _v1_adam(tf, call.trainable_variables)
        return root, call, opt, tf.train.Checkpoint(model=root, optimizer=opt, global_step=step)

    *_, target = build()
    report = tf1_to_tf2(prefix, tmp_path / "tf2", target=target)
    assert {a.src: a.how for a in report.actions}["beta1_power"] == "exact"
    assert report.dropped == ()
    root, call, opt, ckpt = build()
    ckpt.read(str(tmp_path / "tf2")).assert_existing_objects_matched()
    assert int(ckpt.global_step) == 5
    losses = _resume(tf, call, opt, batches)
    np.testing.assert_allclose(losses, tf1_losses, rtol=RTOL)


@pytest.mark.parametrize("layout", ["legacy", "current"])
def test_tf_keras_model_and_adam_resume(tf, trained, tmp_path, layout):
    """tf_keras: legacy Adam keeps .OPTIMIZER_SLOT slots, the current one lists."""
    tf_keras = pytest.importorskip("tf_keras")
    prefix, batches, tf1_losses, values = trained

    def build():
        model = tf_keras.Sequential(
            [
                tf_keras.layers.Dense(16, activation="relu", input_shape=(4,)),
                tf_keras.layers.Dense(1),
            ]  # fmt: skip
        )
        if layout == "legacy":
            opt = tf_keras.optimizers.legacy.Adam(LR, epsilon=EPS)
            opt._create_all_weights(model.trainable_variables)
        else:
            opt = tf_keras.optimizers.Adam(LR, epsilon=EPS)
            opt.build(model.trainable_variables)
        return model, opt

    model, opt = build()
    assert model.trainable_variables[0].name.endswith("/kernel:0")
    target = tf.train.Checkpoint(model=model, optimizer=opt)
    report = tf1_to_tf2(prefix, tmp_path / "tf2", target=target)
    assert sum(a.how == "slot" for a in report.actions) == 8
    model, opt = build()
    target = tf.train.Checkpoint(model=model, optimizer=opt)
    target.read(str(tmp_path / "tf2")).assert_existing_objects_matched()
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), values["dense_1/kernel"])
    assert int(opt.iterations) == 5
    losses = _resume(tf, model, opt, batches)
    np.testing.assert_allclose(losses, tf1_losses, rtol=RTOL)


def test_unbuilt_optimizer_is_refused_not_started_afresh(tf, trained, tmp_path):
    import keras

    prefix = trained[0]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16), keras.layers.Dense(1)])
    target = tf.train.Checkpoint(model=model, optimizer=keras.optimizers.Adam())
    with pytest.raises(UnsupportedFeatureError, match=r"target optimizer Adam has no slot"):
        tf1_to_tf2(prefix, tmp_path / "tf2", target=target)


def test_optimizer_drop_lists_slots_and_starts_fresh(tf, trained, tmp_path):
    prefix, _, _, values = trained
    model, opt = _keras3(tf)
    report = tf1_to_tf2(
        prefix, tmp_path / "tf2", target=tf.train.Checkpoint(model=model, optimizer=opt),
        optimizer="drop",
    )  # fmt: skip
    dropped = {d.src: d.reason for d in report.dropped}
    assert set(dropped) == {f"{n}/Adam{s}" for n in values for s in ("", "_1")} | {
        "beta1_power", "beta2_power", "global_step",
    }  # fmt: skip
    assert dropped["dense/kernel/Adam"] == "optimizer state (optimizer='drop')"
    model, opt = _keras3(tf)
    tf.train.Checkpoint(model=model, optimizer=opt).read(
        str(tmp_path / "tf2")
    ).assert_existing_objects_matched()
    assert int(opt.iterations) == 0
    assert not np.any(opt.variables[2].numpy())  # a fresh first moment
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), values["dense/kernel"])


def test_unmatched_variables_are_one_error_with_candidates(tf, trained, tmp_path):
    import keras

    prefix, _, _, _ = trained
    model = keras.Sequential(  # the second layer is wider than TF1's
        [
            keras.Input((4,)),
            keras.layers.Dense(16, name="dense"),
            keras.layers.Dense(2, name="dense_1"),
        ]  # fmt: skip
    )
    with pytest.raises(RestoreMismatchError) as err:
        tf1_to_tf2(prefix, tmp_path / "tf2", target=model, optimizer="drop")
    lines = str(err.value).splitlines()
    assert lines[0] == f"2 target variable(s) have no source tensor in {prefix}:"
    assert re.fullmatch(
        r"  model/\S+/VARIABLE_VALUE \[16, 2\] \(names: sequential\w*/dense_1/kernel, \S+\); "
        r"closest: dense_1/kernel \[16, 1\](, .+)?",
        lines[1],
    )
    assert re.match(r"  model/\S+ \[2\] \(names: sequential\w*/dense_1/bias, ", lines[2])
    assert "closest: dense_1/bias [1]" in lines[2]
    assert not (tmp_path / "tf2.index").exists()
    report = tf1_to_tf2(prefix, tmp_path / "tf2", target=model, optimizer="drop", partial=True)
    assert sorted(u.shape for u in report.unmatched) == [(2,), (16, 2)]
    assert sorted(a.src for a in report.actions) == ["dense/bias", "dense/kernel"]


def test_dry_run_lists_unmatched_and_writes_nothing(tf, trained, tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head")])
    report = tf1_to_tf2(
        trained[0], tmp_path / "tf2", target=model, partial=True, dry_run=True, optimizer="drop"
    )
    assert sorted(u.shape for u in report.unmatched) == [(3,), (4, 3)]
    assert {d.src: d.reason for d in report.dropped}["dense/kernel"] == "no target variable"
    assert list(tmp_path.iterdir()) == []


def test_rule_transform_that_does_not_fit_names_tensor_and_rule(tf, trained, tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16), keras.layers.Dense(1)])
    rules = [Rule(match=r"^dense/kernel$", reshape=(5, 5), name="squash")]
    with pytest.raises(RuleError, match=r"^dense/kernel: rule 'squash': reshape to \[5, 5\]"):
        tf1_to_tf2(trained[0], tmp_path / "tf2", target=model, rules=rules, optimizer="drop")


def test_keras_sgd_momentum_is_refused_with_the_reason(tf, tmp_path):
    import keras

    prefix = str(tmp_path / "tf1" / "model.ckpt")
    make = lambda: tf.compat.v1.train.MomentumOptimizer(LR, momentum=0.9)  # noqa: E731
    _train_tf1(tf, prefix, make)
    model, _ = _keras3(tf)
    opt = keras.optimizers.SGD(LR, momentum=0.9)
    opt.build(model.trainable_variables)
    target = tf.train.Checkpoint(model=model, optimizer=opt)
    with pytest.raises(UnsupportedFeatureError, match=r"Keras SGD keeps momentum as -lr"):
        tf1_to_tf2(prefix, tmp_path / "tf2", target=target)
    report = tf1_to_tf2(prefix, tmp_path / "tf2", target=target, optimizer="drop")
    assert {d.src for d in report.dropped} >= {"dense/kernel/Momentum", "global_step"}
