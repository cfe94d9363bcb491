"""The ``bert`` and ``albert`` presets in the registry (``converters.presets.get("bert")``).

These presets write their weights themselves (``converters.presets.text``): straight
from the checkpoint into a keras-hub preset directory or the backbone's ``.weights.h5``,
without building the Keras model (so without importing TensorFlow or keras_hub, and in
the memory of one tensor). ``convert()`` hands them the conversion (``write``).
``build_target`` builds the keras_hub model, from explicit sizes or ``checkpoint=PATH``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from legacy_saver.bundle import CheckpointReader
from legacy_saver.errors import CheckpointError

from ..report import ConversionReport
from ..rules import RuleSet
from . import albert, bert
from .base import InputConvention, Match, Option, Preset, PresetError, Shapes
from .bert import TextOptions
from .registry import register

TOKEN_INPUT = InputConvention(
    "token-ids",
    "token ids from the checkpoint's own vocabulary (WordPiece vocab.txt for BERT, "
    "SentencePiece 30k-clean.model for ALBERT), segment ids 0/1, padding mask 1/0; "
    "keras_hub's inputs token_ids, segment_ids, padding_mask",
    (1.0, 1.0, 1.0),
    (0.0, 0.0, 0.0),
)
SIZES = ("vocabulary_size", "hidden_dim", "intermediate_dim", "max_sequence_length",
         "num_segments", "embedding_dim", "num_groups", "num_inner_repetitions")  # fmt: skip


def _options(family: str) -> tuple[Option, ...]:
    sizes = tuple(
        Option(s, None, "read from the checkpoint", kind=(int, type(None)))
        for s in SIZES
        if family == "albert" or s in SIZES[:5]
    )
    return (
        Option(
            "head",
            "none",
            "mlm: also the masked-LM head (BertMaskedLM/AlbertMaskedLM)",
            ("none", "mlm"),
        ),  # fmt: skip
        Option(
            "num_heads",
            None,
            "attention heads (default: the config json, else hidden/64)",
            kind=(int, type(None)),
        ),  # fmt: skip
        Option(
            "num_layers",
            None,
            "layers (BERT: read from the checkpoint; ALBERT: the config json, or this)",
            kind=(int, type(None)),
        ),  # fmt: skip
        Option(
            "config",
            None,
            "path of bert_config.json/albert_config.json (default: beside the checkpoint)",
            kind=(str, type(None)),
        ),  # fmt: skip
        Option(
            "checkpoint",
            None,
            "build_target: read the sizes from this checkpoint",
            kind=(str, type(None)),
        ),  # fmt: skip
        *sizes,
    )


def text_options(values: Mapping[str, Any]) -> TextOptions:
    return TextOptions(values.get("num_heads"), values.get("num_layers"), values.get("config"),
                       values.get("head", "none"))  # fmt: skip


@dataclass(frozen=True)
class TextPreset(Preset):
    """A preset that writes keras/keras-hub outputs itself (see the module docstring)."""

    def write(
        self, reader: CheckpointReader, dst: str, *, fmt: str, values: Mapping[str, Any],
        overwrite: bool, dry_run: bool,
    ) -> ConversionReport:  # fmt: skip
        from .text import convert_reader

        return convert_reader(self.name, reader, dst, fmt=fmt, options=text_options(values),
                              overwrite=overwrite, dry_run=dry_run)  # fmt: skip


def _builder(family: str):  # type: ignore[no-untyped-def]
    def build(values: Mapping[str, Any]) -> Any:
        from legacy_saver.bundle import load_checkpoint

        from .text import build_target, plan_from_reader, plan_from_sizes

        if values.get("checkpoint"):
            with load_checkpoint(values["checkpoint"]) as reader:
                plan = plan_from_reader(family, reader, text_options(values))
        else:
            plan = plan_from_sizes(family, values)
        return build_target(family, plan, head=values.get("head") == "mlm")

    return build


def _no_rules(family: str):  # type: ignore[no-untyped-def]
    def rules(values: Mapping[str, Any]) -> RuleSet:
        raise PresetError(
            f"{family}: this preset writes format keras or keras-hub (it does not go through "
            "rename rules); for a TF2 checkpoint, load the keras-hub directory and save it"
        )

    return rules


def _match(family: str):  # type: ignore[no-untyped-def]
    def match(shapes: Shapes) -> Match:
        names = list(shapes)
        try:
            root = bert.find_root(names, bert.WORDS, "the checkpoint")
        except CheckpointError:
            return Match(family, False, reason=f"no {bert.WORDS} tensor")
        dialect = albert.dialect_of(shapes, root)
        is_bert = any(n.startswith(f"{root}bert/encoder/layer_0/") for n in names)
        if (family == "bert") != (dialect is None) or (family == "bert" and not is_bert):
            other = "ALBERT" if family == "bert" else "BERT"
            return Match(family, False, reason=f"{family}: the encoder is {other}'s")
        notes: list[str] = []
        # heads and ALBERT layers are not in the shapes: placeholders, not reported
        opts = TextOptions(num_heads=1, num_layers=None if family == "bert" else 12)
        from .text import TextPlan, check_shapes

        try:
            if family == "bert":
                cfg: Any = bert.bert_config(shapes, root, None, opts, notes, "the checkpoint")
                specs = bert.bert_backbone_specs(cfg, root)
            else:
                cfg = albert.albert_config(shapes, root, None, opts, notes, "the checkpoint")
                specs = albert.albert_backbone_specs(cfg, root)
            check_shapes(TextPlan(family, cfg, specs), shapes, "the checkpoint")
        except CheckpointError as exc:
            return Match(family, False, reason=f"{family}: {exc}", claimed=True)
        found = {k: getattr(cfg, k) for k in SIZES if hasattr(cfg, k)}
        if family == "bert":
            found["num_layers"] = cfg.num_layers
        return Match(family, True, found)

    return match


for _family, _target, _source in (
    ("bert", "keras_hub.models.BertBackbone (+ BertMaskedLM)",
     "google-research/bert (any size; TF-Hub module/ scope too)"),
    ("albert", "keras_hub.models.AlbertBackbone (+ AlbertMaskedLM)",
     "google-research/albert (and TF-Hub module/ scope), brightmart/albert_zh"),
):  # fmt: skip
    register(
        TextPreset(
            name=_family,
            family=_source,
            target=_target,
            summary=f"{_source} -> {_target}; outputs keras-hub directories or .weights.h5",
            input_convention=TOKEN_INPUT,
            options=_options(_family),
            builder=_builder(_family),
            rules_for=_no_rules(_family),
            matcher=_match(_family),
            dropped="optimizer slots, global_step, the next-sentence/sentence-order head; the "
            "masked-LM head unless head='mlm'",
            equivalence="sequence/pooled outputs within 1e-6 relative of the TF1 graph "
            "(TensorFlow and JAX backends); see docs/presets.md",
        )  # fmt: skip
    )
