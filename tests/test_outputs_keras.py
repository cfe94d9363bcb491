"""The ``.weights.h5`` writer: Keras 3's own layout (compared with a real
``save_weights``), atomic (nothing under the final name on failure), bounded
(streamed in row chunks with the source crc checked), and the registry / CLI
around it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from converters import presets
from converters.outputs import OutputFormat, format_for, keras_write
from converters.outputs.keras_h5 import KerasWeightsWriter
from converters.rules import Fill, Rule, RuleSet
from legacy_saver.bundle import BundleWriter
from legacy_saver.errors import CheckpointError, CorruptCheckpointError
from tests.helpers.paths import cli_command

pytestmark = pytest.mark.tf


def _h5_tree(path):
    out = {}

    def visit(name, obj):
        attrs = {k: str(v) for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            out[name] = ("dataset", obj.shape, str(obj.dtype), attrs, obj.chunks, obj.compression)
        else:
            out[name] = ("group", attrs)

    with h5py.File(path, "r") as f:
        out[""] = ("root", {k: str(v) for k, v in f.attrs.items()})
        f.visititems(visit)
    return out


def _small_model():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.Dropout(0.1)(x)  # a seed generator, no weights
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x), name="small")


def _checkpoint(tmp_path, model):
    """A TF1-style checkpoint holding ``model``'s weights under slim-like names."""
    prefix = str(tmp_path / "src" / "model.ckpt")
    os.makedirs(os.path.dirname(prefix))
    names = {
        "stem/kernel": "net/stem/weights",
        "stem/bias": "net/stem/biases",
        "head/kernel": "net/head/weights",
        "head/bias": "net/head/biases",
    }
    rng = np.random.default_rng(0)
    values = {}
    with BundleWriter(prefix) as w:
        for v in model.weights:
            src = names.get(v.path, "net/" + v.path.replace("stem_bn", "stem/BatchNorm"))
            values[v.path] = rng.normal(size=v.shape).astype("float32")
            if v.path.endswith("moving_variance"):
                values[v.path] = np.abs(values[v.path]) + 0.5
            w.add(src, values[v.path])
    return prefix, values


RULES = [
    Rule(r"^net/stem/BatchNorm/(\w+)$", to=r"stem_bn/\1"),
    Rule(r"^net/(\w+)/(\w+)$", to=r"\1/\2"),
]


def test_layout_and_file_equal_keras_save_weights(tmp_path):
    model = _small_model()
    prefix, values = _checkpoint(tmp_path, model)
    out = tmp_path / "ours.weights.h5"
    report = presets.convert(prefix, out, target=model, rules=RULES)
    assert len(report.actions) == 8 and report.unmatched == () and report.dropped == ()
    for v in model.weights:  # put the same values in the model, let Keras save them
        v.assign(values[v.path])
    model.save_weights(str(tmp_path / "keras.weights.h5"))
    assert _h5_tree(out) == _h5_tree(tmp_path / "keras.weights.h5")
    with h5py.File(out) as ours, h5py.File(tmp_path / "keras.weights.h5") as theirs:
        for name, (kind, *_rest) in _h5_tree(out).items():
            if kind == "dataset":
                assert np.array_equal(ours[name][()], theirs[name][()]), name


def test_written_file_loads_into_a_fresh_model(tmp_path):
    model = _small_model()
    prefix, values = _checkpoint(tmp_path, model)
    out = tmp_path / "w.weights.h5"
    presets.convert(prefix, out, target=model, rules=RULES)
    fresh = _small_model()
    fresh.load_weights(str(out))
    assert all(np.array_equal(v.numpy(), values[v.path]) for v in fresh.weights)


def test_destination_rules(tmp_path):
    model = _small_model()
    prefix, _ = _checkpoint(tmp_path, model)
    out = tmp_path / "w.weights.h5"
    presets.convert(prefix, out, target=model, rules=RULES)
    with pytest.raises(CheckpointError, match="already exists"):
        presets.convert(prefix, out, target=model, rules=RULES)
    presets.convert(prefix, out, target=model, rules=RULES, overwrite=True)
    data = prefix + ".data-00000-of-00001"
    link = tmp_path / "alias.weights.h5"
    os.symlink(data, link)
    with pytest.raises(CheckpointError, match="is the source file"):
        presets.convert(prefix, link, target=model, rules=RULES, overwrite=True)
    with pytest.raises(CheckpointError, match="must end in .weights.h5"):
        presets.convert(prefix, tmp_path / "w.h5", target=model, rules=RULES, format="keras")
    assert format_for("a.weights.h5") is OutputFormat.KERAS
    assert format_for("a/ckpt") is OutputFormat.TF2


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    model = _small_model()
    prefix, _ = _checkpoint(tmp_path, model)
    out = tmp_path / "w.weights.h5"
    monkeypatch.setattr(
        KerasWeightsWriter, "add", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))
    )
    with pytest.raises(OSError, match="disk full"):
        presets.convert(prefix, out, target=model, rules=RULES)
    assert os.listdir(tmp_path) == ["src"]  # no file, no temporary


def test_large_tensors_stream_in_chunks_and_check_the_crc(tmp_path, monkeypatch):
    import keras

    monkeypatch.setattr(keras_write, "STREAM_MIN_BYTES", 1024)
    monkeypatch.setattr("converters.outputs.keras_h5.ROW_CHUNK_BYTES", 4096)
    model = keras.Sequential([keras.Input((300,)), keras.layers.Dense(200, name="big")])
    prefix = str(tmp_path / "big.ckpt")
    kernel = np.random.default_rng(1).normal(size=(300, 200)).astype("float32")
    with BundleWriter(prefix) as w:
        w.add("big/kernel", kernel)
        w.add("big/bias", np.zeros(200, "float32"))
    out = tmp_path / "big.weights.h5"
    report = presets.convert(prefix, out, target=model)
    assert report.bytes_copied == kernel.nbytes  # streamed, not re-encoded
    with h5py.File(out) as f:
        assert np.array_equal(f["layers/dense/vars/0"][()], kernel)
    data = prefix + ".data-00000-of-00001"
    raw = bytearray(open(data, "rb").read())
    raw[1000] ^= 0x40
    open(data, "wb").write(bytes(raw))
    with pytest.raises(CorruptCheckpointError, match="checksum mismatch for tensor 'big/kernel'"):
        presets.convert(prefix, tmp_path / "bad.weights.h5", target=model)
    assert not os.path.exists(tmp_path / "bad.weights.h5")


def test_registry_lists_gets_and_explains():
    names = [p.name for p in presets.list_presets()]
    for wanted in (
        "slim/vgg_16",
        "slim/vgg_19",
        "slim/inception_v3",
        "slim/resnet_v1_50",
        "slim/resnet_v1_152",
        "slim/resnet_v2_101",
    ):
        assert wanted in names
    with pytest.raises(presets.PresetError, match="no preset named 'slim/nope'; known presets"):
        presets.get("slim/nope")
    iv3 = presets.get("slim/inception_v3")
    with pytest.raises(presets.PresetError, match="unknown options \\['alpha'\\]"):
        iv3.rules(alpha=1)
    with pytest.raises(presets.PresetError, match="classes=7 is not one of"):
        iv3.rules(classes=7)
    assert iv3.convention().preprocess(np.array([[0.0, 127.5, 255.0]])).tolist() == [[-1, 0, 1]]


def test_detect_says_what_fits_and_why_not():
    found = presets.detect_shapes(
        {
            "vgg_16/conv1/conv1_1/weights": (3, 3, 3, 64),
            "vgg_16/conv5/conv5_3/weights": (3, 3, 512, 512),
            "vgg_16/fc8/weights": (1, 1, 4096, 1000),
        }
    )
    assert found.preset.name == "slim/vgg_16" and found.options == {"classes": 1000}
    none = presets.detect_shapes({"dense/kernel": (3, 4)})
    assert none.preset is None and "top-level scopes (dense) are no known family's" in none.reason
    wrong = presets.detect_shapes({"InceptionV3/Conv2d_1a_3x3/weights": (3, 3, 1, 32)})
    assert "expected [3, 3, 3, 32]" in wrong.reason or "no tensor" in wrong.reason


def test_importing_presets_imports_neither_keras_nor_tensorflow():
    code = (
        "import sys; from converters import presets; presets.list_presets(); "
        "print(sorted(m for m in ('keras', 'tensorflow', 'h5py') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_lists_and_detects(tmp_path):
    out = subprocess.run([*cli_command(), "presets", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    assert payload["schema"] == "legacy-ckpt/presets/1"
    assert {"slim/inception_v3", "slim/resnet_v1_50"} <= {p["name"] for p in payload["presets"]}
    prefix = str(tmp_path / "x.ckpt")
    with BundleWriter(prefix) as w:
        w.add("dense/kernel", np.zeros((2, 2), "float32"))
    out = subprocess.run(
        [*cli_command(), "presets", "--detect", prefix], capture_output=True, text=True
    )
    assert out.returncode == 1 and "fits no preset" in out.stdout


def test_ema_shadows_replace_their_variables_only_when_asked(tmp_path):
    model = _small_model()
    prefix, values = _checkpoint(tmp_path, model)
    shadowed = str(tmp_path / "ema.ckpt")
    shadow = np.full((4, 3, 3, 3), 0.5, "float32").transpose(1, 2, 3, 0)
    from legacy_saver.bundle import load_checkpoint

    with load_checkpoint(prefix) as r, BundleWriter(shadowed) as w:
        for key in r.keys():
            w.add(key, r.get_tensor(key))
        w.add("net/stem/weights/ExponentialMovingAverage", shadow)
    plain = presets.convert(shadowed, tmp_path / "plain.weights.h5", target=model, rules=RULES)
    assert any("use it with ema=True" in d.reason for d in plain.dropped)
    ema = presets.convert(
        shadowed, tmp_path / "ema.weights.h5", target=model, rules=RULES, ema=True
    )
    assert any(d.src == "net/stem/weights" and "ema=True" in d.reason for d in ema.dropped)
    with h5py.File(tmp_path / "ema.weights.h5") as f, h5py.File(tmp_path / "plain.weights.h5") as g:
        assert np.array_equal(f["layers/conv2d/vars/0"][()], shadow)
        assert np.array_equal(g["layers/conv2d/vars/0"][()], values["stem/kernel"])
    note = presets.convert(prefix, tmp_path / "n.weights.h5", target=model, rules=RULES, ema=True)
    assert any("no ExponentialMovingAverage shadows" in n for n in note.notes)


def test_fills_and_partial(tmp_path):
    model = _small_model()
    prefix, _ = _checkpoint(tmp_path, model)
    lacking = str(tmp_path / "nogamma.ckpt")
    from legacy_saver.bundle import load_checkpoint

    with load_checkpoint(prefix) as r, BundleWriter(lacking) as w:
        for key in r.keys():
            if not key.endswith("gamma"):
                w.add(key, r.get_tensor(key))
    with pytest.raises(CheckpointError, match="(?s)1 target variable.*names: stem_bn/gamma"):
        presets.convert(lacking, tmp_path / "a.weights.h5", target=model, rules=RULES)
    filled = RuleSet(RULES, fills=[Fill(r"_bn/gamma$", 1.0, why="trained with scale=False")])
    report = presets.convert(lacking, tmp_path / "b.weights.h5", target=model, rules=filled)
    assert report.unmatched == () and any(
        "filled layers/batch_normalization" in n for n in report.notes
    )
    with h5py.File(tmp_path / "b.weights.h5") as f:
        assert np.array_equal(f["layers/batch_normalization/vars/0"][()], np.ones(4))
    part = presets.convert(
        lacking, tmp_path / "c.weights.h5", target=model, rules=RULES, partial=True
    )
    assert [u.dst for u in part.unmatched] == ["layers/batch_normalization/vars/0"]
    _small_model().load_weights(str(tmp_path / "c.weights.h5"))  # complete, loadable


def test_tf2_format_restores_with_the_stock_api(tf, tmp_path):
    model = _small_model()
    prefix, values = _checkpoint(tmp_path, model)
    dst = str(tmp_path / "tf2" / "ckpt")
    report = presets.convert(prefix, dst, target=model, rules=RULES, format="tf2")
    assert report.kind == "tf1_to_tf2" and report.unmatched == ()
    fresh = _small_model()
    tf.train.Checkpoint(model=fresh).read(dst).assert_existing_objects_matched()
    assert all(np.array_equal(v.numpy(), values[v.path]) for v in fresh.weights)


def test_cli_converts_by_preset_with_options(tmp_path):
    """``legacy-ckpt convert SRC DST.weights.h5 --preset auto --option ...`` end to end:
    slim VGG-16's convolutional part (zeros), into a headless 32x32 VGG16."""
    prefix = str(tmp_path / "vgg_16.ckpt")
    widths = [
        (3, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 256),
        (256, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
    ]
    names = [(b, u) for b, n in enumerate((2, 2, 3, 3, 3), 1) for u in range(1, n + 1)]
    with BundleWriter(prefix) as w:
        for (b, u), (cin, cout) in zip(names, widths, strict=True):
            w.add(f"vgg_16/conv{b}/conv{b}_{u}/weights", np.zeros((3, 3, cin, cout), "float32"))
            w.add(f"vgg_16/conv{b}/conv{b}_{u}/biases", np.full(cout, b + u / 10, "float32"))
    out = tmp_path / "vgg.weights.h5"
    cmd = [
        *cli_command(),
        "convert",
        prefix,
        str(out),
        "--preset",
        "auto",
        "--option",
        "include_top=False",
        "--option",
        "input_shape=(32, 32, 3)",
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["to"] == "keras" and payload["preset"] == "auto"
    assert len(payload["report"]["actions"]) == 26
    with h5py.File(out) as f:
        assert np.allclose(f["layers/conv2d_12/vars/1"][()], 5.3)
    model = presets.target_for(prefix, include_top=False, input_shape=(32, 32, 3))
    model.load_weights(str(out))
    assert np.allclose(model.get_layer("block5_conv3").bias.numpy(), 5.3)
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = subprocess.run(
        [*cli_command(), "convert", prefix, str(out), "--option", "x"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "expected KEY=VALUE" in bad.stderr
