"""The ``bert-hf`` preset: original google-research BERT names and layouts to Hugging
Face ``BertForPreTraining``. A tiny random BERT checkpoint (random weights, with the
optimizer slots and step counter a fine-tuned checkpoint carries) is exported; the
original model's forward pass, written out in numpy over the TF names, must equal
the same pass over the exported torch-layout tensors, and — when ``transformers`` and
``torch`` are installed — Hugging Face's own ``BertForPreTraining`` loading the file."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from converters.safetensors import to_safetensors
from legacy_saver.bundle import BundleWriter

safetensors_numpy = pytest.importorskip("safetensors.numpy")

VOCAB, HIDDEN, LAYERS, HEADS, INTER, POSITIONS, TYPES = 11, 8, 2, 2, 16, 7, 2
RNG = np.random.default_rng(30522)


def bert_checkpoint() -> dict[str, np.ndarray]:
    def r(*shape: int) -> np.ndarray:
        return (RNG.standard_normal(shape) * 0.5).astype(np.float32)

    w = {"bert/embeddings/word_embeddings": r(VOCAB, HIDDEN),
         "bert/embeddings/token_type_embeddings": r(TYPES, HIDDEN),
         "bert/embeddings/position_embeddings": r(POSITIONS, HIDDEN),
         "bert/embeddings/LayerNorm/gamma": r(HIDDEN), "bert/embeddings/LayerNorm/beta": r(HIDDEN),
         "bert/pooler/dense/kernel": r(HIDDEN, HIDDEN), "bert/pooler/dense/bias": r(HIDDEN),
         "cls/predictions/transform/dense/kernel": r(HIDDEN, HIDDEN),
         "cls/predictions/transform/dense/bias": r(HIDDEN),
         "cls/predictions/transform/LayerNorm/gamma": r(HIDDEN),
         "cls/predictions/transform/LayerNorm/beta": r(HIDDEN),
         "cls/predictions/output_bias": r(VOCAB),
         "cls/seq_relationship/output_weights": r(2, HIDDEN),
         "cls/seq_relationship/output_bias": r(2),
         "global_step": np.array(1000, np.int64)}  # fmt: skip
    for i in range(LAYERS):
        p = f"bert/encoder/layer_{i}/"
        for part in ("query", "key", "value"):
            w[f"{p}attention/self/{part}/kernel"] = r(HIDDEN, HIDDEN)
            w[f"{p}attention/self/{part}/bias"] = r(HIDDEN)
        w[f"{p}attention/output/dense/kernel"] = r(HIDDEN, HIDDEN)
        w[f"{p}attention/output/dense/bias"] = r(HIDDEN)
        w[f"{p}intermediate/dense/kernel"] = r(HIDDEN, INTER)
        w[f"{p}intermediate/dense/bias"] = r(INTER)
        w[f"{p}output/dense/kernel"] = r(INTER, HIDDEN)
        w[f"{p}output/dense/bias"] = r(HIDDEN)
        for norm in ("attention/output/LayerNorm", "output/LayerNorm"):
            w[f"{p}{norm}/gamma"], w[f"{p}{norm}/beta"] = r(HIDDEN), r(HIDDEN)
    for key in [k for k in w if k.endswith("kernel")]:
        w[key + "/adam_m"], w[key + "/adam_v"] = r(*w[key].shape), r(*w[key].shape)
    return w


# -- the original model's forward pass, in numpy, two ways ------------------------------------


def _gelu(x: np.ndarray) -> np.ndarray:  # modeling.py gelu: the tanh approximation
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * gamma + beta


def forward(get, dense, ids, types):
    """BERT pretraining outputs; ``get(tf_name)`` gives a non-dense tensor and
    ``dense(tf_scope)(x)`` applies the dense layer of that TF scope."""
    n, s = ids.shape
    x = (
        get("bert/embeddings/word_embeddings")[ids]
        + get("bert/embeddings/token_type_embeddings")[types]
    )
    x = x + get("bert/embeddings/position_embeddings")[:s]
    x = _norm(x, get("bert/embeddings/LayerNorm/gamma"), get("bert/embeddings/LayerNorm/beta"))
    dh = HIDDEN // HEADS
    for i in range(LAYERS):
        p = f"bert/encoder/layer_{i}/"
        q, k, v = (dense(f"{p}attention/self/{part}")(x).reshape(n, s, HEADS, dh)
                   for part in ("query", "key", "value"))  # fmt: skip
        scores = np.einsum("nqhd,nkhd->nhqk", q, k) / math.sqrt(dh)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = np.einsum("nhqk,nkhd->nqhd", probs, v).reshape(n, s, HIDDEN)
        a = f"{p}attention/output/"
        x = _norm(dense(a + "dense")(context) + x, get(a + "LayerNorm/gamma"),
                  get(a + "LayerNorm/beta"))  # fmt: skip
        h = _gelu(dense(f"{p}intermediate/dense")(x))
        o = f"{p}output/"
        x = _norm(dense(o + "dense")(h) + x, get(o + "LayerNorm/gamma"), get(o + "LayerNorm/beta"))
    pooled = np.tanh(dense("bert/pooler/dense")(x[:, 0]))
    t = "cls/predictions/transform/"
    h = _norm(_gelu(dense(t + "dense")(x)), get(t + "LayerNorm/gamma"), get(t + "LayerNorm/beta"))
    logits = h @ get("bert/embeddings/word_embeddings").T + get("cls/predictions/output_bias")
    nsp = pooled @ get("cls/seq_relationship/output_weights").T
    return logits, nsp + get("cls/seq_relationship/output_bias")


def tf_forward(w, ids, types):
    return forward(w.__getitem__, lambda s: lambda x: x @ w[s + "/kernel"] + w[s + "/bias"],
                   ids, types)  # fmt: skip


HF_NAMES = {
    "bert/embeddings/word_embeddings": "bert.embeddings.word_embeddings.weight",
    "bert/embeddings/token_type_embeddings": "bert.embeddings.token_type_embeddings.weight",
    "bert/embeddings/position_embeddings": "bert.embeddings.position_embeddings.weight",
    "cls/predictions/output_bias": "cls.predictions.bias",
    "cls/seq_relationship/output_weights": "cls.seq_relationship.weight",
    "cls/seq_relationship/output_bias": "cls.seq_relationship.bias",
}


def hf_forward(st, ids, types):
    """The same pass over Hugging Face's keys, with torch.nn.Linear's ``x W^T + b``."""

    def hf(tf_name: str) -> str:
        if tf_name in HF_NAMES:
            return HF_NAMES[tf_name]
        name = tf_name.replace("/", ".").replace("gamma", "weight").replace("beta", "bias")
        for i in range(LAYERS):
            name = name.replace(f"layer_{i}.", f"layer.{i}.")
        return name

    def dense(scope: str):
        return lambda x: x @ st[hf(scope) + ".weight"].T + st[hf(scope) + ".bias"]

    return forward(lambda n: st[hf(n)], dense, ids, types)


def expected_hf_keys() -> set[str]:
    """``BertForPreTraining.state_dict()`` keys (transformers' modeling_bert), less the
    decoder weights it ties to the word embeddings and ``cls.predictions.bias``."""
    keys = {f"bert.embeddings.{e}_embeddings.weight" for e in ("word", "position", "token_type")}
    keys |= {"bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias",
             "bert.pooler.dense.weight", "bert.pooler.dense.bias", "cls.predictions.bias",
             "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
             "cls.predictions.transform.LayerNorm.weight",
             "cls.predictions.transform.LayerNorm.bias", "cls.seq_relationship.weight",
             "cls.seq_relationship.bias"}  # fmt: skip
    for i in range(LAYERS):
        p = f"bert.encoder.layer.{i}."
        for module in ("attention.self.query", "attention.self.key", "attention.self.value",
                       "attention.output.dense", "attention.output.LayerNorm",
                       "intermediate.dense", "output.dense", "output.LayerNorm"):  # fmt: skip
            keys |= {p + module + ".weight", p + module + ".bias"}
    return keys


@pytest.fixture
def exported(tmp_path):
    weights = bert_checkpoint()
    prefix = str(tmp_path / "bert_model.ckpt")
    with BundleWriter(prefix, fsync=False) as w:
        for k, v in weights.items():
            w.add(k, v)
    out_dir = tmp_path / "hf"
    report = to_safetensors(prefix, str(out_dir / "model.safetensors"), preset="bert-hf")
    return weights, safetensors_numpy.load_file(str(out_dir / "model.safetensors")), report, out_dir


def test_bert_hf_names_are_the_hugging_face_keys(exported):
    weights, st, report, _ = exported
    assert set(st) == expected_hf_keys()
    dropped = {d.src for d in report.dropped}
    assert dropped == {k for k in weights if "adam_" in k} | {"global_step"}
    assert all(a.rule and a.rule.startswith("bert-hf: ") for a in report.actions)


def test_bert_hf_layouts_compute_the_original_model(exported):
    weights, st, _, _ = exported
    ids = RNG.integers(0, VOCAB, (2, 5))
    types = RNG.integers(0, TYPES, (2, 5))
    for want, got in zip(tf_forward(weights, ids, types), hf_forward(st, ids, types), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    q = "bert/encoder/layer_1/attention/self/query/kernel"  # square: a wrong layout still fits
    np.testing.assert_array_equal(st["bert.encoder.layer.1.attention.self.query.weight"],
                                  weights[q].T)  # fmt: skip


@pytest.mark.slow
def test_hugging_face_bert_loads_the_file_and_agrees(exported):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    weights, _, _, out_dir = exported
    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=INTER, max_position_embeddings=POSITIONS, type_vocab_size=TYPES,
        hidden_act="gelu_new", layer_norm_eps=1e-12,
    )  # fmt: skip
    (out_dir / "config.json").write_text(json.dumps(config.to_dict()))
    model, info = transformers.BertForPreTraining.from_pretrained(
        str(out_dir), output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert not info.get("mismatched_keys")
    ids = RNG.integers(0, VOCAB, (2, 5))
    types = RNG.integers(0, TYPES, (2, 5))
    with torch.no_grad():
        out = model.eval()(input_ids=torch.from_numpy(ids), token_type_ids=torch.from_numpy(types))
    logits, nsp = tf_forward(weights, ids, types)
    np.testing.assert_allclose(out.prediction_logits.numpy(), logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out.seq_relationship_logits.numpy(), nsp, rtol=1e-4, atol=1e-4)
