"""``plan_for_keras``: a TF1 name-based checkpoint into a Keras 3 model's
``.weights.h5`` layout.

The destination keys are the file's dataset paths (``layers/conv2d_5/vars/0``,
from ``keras_layout``); the names aligned on are the Keras variable paths
(``conv2d_5/kernel``), as in ``converters.target`` (rules first, then exact,
keras-path, alias and ordinal matching). Unlike a TF checkpoint, a weights
file has no optimizer: TF1 optimizer slots, ``global_step`` and other
optimizer state are listed as dropped. Fills (``[[fill]]``) give values to
target variables no source feeds; seed-generator state is written from the
target. Needs Keras (any backend), not TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from legacy_saver.bundle.naming import OBJECT_GRAPH_KEY
from legacy_saver.errors import RestoreMismatchError

from ..names import classify_optimizer_names
from ..plan import Dropped, Plan, Unmatched
from ..rules import RuleSet, apply_rules, transformed_shape
from ..target.align import Candidate, align
from ..target.collect import ROLE_MODEL, ROLE_STATE, TargetVariable
from .keras_layout import KerasLayout

_STATE_SUFFIXES = ("seed_generator_state",)


@dataclass
class KerasPlan:
    """A ``Plan`` whose destination keys are dataset paths of ``layout``;
    ``filled`` maps the datasets a ``[[fill]]`` wrote to that fill's label."""

    plan: Plan
    layout: KerasLayout
    filled: dict[str, str] = field(default_factory=dict)


def keras_targets(layout: KerasLayout) -> list[TargetVariable]:
    """One ``TargetVariable`` per dataset of ``layout``."""
    out = []
    for key, var in layout.datasets():
        role = ROLE_STATE if var.path.endswith(_STATE_SUFFIXES) else ROLE_MODEL
        out.append(TargetVariable(key, var.shape, var.dtype, (var.path,), role, read=var.read))
    return out


def candidates(source: Any, keys: list[str], rules: RuleSet, plan: Plan) -> list[Candidate]:
    """Source tensors renamed and transformed by ``rules`` (drops go to ``plan``)."""
    pool = []
    for key in keys:
        name, rule = apply_rules(key, rules)
        shape, dtype = tuple(source.shape(key)), source.dtype(key).tf_name
        if rule is None:
            pool.append(Candidate(key, key, shape, dtype))
        elif name is None:
            plan.dropped.append(Dropped(key, f"rule drop: {rule.label}"))
        else:
            moved = transformed_shape(shape, rule.transform, where=f"{key}: rule {rule.label!r}: ")
            pool.append(Candidate(key, name, moved, dtype, rule.transform, rule.label))
    return pool


def plan_for_keras(
    source: Any, layout: KerasLayout, rules: RuleSet | None = None, *, partial: bool = False
) -> KerasPlan:
    """Plan writing ``source`` as the weights file of the model ``layout`` describes.

    Raises:
        RestoreMismatchError: target variables have no source and no fill
            (each listed with its closest source names), unless ``partial``:
            then they keep the target's own values and are listed in
            ``plan.unmatched``.
    """
    rules = rules if rules is not None else RuleSet()
    plan = Plan()
    result = KerasPlan(plan, layout)
    keys = [k for k in source.keys() if k != OBJECT_GRAPH_KEY]
    opt_names = classify_optimizer_names(keys)
    for key in sorted(opt_names):
        plan.dropped.append(Dropped(key, "optimizer state: a weights file holds no optimizer"))
    pool = candidates(source, [k for k in keys if k not in opt_names], rules, plan)
    targets = keras_targets(layout)
    model = [t for t in targets if t.role == ROLE_MODEL]
    found = align(pool, model)
    plan.actions.extend(found.actions.values())
    for var in targets:
        if var.role == ROLE_STATE and var.read is not None:
            plan.extra[var.key] = np.asarray(var.read())
    unmatched = _fill(found.unmatched, {t.key: t for t in model}, rules, result)
    for cand in found.unused:
        plan.dropped.append(Dropped(cand.src, "no target variable"))
    if unmatched and not partial:
        raise RestoreMismatchError(_message(unmatched, {t.key: t for t in model}, source))
    for u in unmatched:
        target = next(t for t in model if t.key == u.dst)
        if target.read is not None:
            plan.extra[u.dst] = np.asarray(target.read())
    plan.unmatched.extend(unmatched)
    return result


def _fill(
    unmatched: list[Unmatched],
    targets: dict[str, TargetVariable],
    rules: RuleSet,
    result: KerasPlan,
) -> list[Unmatched]:
    left = []
    for u in unmatched:
        target = targets[u.dst]
        fill = next((f for f in rules.fills if any(f.matches(n) for n in target.names)), None)
        if fill is None:
            left.append(u)
            continue
        result.plan.extra[u.dst] = np.full(target.shape, fill.value, dtype=target.dtype)
        result.filled[u.dst] = fill.label
    return left


def _message(unmatched: list[Unmatched], targets: dict[str, TargetVariable], source: Any) -> str:
    where = getattr(source, "prefix", "the source checkpoint")
    lines = [f"{len(unmatched)} target variable(s) have no source tensor in {where}:"]
    for u in unmatched:
        names = ", ".join(targets[u.dst].names)
        hint = "; closest: " + ", ".join(u.candidates) if u.candidates else ""
        lines.append(f"  {u.dst} {list(u.shape)} (names: {names}){hint}")
    lines.append("Add rename rules or fills, or pass partial=True to keep the target's own values.")
    return "\n".join(lines)
