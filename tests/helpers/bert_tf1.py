"""Small TF1 BERT and ALBERT graphs, written from the public reference semantics of
google-research/bert ``modeling.py`` and google-research/albert ``modeling.py``
(variable names, shapes, the tanh-approximated GELU, LayerNorm epsilon 1e-12, the
``-10000`` attention-mask adder), plus brightmart/albert_zh's variant (one
``layer_shared`` BERT block reused by every layer, factorised word embeddings).

Each builder makes the graph in a fresh ``tf.Graph`` with **random** values for every
variable (LayerNorm gamma and beta included, so a dropped or swapped norm shows),
saves it with stock ``tf.compat.v1.train.Saver`` and returns the prefix and the
graph's outputs on the given batch: ``sequence_output``, ``pooled_output`` and, with
the head, ``mlm_logits`` at ``mask_positions`` (one row per position, batch-major).

The ALBERT names come in the dialects found in the wild: ``google`` (the released
checkpoints: ``bert/encoder/transformer/group_G/inner_group_J/attention_1/...``),
``hub`` (the same under a ``module/`` scope, as a TF-Hub module saves them) and
``brightmart`` (albert_zh: ``bert/encoder/layer_shared/attention/self/...``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

LN_EPSILON = 1e-12  # tf.contrib.layers.layer_norm's variance_epsilon
MASK_ADDER = -10000.0  # modeling.py: (1 - mask) * -10000 before the softmax


@dataclass(frozen=True)
class TinyConfig:
    """Uneven sizes on purpose: a transposed [hidden, intermediate] kernel cannot fit."""

    vocab_size: int = 97
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 37
    max_position_embeddings: int = 16
    type_vocab_size: int = 2
    embedding_size: int = 12  # ALBERT only
    num_hidden_groups: int = 1  # ALBERT only
    inner_group_num: int = 1  # ALBERT only

    def bert_json(self) -> dict[str, object]:
        return {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": self.max_position_embeddings,
            "type_vocab_size": self.type_vocab_size,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
        }

    def albert_json(self) -> dict[str, object]:
        return {
            **self.bert_json(),
            "embedding_size": self.embedding_size,
            "num_hidden_groups": self.num_hidden_groups,
            "inner_group_num": self.inner_group_num,
        }


@dataclass
class Batch:
    token_ids: np.ndarray
    segment_ids: np.ndarray
    padding_mask: np.ndarray
    mask_positions: np.ndarray


def random_batch(cfg: TinyConfig, batch: int = 3, seq: int = 11, seed: int = 1) -> Batch:
    """Token ids over the whole vocabulary, two segments, ragged padding (the first
    example unpadded, the others padded at the end, never all-padding)."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(0, cfg.vocab_size, size=(batch, seq)).astype(np.int32)
    segment_ids = np.zeros((batch, seq), np.int32)
    mask = np.ones((batch, seq), np.int32)
    for b in range(batch):
        split = int(rng.integers(1, seq))
        segment_ids[b, split:] = 1
        if b:
            mask[b, int(rng.integers(2, seq)) :] = 0
    positions = np.stack([rng.choice(seq, size=4, replace=False) for _ in range(batch)])
    return Batch(token_ids, segment_ids, mask, positions.astype(np.int32))


@dataclass
class Built:
    prefix: str
    outputs: dict[str, np.ndarray]
    names: list[str] = field(default_factory=list)


class _Vars:
    """Creates variables with random values under the current variable scope."""

    def __init__(self, tf, rng: np.random.Generator) -> None:
        self.tf = tf
        self.rng = rng

    def get(self, name: str, shape: list[int], kind: str = "weight"):
        if kind == "gamma":
            value = 1.0 + 0.3 * self.rng.standard_normal(shape)
        elif kind == "bias":
            value = 0.3 * self.rng.standard_normal(shape)
        elif kind == "table":
            value = self.rng.standard_normal(shape)
        else:  # a kernel: keep activations of order one whatever the fan-in
            value = self.rng.standard_normal(shape) / math.sqrt(shape[0])
        init = self.tf.compat.v1.constant_initializer(value.astype(np.float32))
        return self.tf.compat.v1.get_variable(name, shape, self.tf.float32, init)


def _gelu(tf, x):
    return x * 0.5 * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.pow(x, 3))))


def _layer_norm(tf, v: _Vars, x, scope: str = "LayerNorm"):
    with tf.compat.v1.variable_scope(scope):
        width = int(x.shape[-1])
        beta = v.get("beta", [width], "bias")
        gamma = v.get("gamma", [width], "gamma")
        mean, var = tf.nn.moments(x, [-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + LN_EPSILON) * gamma + beta


def _dense(tf, v: _Vars, x, units: int, scope: str, activation=None):
    with tf.compat.v1.variable_scope(scope):
        kernel = v.get("kernel", [int(x.shape[-1]), units])
        bias = v.get("bias", [units], "bias")
        y = tf.tensordot(x, kernel, [[x.shape.ndims - 1], [0]]) + bias
        return activation(y) if activation is not None else y


def _attention(tf, v: _Vars, x, adder, heads: int, self_scope: str):
    """BERT's attention_layer: q/k/v dense [H, H], split into heads, scaled dot
    product with the mask adder, heads merged back to [B, S, H]."""
    hidden = int(x.shape[-1])
    size = hidden // heads
    batch, seq = tf.shape(x)[0], tf.shape(x)[1]

    def split(t):
        return tf.transpose(tf.reshape(t, [batch, seq, heads, size]), [0, 2, 1, 3])

    with tf.compat.v1.variable_scope(self_scope):
        q = split(_dense(tf, v, x, hidden, "query"))
        k = split(_dense(tf, v, x, hidden, "key"))
        val = split(_dense(tf, v, x, hidden, "value"))
    scores = tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(size)) + adder
    context = tf.matmul(tf.nn.softmax(scores), val)
    return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, seq, hidden])


def _embeddings(tf, v: _Vars, cfg: TinyConfig, ids, segments, width: int, factorised: bool):
    """Word lookup (+ brightmart's [E, H] projection), segment and position tables,
    LayerNorm; returns (output, word table)."""
    with tf.compat.v1.variable_scope("embeddings"):
        words_width = cfg.embedding_size if factorised else width
        table = v.get("word_embeddings", [cfg.vocab_size, words_width], "table")
        x = tf.gather(table, ids)
        if factorised:
            x = tf.tensordot(x, v.get("word_embeddings_2", [words_width, width]), [[2], [0]])
        types = v.get("token_type_embeddings", [cfg.type_vocab_size, width], "table")
        x += tf.matmul(tf.one_hot(segments, cfg.type_vocab_size), types)
        positions = v.get("position_embeddings", [cfg.max_position_embeddings, width], "table")
        x += tf.slice(positions, [0, 0], [tf.shape(ids)[1], -1])[None]
        return _layer_norm(tf, v, x), table


def _bert_block(tf, v: _Vars, x, adder, cfg: TinyConfig):
    """One google-research/bert encoder layer (post-LN), under the current scope."""
    with tf.compat.v1.variable_scope("attention"):
        a = _attention(tf, v, x, adder, cfg.num_attention_heads, "self")
        with tf.compat.v1.variable_scope("output"):
            a = _layer_norm(tf, v, _dense(tf, v, a, cfg.hidden_size, "dense") + x)
    with tf.compat.v1.variable_scope("intermediate"):
        h = _dense(tf, v, a, cfg.intermediate_size, "dense", lambda t: _gelu(tf, t))
    with tf.compat.v1.variable_scope("output"):
        return _layer_norm(tf, v, _dense(tf, v, h, cfg.hidden_size, "dense") + a)


def _albert_block(tf, v: _Vars, x, adder, cfg: TinyConfig):
    """One ALBERT attention_ffn_block (attention_1, LayerNorm, ffn_1, LayerNorm_1)."""
    with tf.compat.v1.variable_scope("attention_1"):
        a = _attention(tf, v, x, adder, cfg.num_attention_heads, "self")
        with tf.compat.v1.variable_scope("output"):
            a = _dense(tf, v, a, cfg.hidden_size, "dense")
    a = _layer_norm(tf, v, a + x, "LayerNorm")
    with tf.compat.v1.variable_scope("ffn_1"):
        with tf.compat.v1.variable_scope("intermediate"):
            h = _dense(tf, v, a, cfg.intermediate_size, "dense", lambda t: _gelu(tf, t))
            with tf.compat.v1.variable_scope("output"):
                h = _dense(tf, v, h, cfg.hidden_size, "dense")
    return _layer_norm(tf, v, h + a, "LayerNorm_1")


def _pooler(tf, v: _Vars, seq_out, cfg: TinyConfig):
    """bert/pooler: tanh dense on the first token."""
    with tf.compat.v1.variable_scope("pooler"):
        return _dense(tf, v, seq_out[:, 0], cfg.hidden_size, "dense", tf.tanh)


def _heads(tf, v: _Vars, seq_out, table, positions, cfg: TinyConfig, width: int):
    """cls/predictions (transform dense + gelu, LayerNorm, tied output + output_bias)
    at ``positions``, and cls/seq_relationship (NSP/SOP, which Keras drops)."""
    picked = tf.gather(seq_out, positions, batch_dims=1)
    picked = tf.reshape(picked, [-1, int(seq_out.shape[-1])])
    with tf.compat.v1.variable_scope("cls/predictions"):
        with tf.compat.v1.variable_scope("transform"):
            t = _dense(tf, v, picked, width, "dense", lambda x: _gelu(tf, x))
            t = _layer_norm(tf, v, t)
        bias = v.get("output_bias", [cfg.vocab_size], "bias")
        logits = tf.matmul(t, table, transpose_b=True) + bias
    with tf.compat.v1.variable_scope("cls/seq_relationship"):
        v.get("output_weights", [2, cfg.hidden_size])
        v.get("output_bias", [2], "bias")
    return logits


def build_bert(
    tf, directory: str, cfg: TinyConfig, batch: Batch, *, seed: int = 0,
    optimizer_slots: bool = False,
) -> Built:  # fmt: skip
    """A google-research/bert model with the pre-training heads, saved as ``bert_model.ckpt``
    (plus ``bert_config.json``) in ``directory``. ``optimizer_slots`` adds
    ``<var>/adam_m``/``adam_v`` and ``global_step`` as fine-tuned checkpoints have them."""

    def encoder(v, ids, segments, adder):
        with tf.compat.v1.variable_scope("bert"):
            x, table = _embeddings(tf, v, cfg, ids, segments, cfg.hidden_size, False)
            with tf.compat.v1.variable_scope("encoder"):
                for i in range(cfg.num_hidden_layers):
                    with tf.compat.v1.variable_scope(f"layer_{i}"):
                        x = _bert_block(tf, v, x, adder, cfg)
            return x, _pooler(tf, v, x, cfg), table

    return _build(tf, directory, cfg, batch, seed, encoder, cfg.hidden_size, optimizer_slots,
                  "bert_config.json", cfg.bert_json(), "")  # fmt: skip


def build_albert(
    tf, directory: str, cfg: TinyConfig, batch: Batch, *, seed: int = 0, dialect: str = "google"
) -> Built:
    """An ALBERT model with heads in one of the dialects (module docstring), saved as
    ``model.ckpt-best`` (plus ``albert_config.json``) in ``directory``."""
    if dialect not in ("google", "hub", "brightmart"):
        raise ValueError(dialect)

    def google(v, ids, segments, adder):
        x, table = _embeddings(tf, v, cfg, ids, segments, cfg.embedding_size, False)
        with tf.compat.v1.variable_scope("encoder"):
            if cfg.embedding_size != cfg.hidden_size:
                x = _dense(tf, v, x, cfg.hidden_size, "embedding_hidden_mapping_in")
            with tf.compat.v1.variable_scope("transformer", reuse=tf.compat.v1.AUTO_REUSE):
                for layer in range(cfg.num_hidden_layers):
                    group = int(layer / cfg.num_hidden_layers * cfg.num_hidden_groups)
                    with tf.compat.v1.variable_scope(f"group_{group}"):
                        for inner in range(cfg.inner_group_num):
                            with tf.compat.v1.variable_scope(f"inner_group_{inner}"):
                                x = _albert_block(tf, v, x, adder, cfg)
        return x, table

    def brightmart(v, ids, segments, adder):
        x, table = _embeddings(tf, v, cfg, ids, segments, cfg.hidden_size, True)
        with tf.compat.v1.variable_scope("encoder"):
            for layer in range(cfg.num_hidden_layers):
                with tf.compat.v1.variable_scope("layer_shared", reuse=layer > 0):
                    x = _bert_block(tf, v, x, adder, cfg)
        return x, table

    def encoder(v, ids, segments, adder):
        body = brightmart if dialect == "brightmart" else google
        with tf.compat.v1.variable_scope("bert"):
            x, table = body(v, ids, segments, adder)
            return x, _pooler(tf, v, x, cfg), table

    # brightmart's own MLM head is not modelled (the preset keeps only its backbone):
    # the stand-in has ALBERT's head shapes so that the checkpoint carries cls/ variables
    head_width = cfg.embedding_size
    head_scope = "module" if dialect == "hub" else ""
    return _build(tf, directory, cfg, batch, seed, encoder, head_width, False,
                  "albert_config.json", cfg.albert_json(), head_scope,
                  ckpt="model.ckpt-best")  # fmt: skip


def _build(
    tf, directory, cfg, batch, seed, encoder, head_width, optimizer_slots, config_name,
    config, scope, ckpt="bert_model.ckpt",
) -> Built:  # fmt: skip
    import json

    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, config_name), "w") as f:
        json.dump(config, f, indent=2)
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        v = _Vars(tf, np.random.default_rng(seed))
        ids = tf.compat.v1.placeholder(tf.int32, [None, None], "input_ids")
        segments = tf.compat.v1.placeholder(tf.int32, [None, None], "segment_ids")
        mask = tf.compat.v1.placeholder(tf.int32, [None, None], "input_mask")
        positions = tf.compat.v1.placeholder(tf.int32, [None, None], "mlm_positions")
        # [B, 1, 1, T]: every query row sees the same key mask, as modeling.py builds it
        adder = (1.0 - tf.cast(mask[:, None, None, :], tf.float32)) * MASK_ADDER
        with tf.compat.v1.variable_scope(scope) if scope else _null():
            seq_out, pooled, table = encoder(v, ids, segments, adder)
            logits = _heads(tf, v, seq_out, table, positions, cfg, head_width)
        if optimizer_slots:
            for var in list(tf.compat.v1.global_variables()):
                base = var.op.name
                for slot in ("adam_m", "adam_v"):
                    tf.compat.v1.get_variable(
                        f"{base}/{slot}", var.shape, tf.float32, tf.compat.v1.zeros_initializer()
                    )
            tf.compat.v1.train.get_or_create_global_step()
        sess.run(tf.compat.v1.global_variables_initializer())
        prefix = tf.compat.v1.train.Saver().save(sess, os.path.join(directory, ckpt))
        feed = {
            ids: batch.token_ids,
            segments: batch.segment_ids,
            mask: batch.padding_mask,
            positions: batch.mask_positions,
        }
        seq_v, pooled_v, logits_v = sess.run([seq_out, pooled, logits], feed)
        names = sorted(var.op.name for var in tf.compat.v1.global_variables())
    outputs = {"sequence_output": seq_v, "pooled_output": pooled_v, "mlm_logits": logits_v}
    return Built(str(prefix), outputs, names)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
