"""Conversions of real third-party checkpoints, verified bitwise (no TensorFlow
except where a test reads the result back with stock TF)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converters.api import plan_tf1_to_tf2, tf1_to_tf2, tf2_to_tf1, v1_to_v2
from converters.verify import verify
from legacy_saver.bundle import load_checkpoint
from legacy_saver.errors import CheckpointError

_REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def _v2_prefixes(object_based: bool) -> list[str]:
    """Relative prefixes of every V2 checkpoint in realdata (collected without
    the fixture, which still skips the tests when realdata is absent)."""
    out = []
    for index in sorted(_REALDATA.glob("**/*.index")):
        prefix = str(index)[: -len(".index")]
        with load_checkpoint(prefix) as r:
            if r.is_object_based == object_based:
                out.append(os.path.relpath(prefix, _REALDATA))
    return out


V2_NAME_BASED = _v2_prefixes(False)
OBJECT_BASED = _v2_prefixes(True)
V1 = [
    "serving_session_bundle_v1/00000123/export",
    "serving_session_bundle_v1_sharded/00000123/export-00000-of-00001",
    "serving_bad_half_plus_two/00000123/export", "sjchoi_cnn_simple_v1_meta/cnn_simple.ckpt-4",
    "sjchoi_charrnn_v1/model.ckpt-8000",
]  # fmt: skip


def _resolve(realdata, item):
    return str(realdata / item)


def _tensors(prefix):
    with load_checkpoint(prefix) as r:
        return {k: r.get_tensor(k) for k in r.keys() if k != "_CHECKPOINTABLE_OBJECT_GRAPH"}


@pytest.mark.parametrize("item", V2_NAME_BASED + V1)
def test_every_name_based_checkpoint_converts_and_verifies(realdata, tmp_path, item):
    src = _resolve(realdata, item)
    dst = str(tmp_path / "tf2" / "ckpt")
    report = tf1_to_tf2(src, dst)
    result = verify(src, dst)
    assert result.ok, result.summary()
    with load_checkpoint(src) as s, load_checkpoint(dst) as d:
        assert d.is_object_based
        assert result.compared == len(s.keys()) == len(d.keys()) - 1
        if s.format_version == 2:  # stored bytes copied, never decoded
            assert report.bytes_reencoded == 0
            assert report.bytes_copied == sum(s.bundle.entry(k).size for k in s.keys())
            assert d.bundle.num_shards == s.bundle.num_shards
    # and back: the TF1 names and values come back exactly
    back = str(tmp_path / "tf1" / "ckpt")
    tf2_to_tf1(dst, back)
    original, restored = _tensors(src), _tensors(back)
    assert restored.keys() == original.keys()
    for k, v in original.items():
        assert restored[k].dtype == v.dtype and restored[k].tobytes() == v.tobytes(), k


def test_t2t_slots_and_hand_split_embedding(realdata, tmp_path):
    src = _resolve(realdata, "t2t_transformer_test_ckpt/model.ckpt-1")
    plan = plan_tf1_to_tf2(src)
    by_src = {a.src: a.dst for a in plan.actions}
    var = "transformer/body/decoder/layer_0/ffn/conv1/kernel"
    assert (
        by_src[f"training/{var}/Adam"]
        == f"{var}/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"
    )
    assert by_src[f"training/{var}/Adam_1"].split("/.OPTIMIZER_SLOT/")[1].startswith("optimizer/v/")
    assert by_src["training/beta1_power"] == "optimizer/beta1_power/.ATTRIBUTES/VARIABLE_VALUE"
    split = [k for k in by_src if k.startswith("transformer/") and "/shared/weights_" in k]
    assert len(split) == 16 and all(by_src[k] == f"{k}/.ATTRIBUTES/VARIABLE_VALUE" for k in split)
    dropped = tf1_to_tf2(src, str(tmp_path / "d"), optimizer="drop")
    assert len(dropped.dropped) == 164 and verify(src, str(tmp_path / "d")).ok


def test_two_keras_v2_optimizers_get_two_nodes(realdata):
    plan = plan_tf1_to_tf2(_resolve(realdata, "tfx_estimator_taxi_ckpt/model.ckpt-1000"))
    by_src = {a.src: a.dst for a in plan.actions}
    assert by_src["training/Ftrl/iter"] == "optimizer_training_Ftrl/iter/.ATTRIBUTES/VARIABLE_VALUE"
    assert by_src["training/Adagrad/dnn/logits/bias/accumulator"] == (
        "dnn/logits/bias/.OPTIMIZER_SLOT/optimizer_training_Adagrad/accumulator/.ATTRIBUTES/VARIABLE_VALUE"
    )


@pytest.mark.parametrize("item", OBJECT_BASED)
def test_object_based_checkpoints_flatten_and_verify(realdata, tmp_path, item):
    src = _resolve(realdata, item)
    dst = str(tmp_path / "tf1")
    report = tf2_to_tf1(src, dst)
    assert verify(src, dst).ok
    with load_checkpoint(src) as s:
        graph_attrs = sum(len(n.attributes) for n in s.object_graph().nodes)
    assert len(report.actions) == graph_attrs
    assert len(set(a.dst for a in report.actions)) == len(report.actions)


def test_keras_tuner_slots_come_back_with_full_names(realdata, tmp_path):
    src = _resolve(realdata, "tfx_keras_tuner_tf2_ckpt/checkpoint")
    report = tf2_to_tf1(src, str(tmp_path / "a"))
    names = {a.src: a.dst for a in report.actions}
    assert names[
        "layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"
    ] == ("Adam/dense/kernel/m")
    assert names["layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == "dense/kernel"
    dropped = tf2_to_tf1(src, str(tmp_path / "b"), optimizer="drop")
    assert sorted(a.dst for a in dropped.actions) == [
        "dense/bias",
        "dense/kernel",
        "dense_1/bias",
        "dense_1/kernel",
    ]
    assert verify(src, str(tmp_path / "b")).ok


def test_v1_to_v2_read_back_by_tensorflow(realdata, tmp_path, tf):
    for i, item in enumerate(V1):
        src = str(realdata / item)
        dst = str(tmp_path / f"v2_{i}" / "ckpt")
        report = v1_to_v2(src, dst)
        assert report.bytes_reencoded > 0 and verify(src, dst).ok
        theirs = tf.train.load_checkpoint(src)
        ours = tf.train.load_checkpoint(dst)
        assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
        for k in theirs.get_variable_to_shape_map():
            assert ours.get_tensor(k).tobytes() == theirs.get_tensor(k).tobytes()


def test_link_shares_inodes_and_stays_valid(realdata, tmp_path, tf):
    src = _resolve(realdata, "t2t_transformer_test_ckpt/model.ckpt-1")
    dst = str(tmp_path / "linked")
    report = tf1_to_tf2(src, dst, link=True)
    assert report.linked and report.bytes_copied == 0
    assert verify(src, dst).ok
    for shard in range(2):
        a = os.stat(f"{src}.data-{shard:05d}-of-00002")
        b = os.stat(f"{dst}.data-{shard:05d}-of-00003")
        assert (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)
    reader = tf.train.load_checkpoint(dst)  # stock TF reads the linked checkpoint
    key = "transformer/body/decoder/layer_0/ffn/conv1/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    assert np.array_equal(
        reader.get_tensor(key),
        load_checkpoint(src).get_tensor("transformer/body/decoder/layer_0/ffn/conv1/kernel"),
    )
    # a transform makes linking impossible: copied instead, with a note
    from converters.rules import Rule

    other = tf1_to_tf2(
        src, str(tmp_path / "t"), link=True, rules=[Rule("^global_step$", cast="int32")]
    )
    assert not other.linked and "link=True not possible" in other.notes[0]


def test_dry_run_writes_nothing_and_overwrite_is_refused(realdata, tmp_path):
    src = _resolve(realdata, "tf2onnx_regression_ckpt/model")
    dst = tmp_path / "out" / "ckpt"
    report = tf1_to_tf2(src, dst, dry_run=True)
    assert report.dry_run and len(report.actions) == 2 and not (tmp_path / "out").exists()
    tf1_to_tf2(src, dst)
    with load_checkpoint(str(dst)) as r:
        before = {k: r.get_tensor(k).tolist() for k in r.keys()}
    with pytest.raises(CheckpointError, match="ckpt.index already exists; pass overwrite=True"):
        tf1_to_tf2(src, dst)
    tf1_to_tf2(src, dst, overwrite=True, optimizer="drop")
    with load_checkpoint(str(dst)) as r:  # (a re-publish may name its shards anew)
        assert {k: r.get_tensor(k).tolist() for k in r.keys()} == before
    with pytest.raises(CheckpointError, match="is the source checkpoint"):
        v1_to_v2(str(realdata / V1[0]), str(realdata / V1[0]), overwrite=True)


def test_report_json_and_summary(realdata, tmp_path):
    src = _resolve(realdata, "sjchoi_charrnn_v2/model.ckpt-8000")
    report = tf1_to_tf2(src, str(tmp_path / "c"), optimizer="drop")
    report.write_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["kind"] == "tf1_to_tf2" and len(data["dropped"]) == len(report.dropped) > 0
    assert data["bytes_copied"] == report.bytes_copied > 0
    text = report.summary()
    assert "dropped beta1_power: optimizer state (optimizer='drop')" in text
    assert f"{len(report.actions)} tensors, {len(report.dropped)} dropped" in text


def test_verify_reports_a_changed_value(realdata, tmp_path):
    src = _resolve(realdata, "tf2onnx_regression_ckpt/model")
    dst = str(tmp_path / "c")
    tf1_to_tf2(src, dst)
    from converters.rules import Rule

    bad = verify(src, dst, rules=[Rule("^W$", cast="float64")])
    assert not bad.ok and bad.differences[0].problem == "dtype float32, expected float64"


def test_structural_conversion_imports_no_tensorflow(realdata, tmp_path):
    code = (
        "import sys; from converters.api import tf1_to_tf2, tf2_to_tf1, v1_to_v2; "
        "from converters.verify import verify; "
        f"tf1_to_tf2({_resolve(realdata, 'sjchoi_charrnn_v2')!r}, {str(tmp_path / 'a')!r}); "
        f"tf2_to_tf1({str(tmp_path / 'a')!r}, {str(tmp_path / 'b')!r}); "
        f"v1_to_v2({str(realdata / V1[0])!r}, {str(tmp_path / 'c')!r}); "
        f"assert verify({str(tmp_path / 'a')!r}, {str(tmp_path / 'b')!r}).ok; "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
