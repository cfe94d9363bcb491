"""``bert``: google-research/bert checkpoints -> keras_hub ``BertBackbone`` (+ ``BertMaskedLM``).

Facts this mapping rests on (google-research/bert ``modeling.py``; keras_hub
``src/models/bert``, ``src/layers/modeling/transformer_encoder.py``):

* Names: ``bert/embeddings/{word,token_type,position}_embeddings`` and ``LayerNorm``;
  per layer ``bert/encoder/layer_N/attention/self/{query,key,value}``,
  ``attention/output/dense``, ``attention/output/LayerNorm``, ``intermediate/dense``,
  ``output/dense``, ``output/LayerNorm``; ``bert/pooler/dense``; the pre-training heads
  ``cls/predictions/{transform/dense,transform/LayerNorm,output_bias}`` and
  ``cls/seq_relationship/*`` (next-sentence prediction, which keras_hub does not have).
* TF1 keeps q/k/v as one [hidden, hidden] kernel whose columns are head-major
  (``transpose_for_scores`` reshapes to [batch, seq, heads, head_dim]); Keras's
  EinsumDense keeps [hidden, heads, head_dim]: a reshape, no transpose. The attention
  output kernel [heads*head_dim, hidden] becomes [heads, head_dim, hidden] likewise.
* The same function: post-LayerNorm blocks, LayerNorm epsilon 1e-12, tanh-approximated
  GELU in the feed-forward layer, the mask applied to keys, the pooler a tanh Dense on
  the first token. keras_hub's *masked-LM head* differs from BERT's: exact (erf) GELU
  and LayerNorm epsilon 1e-5, where BERT uses the tanh form and 1e-12 (docs/presets.md
  gives the measured difference).

The head count is not in the weights' shapes: it comes from ``bert_config.json`` beside
the checkpoint, the ``num_heads`` option, or else hidden/64 (every released size) with
a note in the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from legacy_saver.errors import CheckpointError

from ..outputs.keras_hub import WeightSpec, float32_policy, model_json
from .text_config import (
    JsonConfig,
    Shapes,
    TextOptions,
    check_activation,
    count_indexed,
    find_root,
    heads_for,
    pick,
    read_config_json,
    shape_of,
)

__all__ = [
    "JsonConfig",
    "Shapes",
    "TextOptions",
    "check_activation",
    "count_indexed",
    "find_root",
    "heads_for",
    "pick",
    "read_config_json",
]  # re-exported for albert/text

BERT_MODULE = "keras_hub.src.models.bert.bert_backbone"
MLM_MODULE = "keras_hub.src.models.bert.bert_masked_lm"
WORDS = "bert/embeddings/word_embeddings"
# what a google-research checkpoint holds besides the model: optimizer state and heads
OPTIMIZER_SUFFIXES = ("/adam_m", "/adam_v", "/Adam", "/Adam_1", "/Momentum", "/lamb_m", "/lamb_v")


@dataclass(frozen=True)
class BertConfig:
    vocabulary_size: int
    num_layers: int
    num_heads: int
    hidden_dim: int
    intermediate_dim: int
    max_sequence_length: int
    num_segments: int
    dropout: float = 0.1

    def backbone_config(self) -> dict[str, object]:
        return {
            "name": "bert_backbone",
            "trainable": True,
            "dtype": float32_policy(),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
            "num_segments": self.num_segments,
        }

    def backbone_json(self) -> dict[str, object]:
        return model_json(BERT_MODULE, "BertBackbone", self.backbone_config())

    def mlm_json(self) -> dict[str, object]:
        config = {"backbone": self.backbone_json(), "preprocessor": None, "name": "bert_masked_lm"}
        return model_json(MLM_MODULE, "BertMaskedLM", config)


def bert_config(
    shapes: Shapes,
    root: str,
    json_cfg: JsonConfig | None,
    options: TextOptions,
    notes: list[str],
    where: str,
) -> BertConfig:
    names = list(shapes)
    vocab, hidden = shape_of(shapes, root + WORDS, 2, where)
    layers = count_indexed(names, rf"^{re.escape(root)}bert/encoder/layer_(\d+)/", where)
    if layers == 0:
        raise CheckpointError(f"{where}: no bert/encoder/layer_N tensors")
    inter = shape_of(shapes, f"{root}bert/encoder/layer_0/intermediate/dense/kernel", 2, where)[1]
    check_activation(json_cfg)
    emb = f"{root}bert/embeddings/"
    positions = shape_of(shapes, emb + "position_embeddings", 2, where)[0]
    segments = shape_of(shapes, emb + "token_type_embeddings", 2, where)[0]
    given = options.num_layers
    return BertConfig(
        vocabulary_size=pick("vocab_size", vocab, json_cfg, "vocab_size", None) or vocab,
        num_layers=pick("num_hidden_layers", layers, json_cfg, "num_hidden_layers", given)
        or layers,
        num_heads=heads_for(hidden, json_cfg, options.num_heads, notes),
        hidden_dim=pick("hidden_size", hidden, json_cfg, "hidden_size", None) or hidden,
        intermediate_dim=pick("intermediate_size", inter, json_cfg, "intermediate_size", None)
        or inter,
        max_sequence_length=positions,
        num_segments=segments,
        dropout=float((json_cfg or {}).get("hidden_dropout_prob", 0.1)),
    )


# -- the weights -------------------------------------------------------------------------


def embedding_specs(
    src: str, width: int, vocab: int, positions: int, segments: int, words: str | None = None
) -> list[WeightSpec]:
    """keras_hub's embedding layers from ``<src>embeddings/...``."""
    return [
        WeightSpec(
            "token_embedding/embeddings", (vocab, width), (words or f"{src}word_embeddings",)
        ),
        WeightSpec(
            "position_embedding/embeddings", (positions, width), (f"{src}position_embeddings",)
        ),
        WeightSpec(
            "segment_embedding/embeddings", (segments, width), (f"{src}token_type_embeddings",)
        ),
        WeightSpec("embeddings_layer_norm/gamma", (width,), (f"{src}LayerNorm/gamma",)),
        WeightSpec("embeddings_layer_norm/beta", (width,), (f"{src}LayerNorm/beta",)),
    ]


def attention_specs(
    dst: str, q: str, k: str, v: str, out: str, hidden: int, heads: int
) -> list[WeightSpec]:
    """q/k/v/output dense layers ``<name>/kernel|bias`` -> keras EinsumDense shapes."""
    size = hidden // heads
    att = f"{dst}/self_attention_layer"
    specs = []
    for keras_name, scope in (("query", q), ("key", k), ("value", v)):
        specs.append(
            WeightSpec(
                f"{att}/{keras_name}/kernel", (hidden, heads, size), (f"{scope}/kernel",), "reshape"
            )
        )
        specs.append(
            WeightSpec(f"{att}/{keras_name}/bias", (heads, size), (f"{scope}/bias",), "reshape")
        )
    specs.append(
        WeightSpec(
            f"{att}/attention_output/kernel", (heads, size, hidden), (f"{out}/kernel",), "reshape"
        )
    )
    specs.append(WeightSpec(f"{att}/attention_output/bias", (hidden,), (f"{out}/bias",)))
    return specs


def block_specs(
    dst: str, scopes: dict[str, str], hidden: int, heads: int, inter: int
) -> list[WeightSpec]:
    """One TransformerEncoder ``dst`` from source scopes: q, k, v, out, ln1, ffn_in,
    ffn_out, ln2 (each a scope holding ``kernel``/``bias`` or ``gamma``/``beta``)."""
    s = scopes
    specs = attention_specs(dst, s["q"], s["k"], s["v"], s["out"], hidden, heads)
    for keras_name, scope in (
        ("self_attention_layer_norm", s["ln1"]),
        ("feedforward_layer_norm", s["ln2"]),
    ):
        specs.append(WeightSpec(f"{dst}/{keras_name}/gamma", (hidden,), (f"{scope}/gamma",)))
        specs.append(WeightSpec(f"{dst}/{keras_name}/beta", (hidden,), (f"{scope}/beta",)))
    for keras_name, scope, shape in (
        ("feedforward_intermediate_dense", s["ffn_in"], (hidden, inter)),
        ("feedforward_output_dense", s["ffn_out"], (inter, hidden)),
    ):
        specs.append(WeightSpec(f"{dst}/{keras_name}/kernel", shape, (f"{scope}/kernel",)))
        specs.append(WeightSpec(f"{dst}/{keras_name}/bias", (shape[1],), (f"{scope}/bias",)))
    return specs


def bert_block_scopes(layer: str) -> dict[str, str]:
    """google-research/bert's scope names inside one ``layer_N`` (or brightmart's
    ``layer_shared``)."""
    return {
        "q": f"{layer}/attention/self/query",
        "k": f"{layer}/attention/self/key",
        "v": f"{layer}/attention/self/value",
        "out": f"{layer}/attention/output/dense",
        "ln1": f"{layer}/attention/output/LayerNorm",
        "ffn_in": f"{layer}/intermediate/dense",
        "ffn_out": f"{layer}/output/dense",
        "ln2": f"{layer}/output/LayerNorm",
    }


def pooler_specs(src: str, hidden: int) -> list[WeightSpec]:
    return [
        WeightSpec("pooled_dense/kernel", (hidden, hidden), (f"{src}pooler/dense/kernel",)),
        WeightSpec("pooled_dense/bias", (hidden,), (f"{src}pooler/dense/bias",)),
    ]


def mlm_specs(root: str, hidden: int, width: int, vocab: int) -> list[WeightSpec]:
    """cls/predictions -> keras_hub MaskedLMHead (its output kernel is tied to the token
    embedding, as BERT's is to ``word_embeddings``)."""
    p = f"{root}cls/predictions"
    return [
        WeightSpec("mlm_head/output_bias", (vocab,), (f"{p}/output_bias",)),
        WeightSpec(
            "mlm_head/intermediate_dense/kernel", (hidden, width), (f"{p}/transform/dense/kernel",)
        ),
        WeightSpec("mlm_head/intermediate_dense/bias", (width,), (f"{p}/transform/dense/bias",)),
        WeightSpec(
            "mlm_head/intermediate_layer_norm/gamma", (width,), (f"{p}/transform/LayerNorm/gamma",)
        ),
        WeightSpec(
            "mlm_head/intermediate_layer_norm/beta", (width,), (f"{p}/transform/LayerNorm/beta",)
        ),
    ]


def bert_backbone_specs(cfg: BertConfig, root: str) -> list[WeightSpec]:
    src = f"{root}bert/"
    h = cfg.hidden_dim
    specs = embedding_specs(
        f"{src}embeddings/", h, cfg.vocabulary_size, cfg.max_sequence_length, cfg.num_segments
    )
    for i in range(cfg.num_layers):
        scopes = bert_block_scopes(f"{src}encoder/layer_{i}")
        specs += block_specs(
            f"transformer_layer_{i}", scopes, h, cfg.num_heads, cfg.intermediate_dim
        )
    return specs + pooler_specs(src, h)


def drop_reason(name: str, root: str) -> str:
    """Why a source tensor no target takes is left out (for the report)."""
    if name.endswith(OPTIMIZER_SUFFIXES) or name.endswith("global_step"):
        return "optimizer state (keras_hub models carry none)"
    if name.startswith(f"{root}cls/seq_relationship/"):
        return "next-sentence/sentence-order head (keras_hub has no such head)"
    if name.startswith(f"{root}cls/predictions/"):
        return "masked-LM head (pass head='mlm' to keep it)"
    return "not part of the keras_hub model"
