"""``albert``: ALBERT checkpoints -> keras_hub ``AlbertBackbone`` (+ ``AlbertMaskedLM``).

Two naming dialects are found in the wild, and both are read:

* **google** — google-research/albert ``modeling.py`` and its released checkpoints
  (also inside TF-Hub modules, then under a ``module/`` scope):
  ``bert/embeddings/*`` at the embedding width E, ``bert/encoder/embedding_hidden_mapping_in``
  (E -> hidden), and one shared block per group
  ``bert/encoder/transformer/group_G/inner_group_J/{attention_1/self/{query,key,value},
  attention_1/output/dense, LayerNorm, ffn_1/intermediate/dense,
  ffn_1/intermediate/output/dense, LayerNorm_1}``; layer ``l`` of ``L`` runs group
  ``int(l / L * G)``, i.e. consecutive blocks of L/G layers, which is keras_hub's
  ``num_groups``/``num_inner_repetitions`` schedule. The q/k/v kernels are
  [hidden, heads*head_dim] (``dense_layer_3d`` reshapes them to [hidden, heads, head_dim]),
  the output kernel [heads*head_dim, hidden]: reshapes, no transposes.
  Heads: ``cls/predictions/transform/dense`` (hidden -> E, gelu), ``transform/LayerNorm``,
  ``output_bias`` (tied to ``word_embeddings``); ``cls/seq_relationship`` (sentence
  order, dropped).
* **brightmart** — brightmart/albert_zh (widely used Chinese ALBERT): google-research/bert
  names with one block ``bert/encoder/layer_shared/...`` reused by every layer, and a
  factorised word embedding ``word_embeddings`` [V, E] @ ``word_embeddings_2`` [E, H]
  applied *before* the position/segment embeddings and LayerNorm (all at width H). That is
  exactly an AlbertBackbone with ``embedding_dim = hidden``, token embedding
  ``word_embeddings @ word_embeddings_2`` (computed once at conversion), an identity
  ``embedding_projection`` with zero bias (fills that keep the maths), and one group.
  Its masked-LM head is not converted.

The number of layers is not in an ALBERT checkpoint (the layers share weights): it
comes from ``albert_config.json`` beside the checkpoint or the ``num_layers`` option.
keras_hub's masked-LM head uses LayerNorm epsilon 1e-5 where ALBERT uses 1e-12.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from legacy_saver.errors import CheckpointError

from ..outputs.keras_hub import WeightSpec, float32_policy, model_json
from .bert import (
    WORDS,
    JsonConfig,
    Shapes,
    TextOptions,
    bert_block_scopes,
    block_specs,
    check_activation,
    count_indexed,
    embedding_specs,
    heads_for,
    pick,
    pooler_specs,
)

ALBERT_MODULE = "keras_hub.src.models.albert.albert_backbone"
MLM_MODULE = "keras_hub.src.models.albert.albert_masked_lm"
GROUP = "bert/encoder/transformer/group_"
SHARED = "bert/encoder/layer_shared/"
PROJECTION = "bert/encoder/embedding_hidden_mapping_in"
BRIGHTMART_PROJECTION = "bert/embeddings/word_embeddings_2"


@dataclass(frozen=True)
class AlbertConfig:
    vocabulary_size: int
    num_layers: int
    num_heads: int
    embedding_dim: int
    hidden_dim: int
    intermediate_dim: int
    num_groups: int
    num_inner_repetitions: int
    max_sequence_length: int
    num_segments: int
    dialect: str  # "google" | "brightmart"
    dropout: float = 0.0
    identity_projection: bool = False  # google checkpoints with E == hidden have none

    def backbone_config(self) -> dict[str, object]:
        return {
            "name": "albert_backbone",
            "trainable": True,
            "dtype": float32_policy(),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "num_groups": self.num_groups,
            "num_inner_repetitions": self.num_inner_repetitions,
            "embedding_dim": self.embedding_dim,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
            "num_segments": self.num_segments,
        }

    def backbone_json(self) -> dict[str, object]:
        return model_json(ALBERT_MODULE, "AlbertBackbone", self.backbone_config())

    def mlm_json(self) -> dict[str, object]:
        config = {
            "backbone": self.backbone_json(),
            "preprocessor": None,
            "name": "albert_masked_lm",
        }
        return model_json(MLM_MODULE, "AlbertMaskedLM", config)

    def encoder_names(self) -> list[str]:
        return [
            f"group_{g}_inner_layer_{j}"
            for g in range(self.num_groups)
            for j in range(self.num_inner_repetitions)
        ]


def dialect_of(shapes: Shapes, root: str) -> str | None:
    """``google``, ``brightmart``, or None when neither's encoder is there."""
    if any(n.startswith(root + GROUP) for n in shapes):
        return "google"
    if any(n.startswith(root + SHARED) for n in shapes):
        return "brightmart"
    return None


def albert_config(
    shapes: Shapes,
    root: str,
    json_cfg: JsonConfig | None,
    options: TextOptions,
    notes: list[str],
    where: str,
) -> AlbertConfig:
    names = list(shapes)
    dialect = dialect_of(shapes, root)
    if dialect is None:
        raise CheckpointError(f"{where}: no ALBERT encoder ({GROUP}N/... or {SHARED}...)")
    vocab, width = _shape2(shapes, root + WORDS, where)
    if dialect == "google":
        groups = count_indexed(names, rf"^{re.escape(root + GROUP)}(\d+)/", where)
        inner = count_indexed(names, rf"^{re.escape(root + GROUP)}0/inner_group_(\d+)/", where)
        ffn = f"{root}{GROUP}0/inner_group_0/ffn_1/intermediate/dense/kernel"
        identity = root + PROJECTION + "/kernel" not in shapes
        if not identity:
            hidden = _shape2(shapes, root + PROJECTION + "/kernel", where)[1]
        else:
            hidden = width
            notes.append("no embedding_hidden_mapping_in (E == hidden): identity projection")
    else:
        groups, inner, identity = 1, 1, False
        ffn = f"{root}{SHARED}intermediate/dense/kernel"
        hidden = _shape2(shapes, root + BRIGHTMART_PROJECTION, where)[1]
    layers = pick("num_hidden_layers", None, json_cfg, "num_hidden_layers", options.num_layers)
    if layers is None:
        raise CheckpointError(
            f"{where}: ALBERT shares weights across layers, so the number of layers is not in "
            "the checkpoint; put albert_config.json beside it or pass num_layers"
        )
    if layers % groups:
        raise CheckpointError(
            f"{where}: {layers} layers in {groups} groups: keras_hub's AlbertBackbone needs "
            "num_layers divisible by num_groups"
        )
    pick("num_hidden_groups", groups, json_cfg, "num_hidden_groups", None)
    pick("inner_group_num", inner, json_cfg, "inner_group_num", None)
    check_activation(json_cfg)
    positions, _ = _shape2(shapes, f"{root}bert/embeddings/position_embeddings", where)
    segments, _ = _shape2(shapes, f"{root}bert/embeddings/token_type_embeddings", where)
    return AlbertConfig(
        vocabulary_size=vocab,
        num_layers=layers,
        num_heads=heads_for(hidden, json_cfg, options.num_heads, notes),
        embedding_dim=hidden if dialect == "brightmart" else width,
        hidden_dim=hidden,
        intermediate_dim=_shape2(shapes, ffn, where)[1],
        num_groups=groups,
        num_inner_repetitions=inner,
        max_sequence_length=positions,
        num_segments=segments,
        dialect=dialect,
        dropout=float((json_cfg or {}).get("hidden_dropout_prob", 0.0)),
        identity_projection=identity,
    )


def _shape2(shapes: Shapes, name: str, where: str) -> tuple[int, int]:
    if name not in shapes:
        raise CheckpointError(f"{where}: tensor {name!r} is missing")
    shape = tuple(shapes[name])
    if len(shape) != 2:
        raise CheckpointError(f"{where}: {name} has shape {list(shape)}, expected rank 2")
    return shape[0], shape[1]


def google_block_scopes(block: str) -> dict[str, str]:
    return {
        "q": f"{block}/attention_1/self/query",
        "k": f"{block}/attention_1/self/key",
        "v": f"{block}/attention_1/self/value",
        "out": f"{block}/attention_1/output/dense",
        "ln1": f"{block}/LayerNorm",
        "ffn_in": f"{block}/ffn_1/intermediate/dense",
        "ffn_out": f"{block}/ffn_1/intermediate/output/dense",
        "ln2": f"{block}/LayerNorm_1",
    }


def albert_backbone_specs(cfg: AlbertConfig, root: str) -> list[WeightSpec]:
    e, h = cfg.embedding_dim, cfg.hidden_dim
    src = f"{root}bert/embeddings/"
    if cfg.dialect == "brightmart":
        specs = embedding_specs(
            src, h, cfg.vocabulary_size, cfg.max_sequence_length, cfg.num_segments
        )
        specs[0] = WeightSpec(
            "token_embedding/embeddings",
            (cfg.vocabulary_size, h),
            (root + WORDS, root + BRIGHTMART_PROJECTION),
            "matmul",
        )
        specs += [
            WeightSpec("embedding_projection/kernel", (h, h), (), "eye"),
            WeightSpec("embedding_projection/bias", (h,), (), "zeros"),
        ]
        scopes = bert_block_scopes(f"{root}{SHARED.rstrip('/')}")
        specs += block_specs(
            "group_0_inner_layer_0", scopes, h, cfg.num_heads, cfg.intermediate_dim
        )
        return specs + pooler_specs(f"{root}bert/", h)
    specs = embedding_specs(src, e, cfg.vocabulary_size, cfg.max_sequence_length, cfg.num_segments)
    specs += _projection_specs(cfg, root)
    for g in range(cfg.num_groups):
        for j in range(cfg.num_inner_repetitions):
            scopes = google_block_scopes(f"{root}{GROUP}{g}/inner_group_{j}")
            specs += block_specs(
                f"group_{g}_inner_layer_{j}", scopes, h, cfg.num_heads, cfg.intermediate_dim
            )
    return specs + pooler_specs(f"{root}bert/", h)


def _projection_specs(cfg: AlbertConfig, root: str) -> list[WeightSpec]:
    e, h = cfg.embedding_dim, cfg.hidden_dim
    if cfg.identity_projection:
        return [
            WeightSpec("embedding_projection/kernel", (e, h), (), "eye"),
            WeightSpec("embedding_projection/bias", (h,), (), "zeros"),
        ]
    return [
        WeightSpec("embedding_projection/kernel", (e, h), (f"{root}{PROJECTION}/kernel",)),
        WeightSpec("embedding_projection/bias", (h,), (f"{root}{PROJECTION}/bias",)),
    ]
