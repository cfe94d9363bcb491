"""``plan_for_target``: a TF1 name-based checkpoint into a real TF2 model's layout.

Reads only names, shapes and dtypes of the source (plus, for Adam without a
``global_step``, the scalar ``beta1_power``); the executor does the copying.
Every destination key is one the target itself would write, and the object
graph is the one TensorFlow serializes for it, so the output restores with
``tf.train.Checkpoint(...).read(dst).assert_existing_objects_matched()``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from legacy_saver.bundle.naming import OBJECT_GRAPH_KEY
from legacy_saver.errors import RestoreMismatchError, UnsupportedFeatureError

from ..names import OptimizerName, classify_optimizer_names
from ..plan import Action, Dropped, Plan, Transform, Unmatched
from ..rules import Rule, apply_rules, transformed_shape
from .align import Alignment, Candidate, align
from .collect import (
    ROLE_ITERATIONS,
    ROLE_MODEL,
    ROLE_OPTIMIZER,
    ROLE_SLOT,
    TargetSpec,
    TargetVariable,
    collect_target,
)
from .optimizer import GLOBAL_STEP, UNSUPPORTED_MEANINGS, is_beta_power, steps_from_beta_power

OPTIMIZER_MODES = ("keep", "drop")
_IDENTITY = Transform()
Rules = list[Rule] | tuple[Rule, ...] | None


def plan_for_target(
    source: Any,
    target: Any,
    *,
    rules: Rules = None,
    optimizer: str = "keep",
    partial: bool = False,
) -> Plan:
    """Plan writing ``source`` (a ``CheckpointReader``) in the layout of ``target``.

    Args:
        source: reader of the TF1 checkpoint (``legacy_saver.bundle.load_checkpoint``).
        target: a ``tf.train.Checkpoint`` (used as is) or any trackable (wrapped
            as ``tf.train.Checkpoint(model=target)``), built, with its optimizer
            built too when optimizer state is to be carried.
        rules: rename rules, tried before automatic alignment.
        optimizer: ``"keep"`` maps TF1 slots onto the target's optimizer;
            ``"drop"`` drops them (listed in ``plan.dropped``).
        partial: allow target variables without a source (``plan.unmatched``).

    Raises:
        RestoreMismatchError: target variables have no source tensor (lists
            each with its closest source names), unless ``partial``.
        UnsupportedFeatureError: TF1 slots cannot be expressed in the target
            optimizer (Keras SGD momentum).
    """
    if optimizer not in OPTIMIZER_MODES:
        raise ValueError(f"optimizer must be one of {OPTIMIZER_MODES}, got {optimizer!r}")
    spec = collect_target(target)
    plan = Plan(object_graph=spec.object_graph)
    where = getattr(source, "prefix", "the source checkpoint")
    keys = [k for k in source.keys() if k != OBJECT_GRAPH_KEY]
    opt_names = classify_optimizer_names(keys)
    pool = _candidates(source, [k for k in keys if k not in opt_names], rules, plan)
    by_role = _by_role(spec)
    model = align(pool, by_role[ROLE_MODEL])
    plan.actions.extend(model.actions.values())
    unmatched = list(model.unmatched)
    used = {a.src for a in plan.actions}
    slots = {k: v for k, v in opt_names.items() if v.kind == "slot"}
    if optimizer == "keep" and spec.optimizers:
        _check_slots_known(spec, slots, where)
        unmatched += _plan_slots(slots, model, by_role[ROLE_SLOT], source, rules, plan)
        _plan_optimizer_vars(source, spec, by_role, opt_names, plan)
    else:
        _fill_from_target([*by_role[ROLE_SLOT], *by_role[ROLE_ITERATIONS]], plan)
        _fill_from_target(by_role[ROLE_OPTIMIZER], plan)
    _fill_from_target(by_role["state"], plan)
    _drop_leftovers(keys, opt_names, optimizer, spec, used | {a.src for a in plan.actions}, plan)
    if unmatched and not partial:
        raise RestoreMismatchError(_unmatched_message(unmatched, spec, where))
    plan.unmatched.extend(unmatched)
    if unmatched:
        plan.object_graph = without_values(spec.object_graph, {u.dst for u in unmatched})
    return plan


def without_values(object_graph: bytes, keys: set[str]) -> bytes:
    """``object_graph`` with no attribute for ``keys`` (values the checkpoint does not
    hold). TensorFlow looks up every attribute the graph lists, and a listed key
    missing from the file is a ``NotFoundError`` even under ``expect_partial()``;
    without the attribute, the variable keeps its own value when read."""
    from legacy_saver.bundle.protos import TrackableObjectGraph

    graph = TrackableObjectGraph()
    graph.ParseFromString(object_graph)
    for node in graph.nodes:
        kept = [a for a in node.attributes if a.checkpoint_key not in keys]
        if len(kept) != len(node.attributes):
            copies = [type(a)() for a in kept]
            for copy, attr in zip(copies, kept, strict=True):
                copy.CopyFrom(attr)
            del node.attributes[:]
            node.attributes.extend(copies)
    return bytes(graph.SerializeToString(deterministic=True))


def _candidates(source: Any, keys: list[str], rules: Rules, plan: Plan) -> list[Candidate]:
    pool = []
    for key in keys:
        name, rule = apply_rules(key, rules)
        if rule is None:
            pool.append(Candidate(key, key, tuple(source.shape(key)), source.dtype(key).tf_name))
        elif name is None:
            plan.dropped.append(Dropped(key, f"rule drop: {rule.label}"))
        else:
            where = f"{key}: rule {rule.label!r}: "
            shape = transformed_shape(tuple(source.shape(key)), rule.transform, where=where)
            dtype = source.dtype(key).tf_name
            pool.append(Candidate(key, name, shape, dtype, rule.transform, rule.label))
    return pool


def _by_role(spec: TargetSpec) -> dict[str, list[TargetVariable]]:
    roles: dict[str, list[TargetVariable]] = {
        r: [] for r in (ROLE_MODEL, ROLE_SLOT, ROLE_ITERATIONS, ROLE_OPTIMIZER, "state")
    }
    for var in spec.variables:
        roles[var.role].append(var)
    return roles


def _plan_slots(
    slots: dict[str, OptimizerName],
    model: Alignment,
    targets: list[TargetVariable],
    source: Any,
    rules: Rules,
    plan: Plan,
) -> list[Unmatched]:
    """Slot actions: each TF1 slot follows its variable's action to the target slot."""
    dst_of = {a.src: a for a in model.actions.values()}
    target_slot = {(t.slot_of, t.slot): t for t in targets}
    for key, info in sorted(slots.items()):
        name, rule = apply_rules(key, rules)
        if name is None and rule is not None:
            plan.dropped.append(Dropped(key, f"rule drop: {rule.label}"))
            continue
        primary = dst_of.get(info.variable or "")
        if primary is not None:
            action = _slot_action(source, key, info, primary, target_slot)
            if action is not None:
                plan.actions.append(action)
    filled = {a.dst for a in plan.actions}
    missing = [t for t in targets if t.key not in filled]
    if not slots:  # the source has no optimizer state: start the target's afresh
        _fill_from_target(missing, plan)
        return []
    offered: dict[str, list[str]] = {}
    for key, info in slots.items():
        primary = dst_of.get(info.variable or "")
        if primary is not None:
            offered.setdefault(primary.dst, []).append(f"{key} ({info.slot_name})")
    return [
        Unmatched(t.key, t.shape, tuple(sorted(offered.get(t.slot_of or "", ())))) for t in missing
    ]


def _slot_action(
    source: Any,
    key: str,
    info: OptimizerName,
    primary: Action,
    target_slot: dict[tuple[str | None, str | None], TargetVariable],
) -> Action | None:
    """The action writing TF1 slot ``key`` into the target slot of ``primary``'s variable."""
    slot = target_slot.get((primary.dst, info.slot_name))
    if slot is None and (primary.dst, "keras_momentum") in target_slot:
        raise UnsupportedFeatureError(
            f"{source.prefix}: slot {key!r} cannot map onto {primary.dst!r}: "
            + UNSUPPORTED_MEANINGS["keras_momentum"]
        )
    moved = replace(primary.transform, cast=None)
    if slot is None or slot.shape != transformed_shape(tuple(source.shape(key)), moved):
        return None
    cast = slot.dtype if source.dtype(key).tf_name != slot.dtype else None
    return Action(key, slot.key, replace(moved, cast=cast), rule=primary.rule, how="slot")


def _check_slots_known(spec: TargetSpec, slots: dict[str, Any], where: str) -> None:
    """Refuse to start an optimizer afresh when the source has slots for it."""
    if not slots:
        return
    for opt in spec.optimizers:
        if not opt.slots:
            raise UnsupportedFeatureError(
                f"{where} has optimizer slots ({min(slots)} ...) but the target optimizer "
                f"{opt.kind} has no slot variables this converter can map: build it first "
                "(Keras: optimizer.build(model.trainable_variables); tf.compat.v1: apply "
                "zero gradients once), or pass optimizer='drop'"
            )


def _plan_optimizer_vars(
    source: Any,
    spec: TargetSpec,
    by_role: dict[str, list[TargetVariable]],
    opt_names: dict[str, OptimizerName],
    plan: Plan,
) -> None:
    """Iterations from ``global_step`` (else ``beta1_power``); v1 non-slots by name."""
    non_slots = [k for k, v in opt_names.items() if v.kind == "non_slot"]
    keys = set(source.keys())
    pool = [
        Candidate(k, k, tuple(source.shape(k)), source.dtype(k).tf_name)
        for k in [*non_slots, *([GLOBAL_STEP] if GLOBAL_STEP in keys else [])]
        if k not in {a.src for a in plan.actions}
    ]
    found = align(pool, by_role[ROLE_OPTIMIZER])
    plan.actions.extend(found.actions.values())
    _fill_from_target([t for t in by_role[ROLE_OPTIMIZER] if t.key not in found.actions], plan)
    beta_1 = next((o.beta_1 for o in spec.optimizers if o.beta_1 is not None), None)
    beta_power = next((k for k in non_slots if k.rsplit("/", 1)[-1] == "beta1_power"), None)
    for var in by_role[ROLE_ITERATIONS]:
        if GLOBAL_STEP in keys:
            cast = var.dtype if source.dtype(GLOBAL_STEP).tf_name != var.dtype else None
            action = Action(GLOBAL_STEP, var.key, _IDENTITY, how="global_step")
            plan.actions.append(replace(action, transform=replace(_IDENTITY, cast=cast)))
        elif beta_power is not None and beta_1 is not None:
            steps = steps_from_beta_power(float(source.get_tensor(beta_power)), beta_1)
            plan.extra[var.key] = np.asarray(steps or 0, dtype=var.dtype)
        else:
            _fill_from_target([var], plan)


def _fill_from_target(variables: list[TargetVariable], plan: Plan) -> None:
    for var in variables:
        if var.key not in plan.extra and var.read is not None:
            plan.extra[var.key] = np.asarray(var.read())


def _drop_leftovers(
    keys: list[str],
    opt_names: dict[str, OptimizerName],
    optimizer: str,
    spec: TargetSpec,
    used: set[str],
    plan: Plan,
) -> None:
    dropped = {d.src for d in plan.dropped}
    for key in keys:
        if key in used or key in dropped:
            continue
        info = opt_names.get(key)
        if info is None and key != GLOBAL_STEP:
            reason = "no target variable"
        elif optimizer == "drop":
            reason = "optimizer state (optimizer='drop')"
        elif not spec.optimizers:
            reason = "optimizer state: the target has no optimizer"
        elif is_beta_power(key) or key == GLOBAL_STEP:
            reason = "folded into the target optimizer's iterations"
        elif info is not None and info.kind == "non_slot":
            reason = "optimizer hyperparameter: the target optimizer keeps its own"
        else:
            reason = "optimizer slot: no matching target slot"
        plan.dropped.append(Dropped(key, reason))


def _unmatched_message(unmatched: list[Unmatched], spec: TargetSpec, where: str) -> str:
    names = {v.key: v.names for v in spec.variables}
    lines = [f"{len(unmatched)} target variable(s) have no source tensor in {where}:"]
    for u in unmatched:
        known = ", ".join(names.get(u.dst, ())) or "-"
        hint = "; closest: " + ", ".join(u.candidates) if u.candidates else ""
        lines.append(f"  {u.dst} {list(u.shape)} (names: {known}){hint}")
    lines.append("Add rename rules, or pass partial=True to convert the rest.")
    return "\n".join(lines)
