"""How one conversion runs: ``ConversionOptions``, built once and passed unchanged.

The CLI (``legacy-ckpt convert``/``batch``) and the public verbs
(``tf1_to_tf2(...)`` etc.) each build one ``ConversionOptions``; it travels
through ``converters.api.convert``, the batch runner and the remote staging to
the executor as it is. No layer re-reads keyword arguments, and no value is
dropped on the way: ``optimizer="keep"``, ``link=False`` and an empty rules
list mean what they say.

``TargetFormat`` names what the destination is; each member maps to one
converter in ``converters.api`` (new formats — Keras ``.weights.h5``, keras-hub
presets, safetensors — add a member and a converter there).
``OptimizerMode`` says what happens to optimizer state.

Strings are accepted wherever an enum is expected (``to="tf1"``,
``optimizer="drop"``) and converted once, in ``__post_init__``; anything else
raises ``ValueError`` naming the field and the allowed values.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, fields, replace
from typing import Any

from .rules import Rule, RuleSet, load_rules

__all__ = ["ConversionOptions", "OptimizerMode", "RulesSpec", "TargetFormat"]


class TargetFormat(enum.StrEnum):
    """What the destination checkpoint is (``--to``)."""

    TF2 = "tf2"  # name-based (TF1) -> object-based (TF2)
    TF1 = "tf1"  # object-based -> name-based
    V2 = "v2"  # a V1 (pre-TF-1.0) file -> V2, same names
    KERAS = "keras"  # name-based -> a Keras 3 .weights.h5 (converters.presets.convert)
    KERAS_HUB = "keras-hub"  # name-based -> a keras-hub preset directory
    SAFETENSORS = "safetensors"  # any checkpoint -> .safetensors (converters.safetensors)


class OptimizerMode(enum.StrEnum):
    """What happens to optimizer state (``--optimizer``)."""

    KEEP = "keep"  # slots and optimizer variables are carried across
    DROP = "drop"  # they are left out, and listed in the report


RulesSpec = tuple[Rule, ...] | str | os.PathLike[str] | None

# Which options mean something for which format; the rest must stay at their defaults.
_APPLIES: dict[TargetFormat, frozenset[str]] = {
    TargetFormat.TF2: frozenset({"rules", "optimizer", "target", "link", "partial", "dry_run"}),
    TargetFormat.TF1: frozenset({"rules", "optimizer", "dry_run"}),
    TargetFormat.V2: frozenset(),
    TargetFormat.KERAS: frozenset({"rules", "target", "partial", "dry_run"}),
    TargetFormat.KERAS_HUB: frozenset({"rules", "target", "partial", "dry_run"}),
    TargetFormat.SAFETENSORS: frozenset({"rules", "optimizer", "dry_run"}),
}
_COMMON = frozenset({"to", "overwrite", "fsync", "record_plan"})


def _enum(kind: type[enum.Enum], field_name: str, value: object) -> Any:
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in kind)
        raise ValueError(f"{field_name} must be one of {allowed}, got {value!r}") from None


@dataclass(frozen=True)
class ConversionOptions:
    """Everything that decides how one conversion runs.

    Attributes:
        to: the destination format (``TargetFormat`` or its value).
        rules: rename rules: a sequence of ``Rule`` (kept as a tuple) or the
            path of a TOML rules file (read by ``resolved_rules()``); None for none.
        optimizer: ``OptimizerMode.KEEP`` (default) or ``DROP``.
        target: (``to=tf2``) a model or ``tf.train.Checkpoint`` to convert into;
            None for the structural conversion.
        link: (``to=tf2``) hard-link the data shards when no value changes.
        partial: (``to=tf2`` with ``target``) allow target variables without a source.
        dry_run: plan and report, write nothing.
        overwrite: replace an existing destination (never the source itself).
        fsync: make the written files durable before they are renamed into place.
        record_plan: write the plan beside the destination
            (``naming.plan_path``) so ``verify`` can check any conversion later.
    """

    to: TargetFormat = TargetFormat.TF2
    rules: RulesSpec = None
    optimizer: OptimizerMode = OptimizerMode.KEEP
    target: object = None
    link: bool = False
    partial: bool = False
    dry_run: bool = False
    overwrite: bool = False
    fsync: bool = True
    record_plan: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", _enum(TargetFormat, "to", self.to))
        object.__setattr__(self, "optimizer", _enum(OptimizerMode, "optimizer", self.optimizer))
        rules = self.rules
        if isinstance(rules, RuleSet):  # keeps its pairs and fills
            pass
        elif rules is not None and not isinstance(rules, str | os.PathLike):
            rules = tuple(rules)
            if not all(isinstance(r, Rule) for r in rules):
                raise ValueError("rules must be Rule objects or the path of a rules file")
            object.__setattr__(self, "rules", rules)
        for name in ("link", "partial", "dry_run", "overwrite", "fsync", "record_plan"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def resolved_rules(self) -> list[Rule] | None:
        """The rules as a list (a rules file is read here), or None."""
        if self.rules is None:
            return None
        if isinstance(self.rules, str | os.PathLike):
            return load_rules(self.rules)
        if isinstance(self.rules, RuleSet):
            return self.rules
        return list(self.rules)

    def not_applicable(self) -> list[str]:
        """Options set away from their defaults that mean nothing for ``to``
        (the CLI reports them as usage errors; ``check()`` raises)."""
        allowed = _APPLIES[self.to] | _COMMON
        default = ConversionOptions(to=self.to)
        return [
            f.name
            for f in fields(self)
            if f.name not in allowed and getattr(self, f.name) != getattr(default, f.name)
        ]

    def check(self) -> ConversionOptions:
        """``self``, after refusing options that do not apply to ``to``."""
        wrong = self.not_applicable()
        if wrong:
            raise ValueError(f"{', '.join(wrong)} do(es) not apply to to={self.to.value!r}")
        return self

    def but(self, **changes: Any) -> ConversionOptions:
        """A copy with ``changes`` (``dataclasses.replace``)."""
        return replace(self, **changes)
