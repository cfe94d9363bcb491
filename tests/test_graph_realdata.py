"""Every real third-party meta graph and TF1 SavedModel loads and restores in safe mode with
the values the checkpoint holds, using its own (canonical) restore op."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from legacy_saver.bundle import load_checkpoint
from legacy_saver.graph import LegacyModel, scan
from legacy_saver.metagraph.loading import FILE_RESTORE

ITEMS = [
    "cmle_housing_regressor_estimator/model.ckpt-1000.meta",
    "serving_bad_half_plus_two/00000123/export.meta",
    "serving_session_bundle_v1/00000123/export.meta",
    "serving_session_bundle_v1_sharded/00000123/export.meta",
    "serving_session_bundle_v2/00000123/export.meta",
    "sjchoi_cnn_simple_v1_meta/cnn_simple.ckpt-4.meta",
    "tf2onnx_regression_ckpt/model.meta",
    "tfx_estimator_taxi_ckpt/model.ckpt-1000.meta",
    "tfx_estimator_taxi_ckpt_2019_sharded/model.ckpt-10000.meta",
    "cmle_housing_regressor_savedmodel_sharded/1554227547",
    "serving_saved_model_counter/00000123",
    "serving_saved_model_half_plus_three/00000123",
    "serving_saved_model_half_plus_two_cpu/00000123",
    "serving_saved_model_half_plus_two_mkl/00000123",
    "serving_saved_model_half_plus_two_tf2_cpu/00000123",
    "tfjs_node_savedmodel_int64_multiply",
    "tfx_keras_savedmodel_tf2",
    "wophd_gru_savedmodel_with_adam",
]
# Its saved_model_main_op re-runs every variable initializer after the restore (stock TF's
# loader does the same), so its values are random by design.
REINITIALIZED = {"serving_saved_model_half_plus_two_mkl/00000123"}
SLOW = {
    "tfx_estimator_taxi_ckpt",
    "tfx_estimator_taxi_ckpt_2019_sharded",
    "cmle_housing_regressor_estimator",
    "wophd_gru_savedmodel_with_adam",
}


def _params():
    for item in ITEMS:
        marks = [pytest.mark.slow] if item.split("/")[0] in SLOW else []
        yield pytest.param(item, marks=marks, id=item.split("/")[0])


@pytest.mark.parametrize("item", list(_params()))
def test_scans_loads_and_restores(tf, realdata, item):
    path = realdata / item
    report = scan(path)  # a .meta or a SavedModel directory
    assert report.loads_safely, str(report)
    assert report.load[0].action == FILE_RESTORE  # every real SaverDef is canonical
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no replaced saver, no skipped init op
        model = LegacyModel.load(path)
    with model, load_checkpoint(model.checkpoint) as reader:
        restored = [v for v in model.variables if reader.has_tensor(_key(v))]
        # bundle_v1_sharded's saver leaves global_step out of its checkpoint.
        assert len(restored) == len(model.variables) or "bundle_v1_sharded" in item
        if item in REINITIALIZED:
            return
        values = model.run([model.tensor(v.name) for v in restored])
        for var, value in zip(restored, values, strict=True):
            np.testing.assert_array_equal(value, _expected(reader, var), var.op.name)


def _key(var):
    info = var._save_slice_info  # a partition (part_0) of a partitioned variable
    return info.full_name if info else var.op.name


def _expected(reader, var):
    value = reader.get_tensor(_key(var))
    info = var._save_slice_info
    if info:
        extents = zip(info.var_offset, info.var_shape, strict=True)
        value = value[tuple(slice(o, o + n) for o, n in extents)]
    return value


@pytest.mark.parametrize(
    "item, x",
    [
        ("serving_saved_model_half_plus_two_cpu/00000123", [[1.0], [4.0]]),
        ("serving_saved_model_half_plus_two_tf2_cpu/00000123", [4.0]),
        ("serving_saved_model_half_plus_three/00000123", [[1.0], [4.0]]),
    ],
)
def test_saved_model_outputs_match_stock_loader(tf, realdata, item, x):
    path = str(realdata / item)
    x = np.array(x, np.float32)
    with LegacyModel.load(path) as model:
        signature = model.signatures["serving_default"]
        (name,) = signature.inputs
        ours = model.run(dict(signature.outputs), {signature.inputs[name]: x})
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        stock = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path)
        sig = stock.signature_def["serving_default"]
        fetches = {k: v.name for k, v in sig.outputs.items()}
        theirs = sess.run(fetches, {sig.inputs[name].name: x})
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key])
