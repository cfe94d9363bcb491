"""TF1 source nets for the preset tests: tf-slim on TF 2.21, random weights
and random batch-norm statistics, saved by stock ``tf.compat.v1.train.Saver``.

tf-slim 1.1's ``batch_norm`` reaches ``tf.compat.v1.layers.BatchNormalization``,
which TF 2.21 loads lazily from ``tf_keras.legacy_tf_layers``; tf_keras 2.21
ships that package as ``tf_keras.src.legacy_tf_layers`` only, so the import
fails with ``ModuleNotFoundError: No module named 'tf_keras.legacy_tf_layers'``.
``import_tf_slim`` registers the old module names as aliases of the new ones
before importing tf_slim (docs/presets.md tells users the same three lines).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

_LEGACY = ("", ".base", ".core", ".convolutional", ".normalization", ".pooling")


def import_tf_slim() -> Any:
    """``tf_slim``, with the ``tf_keras.legacy_tf_layers`` alias in place (skips without it)."""
    pytest.importorskip("tf_keras")
    for suffix in _LEGACY:
        name = "tf_keras.legacy_tf_layers" + suffix
        if name not in sys.modules:
            sys.modules[name] = importlib.import_module("tf_keras.src.legacy_tf_layers" + suffix)
    return pytest.importorskip("tf_slim")


@dataclass
class SlimRun:
    """A saved source net: its checkpoint prefix, input, and output values."""

    prefix: str
    inputs: np.ndarray
    outputs: dict[str, np.ndarray]
    names: list[str]


def randomize(sess: Any, tf: Any, rng: np.random.Generator) -> None:
    """Random values for every variable: weights ~ N(0, 2/fan_in), biases, BN
    beta/gamma/moving mean random, moving variance in [0.5, 2] (non-trivial).
    One ``sess.run`` of the initializers with their initial values fed."""
    feed = {}
    variables = tf.compat.v1.global_variables()
    for v in variables:
        name, shape = v.op.name, v.shape.as_list()
        if name.endswith("moving_variance"):
            value = rng.uniform(0.5, 2.0, shape)
        elif name.endswith(("moving_mean", "beta", "biases")):
            value = rng.normal(0.0, 0.2, shape)
        elif name.endswith("gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 2 else shape[0]
            if "depthwise" in name:
                fan_in = int(np.prod(shape[:2]))
            value = rng.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        feed[v.initial_value] = value.astype(v.dtype.base_dtype.as_numpy_dtype)
    sess.run([v.initializer for v in variables], feed)


def build_and_save(
    tf: Any,
    prefix: str,
    build: Callable[[Any], dict[str, Any]],
    input_shape: tuple[int, ...],
    *,
    seed: int = 0,
    ema: bool = False,
    dynamic: bool = False,
) -> SlimRun:
    """Build ``build(inputs) -> {name: tensor}`` in a fresh graph, randomize
    it, save it with ``tf.compat.v1.train.Saver``, and run it on one random
    image in [-1, 1]. With ``ema``, an ExponentialMovingAverage over the
    trainable variables is added and its shadows get values of their own
    (the outputs are then computed with the shadows swapped in). ``dynamic``
    leaves the placeholder's height and width open (a VGG head built for
    224x224 whose convolutional part runs on a small image)."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1, 1, (1, *input_shape)).astype("float32")
    g = tf.Graph()
    with g.as_default():
        shape = [None, None, None, input_shape[-1]] if dynamic else [None, *input_shape]
        inputs = tf.compat.v1.placeholder(tf.float32, shape)
        ends = build(inputs)
        if ema:
            average = tf.compat.v1.train.ExponentialMovingAverage(0.999)
            average.apply(tf.compat.v1.trainable_variables())
        with tf.compat.v1.Session(graph=g) as sess:
            randomize(sess, tf, rng)
            tf.compat.v1.train.Saver().save(sess, prefix, write_meta_graph=False)
            names = [v.op.name for v in tf.compat.v1.global_variables()]
            if ema:  # compute with the averaged weights, as serving would
                pairs = [(v, average.average(v)) for v in tf.compat.v1.trainable_variables()]
                values = sess.run([s for _, s in pairs])
                sess.run(
                    [v.initializer for v, _ in pairs],
                    {v.initial_value: x for (v, _), x in zip(pairs, values, strict=True)},
                )
            outputs = sess.run(ends, {inputs: image})
    return SlimRun(prefix, image, outputs, names)


def rel_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want|: the figure docs/presets.md reports."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))
