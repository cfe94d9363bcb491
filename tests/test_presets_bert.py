"""The ``bert`` and ``albert`` presets, proven numerically.

A small BERT/ALBERT is built in a TF1 graph from the reference semantics
(``tests/helpers/bert_tf1.py``) with random weights, saved by stock
``tf.compat.v1.train.Saver``, converted into a keras-hub preset directory, loaded with
``keras_hub.models.*.from_preset(DIR)`` and run on the same token ids, segment ids and
padding mask: sequence and pooled outputs must agree within 1e-4 relative (the maximum
absolute difference over the maximum absolute value). The JAX backend runs in a
subprocess (``tests/test_presets_bert_jax.py``).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from converters.presets.bert import TextOptions
from converters.presets.text import convert_text
from tests.helpers.bert_tf1 import TinyConfig, build_albert, build_bert, random_batch
from tests.helpers.keras_hub_env import import_keras_hub

pytestmark = [pytest.mark.tf, pytest.mark.slow]
keras_hub = import_keras_hub()

REL = 1e-4
BERT_CFG = TinyConfig()  # 2 layers, hidden 32, 2 heads, intermediate 37, vocab 97, 16 positions
ALBERT_CFG = TinyConfig(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)


def rel_error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def inputs(batch) -> dict[str, np.ndarray]:
    return {"token_ids": batch.token_ids, "segment_ids": batch.segment_ids,
            "padding_mask": batch.padding_mask}  # fmt: skip


@pytest.fixture(scope="module")
def bert_built(tmp_path_factory):
    import tensorflow as tf

    batch = random_batch(BERT_CFG)
    built = build_bert(tf, str(tmp_path_factory.mktemp("bert")), BERT_CFG, batch,
                       optimizer_slots=True)  # fmt: skip
    return built, batch


def keras_hub_mlm_reference(built, seq_weights, batch, vocab):
    """BERT's MLM logits recomputed with keras_hub's head maths (exact gelu, LayerNorm
    epsilon 1e-5) from the TF1 graph's own sequence output and the checkpoint's head
    weights: isolates the mapping from keras_hub's different head."""
    from math import erf

    from legacy_saver import load_checkpoint

    with load_checkpoint(built.prefix) as r:
        get = r.get_tensor
        kernel, bias = (
            get("cls/predictions/transform/dense/kernel"),
            get("cls/predictions/transform/dense/bias"),
        )
        gamma, beta = (
            get("cls/predictions/transform/LayerNorm/gamma"),
            get("cls/predictions/transform/LayerNorm/beta"),
        )
        table, out_bias = get(seq_weights), get("cls/predictions/output_bias")
    seq = built.outputs["sequence_output"].astype(np.float64)
    picked = np.take_along_axis(seq, batch.mask_positions[..., None], axis=1)
    h = picked.reshape(-1, seq.shape[-1]) @ kernel + bias
    h = h * 0.5 * (1.0 + np.vectorize(erf)(h / np.sqrt(2.0)))
    mean, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    h = (h - mean) / np.sqrt(var + 1e-5) * gamma + beta
    return h @ table.T + out_bias


def test_bert_keras_hub_preset_matches_tf1(bert_built, tmp_path):
    built, batch = bert_built
    dst = str(tmp_path / "bert_preset")
    report = convert_text("bert", built.prefix, dst, options=TextOptions(head="mlm"))
    assert sorted(os.listdir(dst)) == ["config.json", "metadata.json", "model.weights.h5",
                                       "task.json", "task.weights.h5"]  # fmt: skip
    dropped = {d.src: d.reason for d in report.dropped}
    assert dropped["global_step"].startswith("optimizer state")
    assert dropped["bert/encoder/layer_0/attention/self/query/kernel/adam_m"].startswith(
        "optimizer state"
    )
    assert "next-sentence" in dropped["cls/seq_relationship/output_weights"]

    backbone = keras_hub.models.BertBackbone.from_preset(dst)
    out = backbone(inputs(batch))
    assert rel_error(out["sequence_output"], built.outputs["sequence_output"]) < REL
    assert rel_error(out["pooled_output"], built.outputs["pooled_output"]) < REL

    mlm = keras_hub.models.BertMaskedLM.from_preset(dst)
    logits = np.asarray(mlm({**inputs(batch), "mask_positions": batch.mask_positions}))
    logits = logits.reshape(-1, BERT_CFG.vocab_size)
    # the weights are where keras_hub's head reads them ...
    want = keras_hub_mlm_reference(built, "bert/embeddings/word_embeddings", batch,
                                   BERT_CFG.vocab_size)  # fmt: skip
    assert rel_error(logits, want) < REL
    # ... and keras_hub's head itself differs from BERT's by exact vs tanh gelu and
    # LayerNorm epsilon 1e-5 vs 1e-12: measured, documented in docs/presets.md
    assert 1e-6 < rel_error(logits, built.outputs["mlm_logits"]) < 2e-3


def test_bert_weights_h5_loads_with_plain_keras(bert_built, tmp_path):
    built, batch = bert_built
    dst = str(tmp_path / "bert.weights.h5")
    convert_text("bert", built.prefix, dst, fmt="keras")
    c = BERT_CFG
    model = keras_hub.models.BertBackbone(vocabulary_size=c.vocab_size, num_layers=2,
                                          num_heads=2, hidden_dim=32, intermediate_dim=37,
                                          max_sequence_length=16)  # fmt: skip
    model.load_weights(dst)
    out = model(inputs(batch))
    assert rel_error(out["sequence_output"], built.outputs["sequence_output"]) < REL


def test_build_target_from_a_checkpoint_or_sizes(bert_built):
    from converters import presets

    built, _ = bert_built
    task = presets.get("bert").build_target(checkpoint=built.prefix, head="mlm")
    assert type(task).__name__ == "BertMaskedLM" and task.backbone.num_heads == 2
    albert = presets.get("albert").build_target(
        vocabulary_size=97, num_layers=4, num_heads=2, hidden_dim=32, intermediate_dim=37,
        max_sequence_length=16, num_segments=2, embedding_dim=12, num_groups=2,
        num_inner_repetitions=1,
    )  # fmt: skip
    assert type(albert).__name__ == "AlbertBackbone" and albert.num_groups == 2
    with pytest.raises(presets.PresetError, match="unknown options"):
        presets.get("bert").build_target(heads=3)


@pytest.mark.parametrize(
    "dialect, cfg",
    [
        ("google", ALBERT_CFG),
        ("hub", TinyConfig(num_hidden_layers=3, embedding_size=20)),
        ("brightmart", TinyConfig(num_hidden_layers=3)),
    ],
)
def test_albert_dialects_match_tf1(dialect, cfg, tmp_path):
    import tensorflow as tf

    batch = random_batch(cfg, seed=2)
    built = build_albert(tf, str(tmp_path / "ckpt"), cfg, batch, dialect=dialect)
    dst = str(tmp_path / "albert_preset")
    head = "none" if dialect == "brightmart" else "mlm"
    report = convert_text("albert", built.prefix, dst, options=TextOptions(head=head))
    config = json.load(open(os.path.join(dst, "config.json")))["config"]
    assert config["num_layers"] == cfg.num_hidden_layers
    backbone = keras_hub.models.AlbertBackbone.from_preset(dst)
    out = backbone(inputs(batch))
    assert rel_error(out["sequence_output"], built.outputs["sequence_output"]) < REL
    assert rel_error(out["pooled_output"], built.outputs["pooled_output"]) < REL
    assert (
        "sentence-order"
        in {d.src: d.reason for d in report.dropped}[
            ("module/" if dialect == "hub" else "") + "cls/seq_relationship/output_bias"
        ]
    )
    if head == "mlm":
        mlm = keras_hub.models.AlbertMaskedLM.from_preset(dst)
        logits = np.asarray(mlm({**inputs(batch), "mask_positions": batch.mask_positions}))
        # keras_hub's ALBERT head: the same gelu, LayerNorm epsilon 1e-5 instead of 1e-12
        err = rel_error(logits.reshape(-1, cfg.vocab_size), built.outputs["mlm_logits"])
        assert err < 1e-4, err


def test_keras_hub_layout_is_keras_own(tmp_path):
    """Our .weights.h5 has exactly the datasets (paths, shapes) Keras's own save_weights
    writes for the same backbone, and the same weightless groups."""
    import h5py

    from converters.presets.albert import AlbertConfig
    from converters.presets.bert import BertConfig
    from converters.presets.text import TextPlan

    def tree(path):
        found = {}
        with h5py.File(path) as f:
            f.visititems(lambda n, o: found.setdefault(n, getattr(o, "shape", "group")))
        return found

    bert_cfg = BertConfig(97, 3, 2, 32, 37, 16, 2)
    albert_cfg = AlbertConfig(97, 4, 2, 12, 32, 37, 2, 2, 16, 2, "google")
    for cfg, cls in ((bert_cfg, keras_hub.models.BertBackbone),
                     (albert_cfg, keras_hub.models.AlbertBackbone)):  # fmt: skip
        plan = TextPlan("bert" if cls is keras_hub.models.BertBackbone else "albert", cfg, [])
        model = cls(**{k: v for k, v in cfg.backbone_config().items()
                       if k not in ("name", "trainable", "dtype")})  # fmt: skip
        ours, theirs = str(tmp_path / "ours.weights.h5"), str(tmp_path / "theirs.weights.h5")
        model.save_weights(theirs)
        weights = {v.path: np.asarray(v) for v in model.weights}
        from converters.outputs.keras_hub import WeightSpec, write_weights_h5

        specs = [WeightSpec(k, tuple(v.shape), (k,)) for k, v in weights.items()]
        write_weights_h5(ours, plan.backbone_layout(), specs, weights.__getitem__)
        assert tree(ours) == tree(theirs)
        assert json.loads(json.dumps(model.get_config()))["num_layers"] == cfg.num_layers
