"""The ``bert``/``albert`` presets without TensorFlow: planning over names and shapes,
detection, the messages for checkpoints that do not fit, destinations."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from converters import presets
from converters.presets.bert import TextOptions
from converters.presets.text import convert_text, plan_text
from legacy_saver import BundleWriter, CheckpointError, CheckpointExistsError


def bert_shapes(layers=2, hidden=128, inter=37, vocab=97, positions=16, root=""):
    s = {f"{root}bert/embeddings/word_embeddings": (vocab, hidden),
         f"{root}bert/embeddings/position_embeddings": (positions, hidden),
         f"{root}bert/embeddings/token_type_embeddings": (2, hidden),
         f"{root}bert/embeddings/LayerNorm/gamma": (hidden,),
         f"{root}bert/embeddings/LayerNorm/beta": (hidden,),
         f"{root}bert/pooler/dense/kernel": (hidden, hidden),
         f"{root}bert/pooler/dense/bias": (hidden,)}  # fmt: skip
    for i in range(layers):
        p = f"{root}bert/encoder/layer_{i}/"
        for d in ("attention/self/query", "attention/self/key", "attention/self/value",
                  "attention/output/dense"):  # fmt: skip
            s[p + d + "/kernel"], s[p + d + "/bias"] = (hidden, hidden), (hidden,)
        s[p + "intermediate/dense/kernel"], s[p + "intermediate/dense/bias"] = (
            (hidden, inter),
            (inter,),
        )
        s[p + "output/dense/kernel"], s[p + "output/dense/bias"] = (inter, hidden), (hidden,)
        for ln in ("attention/output/LayerNorm", "output/LayerNorm"):
            s[p + ln + "/gamma"], s[p + ln + "/beta"] = (hidden,), (hidden,)
    return s


def test_plan_reads_sizes_and_assumes_heads_with_a_note():
    plan = plan_text("bert", bert_shapes(layers=3, hidden=128))
    assert (plan.config.num_layers, plan.config.hidden_dim, plan.config.num_heads) == (3, 128, 2)
    assert any("num_heads=2 assumed" in n for n in plan.notes)
    assert len(plan.backbone) == 5 + 3 * 16 + 2
    q = next(
        s for s in plan.backbone if s.target.endswith("layer_2/self_attention_layer/query/kernel")
    )
    assert q.shape == (128, 2, 64) and q.op == "reshape"


def test_plan_under_a_module_scope_and_with_options():
    plan = plan_text("bert", bert_shapes(root="module/", hidden=32), TextOptions(num_heads=4))
    assert plan.config.num_heads == 4
    assert plan.backbone[0].sources == ("module/bert/embeddings/word_embeddings",)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("bert/encoder/layer_1/output/dense/bias"), "layer_1/output/dense/bias"),
        (
            lambda s: s.update({"bert/encoder/layer_1/output/dense/kernel": (128, 37)}),
            r"has shape \[128, 37\]; .* needs \[37, 128\]",
        ),  # fmt: skip
        (lambda s: s.update({"bert/encoder/layer_3/output/dense/bias": (128,)}), "not 0..2"),
        (lambda s: s.pop("bert/embeddings/word_embeddings"), "word_embeddings"),
    ],
)
def test_bad_checkpoints_name_the_tensor(change, message):
    shapes = bert_shapes()
    change(shapes)
    with pytest.raises(CheckpointError, match=message):
        plan_text("bert", shapes, where="ckpt")


def test_heads_needed_when_hidden_is_not_a_multiple_of_64():
    with pytest.raises(CheckpointError, match="pass num_heads"):
        plan_text("bert", bert_shapes(hidden=96))


def test_config_json_must_agree(tmp_path):
    (tmp_path / "bert_config.json").write_text(json.dumps({"num_hidden_layers": 5,
                                                           "num_attention_heads": 2}))  # fmt: skip
    with pytest.raises(CheckpointError, match="num_hidden_layers disagrees: 2 .*, 5 "):
        plan_text("bert", bert_shapes(), directory=str(tmp_path))
    (tmp_path / "bert_config.json").write_text(json.dumps({"hidden_act": "relu"}))
    with pytest.raises(CheckpointError, match="hidden_act 'relu'"):
        plan_text("bert", bert_shapes(), directory=str(tmp_path))
    (tmp_path / "bert_config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a readable json config"):
        plan_text("bert", bert_shapes(), directory=str(tmp_path))


def albert_shapes(hidden=64, emb=16):
    s = {k: v for k, v in bert_shapes(layers=0, hidden=emb).items() if "pooler" not in k}
    s["bert/pooler/dense/kernel"], s["bert/pooler/dense/bias"] = (hidden, hidden), (hidden,)
    s["bert/encoder/embedding_hidden_mapping_in/kernel"] = (emb, hidden)
    s["bert/encoder/embedding_hidden_mapping_in/bias"] = (hidden,)
    block = "bert/encoder/transformer/group_0/inner_group_0/"
    for d in ("attention_1/self/query", "attention_1/self/key", "attention_1/self/value",
              "attention_1/output/dense"):  # fmt: skip
        s[block + d + "/kernel"], s[block + d + "/bias"] = (hidden, hidden), (hidden,)
    s[block + "ffn_1/intermediate/dense/kernel"] = (hidden, 37)
    s[block + "ffn_1/intermediate/dense/bias"] = (37,)
    s[block + "ffn_1/intermediate/output/dense/kernel"] = (37, hidden)
    s[block + "ffn_1/intermediate/output/dense/bias"] = (hidden,)
    for ln in ("LayerNorm", "LayerNorm_1"):
        s[block + ln + "/gamma"], s[block + ln + "/beta"] = (hidden,), (hidden,)
    return s


def test_albert_needs_its_layer_count():
    with pytest.raises(CheckpointError, match="number of layers is not in the checkpoint"):
        plan_text("albert", albert_shapes())
    plan = plan_text("albert", albert_shapes(), TextOptions(num_layers=12))
    assert plan.config.num_layers == 12 and plan.config.num_groups == 1


def test_detect_says_which_family_or_why_not():
    det = presets.detect_shapes(bert_shapes())
    assert det.preset is not None and det.preset.name == "bert"
    assert det.options["num_layers"] == 2
    det = presets.detect_shapes(albert_shapes())
    assert det.preset is not None and det.preset.name == "albert"
    broken = bert_shapes()
    broken["bert/encoder/layer_0/output/dense/kernel"] = (5, 5)
    det = presets.detect_shapes(broken)
    assert det.preset is None and "layer_0/output/dense/kernel" in det.reason


def test_detect_an_object_based_bert(realdata):
    from legacy_saver import load_checkpoint

    with load_checkpoint(str(realdata / "tfr_bert_lite_tf2_ckpt" / "bert_lite_tf2.ckpt")) as r:
        det = presets.detect(r)
    assert det.preset is None and "no known family" in det.reason


def write_checkpoint(prefix: str, shapes: dict) -> None:
    rng = np.random.default_rng(0)
    with BundleWriter(prefix) as w:
        for name, shape in sorted(shapes.items()):
            w.add(name, rng.standard_normal(shape).astype(np.float32))


def test_destinations_are_refused_or_replaced_safely(tmp_path):
    prefix = str(tmp_path / "ckpt" / "bert_model.ckpt")
    os.makedirs(os.path.dirname(prefix))
    write_checkpoint(prefix, bert_shapes(hidden=64))
    dst = str(tmp_path / "out")
    report = convert_text("bert", prefix, dst, dry_run=True)
    assert report.dry_run and not os.path.exists(dst)
    convert_text("bert", prefix, dst)
    assert sorted(os.listdir(dst)) == ["config.json", "metadata.json", "model.weights.h5"]
    with pytest.raises(CheckpointExistsError, match="already exists"):
        convert_text("bert", prefix, dst)
    convert_text("bert", prefix, dst, overwrite=True)
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointExistsError, match="notes.txt"):
        convert_text("bert", prefix, dst, overwrite=True)
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    with pytest.raises(CheckpointError, match=r"must end in \.weights\.h5"):
        convert_text("bert", prefix, str(tmp_path / "w.h5"), fmt="keras")
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith(".")]
    assert leftovers == []


def test_writing_imports_no_tensorflow(tmp_path):
    """The conversion itself stays TF-free (the bench's memory target depends on it)."""
    import subprocess

    prefix = str(tmp_path / "bert_model.ckpt")
    write_checkpoint(prefix, bert_shapes(hidden=64))
    code = (
        "import sys\nfrom converters.presets.text import convert_text\n"
        f"convert_text('bert', {prefix!r}, {str(tmp_path / 'p')!r})\n"
        "bad = [m for m in ('tensorflow', 'keras', 'keras_hub') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_cli_convert_with_a_preset_into_keras_hub(tmp_path, capsys):
    from converters.cli import main

    prefix = str(tmp_path / "bert_model.ckpt")
    write_checkpoint(prefix, bert_shapes(hidden=64))
    dst = str(tmp_path / "hub")
    assert main(["convert", prefix, dst, "--preset", "auto", "--format", "keras-hub"]) == 0
    assert sorted(os.listdir(dst)) == ["config.json", "metadata.json", "model.weights.h5"]
    config = json.load(open(os.path.join(dst, "config.json")))
    assert config["registered_name"] == "keras_hub>BertBackbone"
    assert config["config"]["num_heads"] == 1 and config["config"]["num_layers"] == 2
    # the head asked for but absent: exit 1, the missing tensor named
    code = main(["convert", prefix, str(tmp_path / "h2"), "--preset", "bert",
                 "--format", "keras-hub", "--option", "head=mlm"])  # fmt: skip
    assert code == 1 and "cls/predictions/output_bias" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["convert", prefix, str(tmp_path / "x"), "--option", "head=mlm"])
    assert exc.value.code == 2 and "--option applies to a --preset" in capsys.readouterr().err


def test_bit_rot_in_the_source_is_caught_and_nothing_is_left(tmp_path):
    """Copied bytes are checked against the source's crc32c where they landed."""
    from legacy_saver.errors import CorruptCheckpointError

    prefix = str(tmp_path / "bert_model.ckpt")
    write_checkpoint(prefix, bert_shapes(hidden=64))
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.seek(os.path.getsize(data) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(CorruptCheckpointError, match="data-00000-of-00001: bytes .* crc32c"):
        convert_text("bert", prefix, str(tmp_path / "hub"))
    with pytest.raises(CorruptCheckpointError):
        convert_text("bert", prefix, str(tmp_path / "w.weights.h5"), fmt="keras")
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in
                                                  (prefix + ".index", data))  # fmt: skip
