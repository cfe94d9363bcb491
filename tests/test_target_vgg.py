"""Issue 5, item 8a: a tf-slim VGG-16 checkpoint into ``keras.applications.VGG16``.

Stock TF builds ``tf_slim.nets.vgg.vgg_16`` in a TF1 graph with random weights
(random biases too, so that every bias mapping is exercised), saves it with
``tf.compat.v1.train.Saver`` and computes the logits of one random image. The
checkpoint converts with the 8 rules of ``testdata/rules/vgg16_slim_to_keras.toml``
into ``keras.applications.VGG16(weights=None)``, which must predict the softmax
of slim's logits. Full size (about 550 MB of weights), so one run only.
"""

from __future__ import annotations

import numpy as np
import pytest

from converters.api import tf1_to_tf2
from converters.cli import main
from converters.rules import load_rules
from legacy_saver.bundle import load_checkpoint
from tests.helpers.paths import TESTDATA

RULES = TESTDATA / "rules" / "vgg16_slim_to_keras.toml"


def _slim_vgg(tf, prefix: str, image: np.ndarray) -> np.ndarray:
    tf_slim = pytest.importorskip("tf_slim")
    from tf_slim.nets import vgg

    rng = np.random.default_rng(1)
    g = tf.Graph()
    with g.as_default():
        inputs = tf.compat.v1.placeholder(tf.float32, [1, 224, 224, 3])
        with tf_slim.arg_scope(vgg.vgg_arg_scope()):
            logits, _ = vgg.vgg_16(inputs, num_classes=1000, is_training=False)
        biases = [v for v in tf.compat.v1.global_variables() if v.op.name.endswith("/biases")]
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for b in biases:
                b.load(rng.normal(0, 0.05, b.shape).astype("float32"), sess)
            tf.compat.v1.train.Saver().save(sess, prefix, write_meta_graph=False)
            return sess.run(logits, {inputs: image})


@pytest.mark.slow
def test_slim_vgg16_into_keras_vgg16_predicts_the_same(tf, tmp_path, monkeypatch):
    import keras

    rules = load_rules(RULES)
    assert len(rules) <= 15
    image = np.random.default_rng(0).uniform(0, 1, (1, 224, 224, 3)).astype("float32")
    prefix = str(tmp_path / "vgg_16.ckpt")
    logits = _slim_vgg(tf, prefix, image)
    with load_checkpoint(prefix) as reader:
        assert len(reader.keys()) == 32
        assert reader.shape("vgg_16/fc6/weights") == (7, 7, 512, 4096)

    model = keras.applications.VGG16(weights=None)
    report = tf1_to_tf2(prefix, tmp_path / "keras", target=model, rules=rules)
    assert len(report.actions) == 32 and report.dropped == () and report.unmatched == ()
    assert {a.how for a in report.actions} == {"rule"}
    reshaped = {a.src: a.transform.reshape for a in report.actions if a.transform.reshape}
    assert reshaped == {
        "vgg_16/fc6/weights": (25088, 4096),
        "vgg_16/fc7/weights": (4096, 4096),
        "vgg_16/fc8/weights": (4096, 1000),
    }

    # Planning only reads the target; it still holds its own random weights.
    before = model.get_layer("fc1").kernel.numpy()[:2, :2].copy()
    tf.train.Checkpoint(model=model).read(str(tmp_path / "keras")).assert_existing_objects_matched()
    assert not np.array_equal(model.get_layer("fc1").kernel.numpy()[:2, :2], before)
    predictions = model(image, training=False).numpy()
    expected = tf.nn.softmax(logits.reshape(1, 1000)).numpy()
    assert np.argmax(predictions) == np.argmax(logits)
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-9)

    # Issue 14.4: `legacy-ckpt verify` checks a --target conversion through the plan
    # `convert` recorded beside it (it compared 0 tensors and found 66 "missing").
    verify_cli(tmp_path, prefix, str(tmp_path / "keras"))
    (tmp_path / "vgg_target.py").write_text(
        "def build():\n    import keras\n    return keras.applications.VGG16(weights=None)\n"
    )
    monkeypatch.chdir(tmp_path)
    dst = str(tmp_path / "cli" / "keras")
    argv = ["convert", prefix, dst, "--target", "vgg_target:build", "--rules", str(RULES)]
    assert main(argv) == 0
    verify_cli(tmp_path, prefix, dst)


def verify_cli(tmp_path, src: str, dst: str) -> None:
    import contextlib
    import io
    import json

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["verify", src, dst, "--json"])
    report = json.loads(out.getvalue())
    assert code == 0 and report["ok"], report["differences"][:5]
    assert report["compared"] == 32 and report["plan_from"] == "recorded"
    with load_checkpoint(dst) as reader:
        assert len(reader.keys()) == 33  # 32 weights + the object graph
