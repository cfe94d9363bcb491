"""Issue 15, item 4: a ``partial=True`` conversion reads with
``tf.train.Checkpoint(model=m).read(DST).expect_partial()``, as the docs say; the
variables the source had are restored, the others keep the model's own values."""

from __future__ import annotations

import numpy as np
import pytest

from converters.api import tf1_to_tf2
from converters.verify import verify
from legacy_saver.bundle import BundleWriter

pytestmark = pytest.mark.slow


def _model():
    import keras

    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, name="first"),
            keras.layers.Dense(2, name="second"),
        ]
    )


def test_partial_conversion_reads_with_expect_partial(tf, tmp_path):
    kernel = np.arange(12, dtype=np.float32).reshape(3, 4)
    bias = np.full(4, 0.5, np.float32)
    src = str(tmp_path / "tf1")
    with BundleWriter(src) as w:  # only the first layer exists in the source
        w.add("first/kernel", kernel)
        w.add("first/bias", bias)
    dst = str(tmp_path / "tf2")
    report = tf1_to_tf2(src, dst, target=_model(), partial=True)
    assert len(report.actions) == 2 and len(report.unmatched) == 2
    assert verify(src, dst).ok  # the recorded plan knows what was left out

    model = _model()
    own = [v.numpy().copy() for v in model.get_layer("second").weights]
    tf.train.Checkpoint(model=model).read(dst).expect_partial()
    np.testing.assert_array_equal(model.get_layer("first").kernel.numpy(), kernel)
    np.testing.assert_array_equal(model.get_layer("first").bias.numpy(), bias)
    for before, var in zip(own, model.get_layer("second").weights, strict=True):
        np.testing.assert_array_equal(var.numpy(), before)  # kept its own value
    # and what was written is all TF finds: every checkpoint value was consumed
    model = _model()
    status = tf.train.Checkpoint(model=model).read(dst)
    status.assert_existing_objects_matched()
