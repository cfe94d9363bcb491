"""Presets, numerically: tf-slim nets with random weights and random batch-norm
statistics, saved by stock ``tf.compat.v1.train.Saver``, converted by preset
``auto`` into ``.weights.h5``, loaded by the Keras model on the TensorFlow
backend (in process) and on JAX (one subprocess): logits agree with the TF1
graph's to < 1e-4 relative (max |diff| / max |slim|). Small inputs; the
figures in docs/presets.md come from these tests (``-s`` prints them).
"""

from __future__ import annotations

import numpy as np
import pytest

from converters import presets
from tests.helpers.backends import predict_on
from tests.helpers.slim import build_and_save, import_tf_slim, rel_error
from tests.helpers.slim_irv2 import inception_resnet_v2
from tests.helpers.slim_mobilenet import mobilenet_v1, mobilenet_v2

pytestmark = [pytest.mark.slow, pytest.mark.tf]
TOLERANCE = 1e-4


def tf_module():
    import tensorflow

    return tensorflow


def _slim_net(name: str, slim, x):
    """slim's net ``name`` on ``x``: the logits (1001 classes where slim's zoo has them)."""
    from tf_slim.nets import inception_v3, resnet_v1, resnet_v2, vgg

    if name == "mobilenet_v1":
        return mobilenet_v1(slim, tf_module(), x, alpha=0.25)
    if name == "mobilenet_v2":
        return mobilenet_v2(slim, tf_module(), x)
    if name == "inception_resnet_v2":
        return inception_resnet_v2(slim, tf_module(), x)

    if name.startswith("vgg"):
        with slim.arg_scope(vgg.vgg_arg_scope()):
            _, ends = getattr(vgg, name)(x, num_classes=1000, is_training=False)
        return ends[f"{name}/pool5"]
    if name == "inception_v3":
        with slim.arg_scope(inception_v3.inception_v3_arg_scope()):
            logits, _ = inception_v3.inception_v3(
                x, num_classes=1001, is_training=False, create_aux_logits=False
            )
        return logits
    module = resnet_v1 if name.startswith("resnet_v1") else resnet_v2
    with slim.arg_scope(module.resnet_arg_scope()):
        logits, _ = getattr(module, name)(
            x, num_classes=1000 if module is resnet_v1 else 1001, is_training=False
        )
    return logits[:, 0, 0, :]


CASES = {
    # preset: (slim net, input size, options, keep, stock keras build for the JAX check)
    "slim/vgg_16": (
        "vgg_16",
        32,
        {"include_top": False},
        None,
        "keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))",
    ),
    "slim/inception_v3": (
        "inception_v3",
        75,
        {},
        slice(1, None),
        "keras.applications.InceptionV3(weights=None, input_shape=(75, 75, 3),"
        " classifier_activation=None)",
    ),
    "slim/inception_resnet_v2": ("inception_resnet_v2", 75, {}, slice(1, None), None),
    "slim/resnet_v2_50": ("resnet_v2_50", 32, {}, slice(1, None), None),
    "slim/resnet_v1_50": ("resnet_v1_50", 32, {}, slice(None), None),
    "slim/mobilenet_v1": (
        "mobilenet_v1",
        32,
        {"alpha": 0.25},
        slice(1, None),
        "keras.applications.MobileNet(weights=None, alpha=0.25, "
        "input_shape=(32, 32, 3), classifier_activation=None)",
    ),
    "slim/mobilenet_v2": (
        "mobilenet_v2",
        32,
        {},
        slice(1, None),
        "keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3),"
        " classifier_activation=None)",
    ),
}


@pytest.fixture(scope="module")
def converted(tf, tmp_path_factory):
    """Every case built, saved, converted: name -> (run, weights path, model)."""
    slim = import_tf_slim()
    out = {}
    for name, (net, size, options, _keep, _stock) in CASES.items():
        tmp = tmp_path_factory.mktemp(name.replace("/", "_"))
        run = build_and_save(
            tf,
            str(tmp / "model.ckpt"),
            lambda x, n=net: {"y": _slim_net(n, slim, x)},
            (size, size, 3),
            dynamic=name.startswith("slim/vgg"),
        )
        opts = {**options, "input_shape": (size, size, 3)}
        if "include_top" not in options:
            opts["classifier_activation"] = None
        weights = tmp / "model.weights.h5"
        report = presets.convert(run.prefix, weights, preset="auto", options=opts)
        assert report.unmatched == ()
        model = presets.get(name).build_target(**opts)
        model.load_weights(str(weights))
        out[name] = (run, weights, model, opts)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_preset_predicts_what_slim_predicts_on_tensorflow(converted, name):
    run, _weights, model, _opts = converted[name]
    keep = CASES[name][3]
    want = run.outputs["y"] if keep is None else run.outputs["y"][..., keep]
    got = model.predict(run.inputs, verbose=0)
    error = rel_error(got.reshape(want.shape), want)
    print(f"{name}: tensorflow backend relative error {error:.1e}")
    assert error < TOLERANCE
    assert np.argmax(got) == np.argmax(want)


def test_presets_predict_the_same_on_jax(converted, tmp_path):
    """One JAX process: first the stock keras.applications models (proving a
    plain ``load_weights`` works without this package), then every preset's target."""
    jobs, wants, names = [], [], []
    stock = [(n, CASES[n][4]) for n in converted if CASES[n][4]]
    for name, build in [*stock, *((n, None) for n in converted)]:
        run, weights, _model, opts = converted[name]
        if build is None:
            build = (
                f"__import__('converters.presets', fromlist=['get']).get({name!r})"
                f".build_target(**{opts!r})"
            )
        jobs.append((build, weights, run.inputs))
        keep = CASES[name][3]
        wants.append(run.outputs["y"] if keep is None else run.outputs["y"][..., keep])
        names.append(name + (" (stock keras)" if len(names) < len(stock) else ""))
    outputs, loaded = predict_on("jax", jobs, tmp_path)
    assert "converters" not in loaded[len(stock) - 1] and "legacy_saver" not in loaded[0]
    for name, got, want in zip(names, outputs, wants, strict=True):
        error = rel_error(got[0].reshape(want.shape), want)
        print(f"{name}: jax backend relative error {error:.1e}")
        assert error < TOLERANCE, name


def test_resnet_v2_keras_pool_differs_and_the_fixed_one_does_not(converted):
    """keras_pool=True keeps Keras's own pool1 (zero pad 1, VALID) and epsilon:
    same weights, measurably different logits (docs/presets.md quotes this)."""
    run, weights, _model, opts = converted["slim/resnet_v2_50"]
    stock = presets.get("slim/resnet_v2_50").build_target(**opts, keras_pool=True)
    stock.load_weights(str(weights))
    want = run.outputs["y"][..., 1:]
    error = rel_error(stock.predict(run.inputs, verbose=0), want)
    print(f"slim/resnet_v2_50 with keras_pool=True: relative error {error:.1e}")
    assert error > 1e-3
