"""Planning a structural TF1 -> TF2 conversion (pure: names and shapes in).

Model variables keep their scopes as the object graph: TF1 ``a/b/c`` (after
the rename rules) becomes nodes ``a`` -> ``b`` -> ``c`` with key
``a/b/c/.ATTRIBUTES/VARIABLE_VALUE`` and ``full_name`` ``a/b/c``.

Optimizer state (``optimizer="keep"``) goes where ``tf.compat.v1`` optimizers
keep it in TF2 checkpoints: one optimizer node, ``optimizer`` (or
``optimizer_<Name>`` per optimizer when several trained the model, e.g.
``optimizer_Adagrad`` and ``optimizer_Ftrl``), holding non-slot variables
(``optimizer/beta1_power``) and referencing each slot under its TF2 slot name
(``<var>/.OPTIMIZER_SLOT/optimizer/m``); every slot keeps its TF1 name as
``full_name``. Slots follow their variable's rename and transform. With
``optimizer="drop"`` they are dropped and listed. ``global_step`` stays a
model variable.
"""

from __future__ import annotations

from collections.abc import Mapping

from legacy_saver.errors import CheckpointError

from .names import OptimizerName, classify_optimizer_names, slot_key, variable_key
from .object_graph import SlotSpec, VariableSpec, build_object_graph
from .plan import Action, Dropped, Plan, Transform
from .rules import Rule, apply_rules, transformed_shape

OPTIMIZER_NODE = "optimizer"
OPTIMIZER_MODES = ("keep", "drop")


def _optimizer_nodes(state: dict[str, OptimizerName], roots: set[str]) -> dict[str, str]:
    groups = sorted({info.group for info in state.values()})
    if len(groups) == 1:
        names = {groups[0]: OPTIMIZER_NODE}
    else:
        names = {g: f"{OPTIMIZER_NODE}_{g.replace('/', '_')}" for g in groups}
    for node in names.values():
        if node in roots:
            raise CheckpointError(f"a model scope is named {node!r}, like the optimizer node; "
                                  "rename it with a rule or pass optimizer='drop'")  # fmt: skip
    return names


def plan_structural(
    shapes: Mapping[str, tuple[int, ...]], *, rules: list[Rule] | None = None,
    optimizer: str = "keep",
) -> Plan:  # fmt: skip
    """The plan converting a name-based checkpoint whose tensors have
    ``shapes`` (name -> shape) into a scope-mirroring object-based one."""
    if optimizer not in OPTIMIZER_MODES:
        raise ValueError(f"optimizer must be one of {OPTIMIZER_MODES}, got {optimizer!r}")
    state = classify_optimizer_names(shapes)
    plan = Plan()
    variables: dict[str, tuple[str, Rule | None]] = {}  # source -> (destination name, rule)
    owner: dict[str, str] = {}
    for src in sorted(shapes):
        if src in state:
            continue
        dst, rule = apply_rules(src, rules)
        if dst is None:
            plan.dropped.append(Dropped(src, f"rule drop ({rule.label})"))  # type: ignore[union-attr]
            continue
        if dst in owner:
            raise CheckpointError(f"{owner[dst]!r} and {src!r} both map to {dst!r}")
        owner[dst] = src
        variables[src] = (dst, rule)
    specs = _plan_variables(plan, variables, shapes)
    slots = _plan_optimizer(plan, state, variables, shapes, rules, optimizer)
    roots = {dst.split("/", 1)[0] for dst, _ in variables.values()}
    if slots[0] or slots[1]:
        nodes = _optimizer_nodes({k: state[k] for k in slots[2]}, roots)
        specs += _place_optimizer(plan, state, slots, nodes, variables)
    slot_specs = [s for s in specs if isinstance(s, SlotSpec)]
    var_specs = [s for s in specs if isinstance(s, VariableSpec)]
    plan.object_graph = build_object_graph(var_specs, slot_specs)
    return plan


def _plan_variables(
    plan: Plan, variables: dict[str, tuple[str, Rule | None]], shapes: Mapping[str, tuple[int, ...]]
) -> list[VariableSpec | SlotSpec]:
    specs: list[VariableSpec | SlotSpec] = []
    for src, (dst, rule) in variables.items():
        transform = rule.transform if rule else Transform()
        transformed_shape(tuple(shapes[src]), transform, f"{src!r}: ")
        path = tuple(dst.split("/"))
        how = "rule" if rule else "exact"
        plan.actions.append(
            Action(src, variable_key(path), transform, rule.label if rule else None, how)
        )
        specs.append(VariableSpec(path, dst))
    return specs


def _plan_optimizer(
    plan: Plan, state: dict[str, OptimizerName], variables: dict[str, tuple[str, Rule | None]],
    shapes: Mapping[str, tuple[int, ...]], rules: list[Rule] | None, optimizer: str,
) -> tuple[list[str], list[str], list[str]]:  # fmt: skip
    """Sort optimizer state into (slots kept, non-slots kept, all kept)."""
    slots: list[str] = []
    non_slots: list[str] = []
    for src in sorted(state):
        info = state[src]
        own, rule = apply_rules(src, rules)
        if optimizer == "drop":
            plan.dropped.append(Dropped(src, "optimizer state (optimizer='drop')"))
        elif own is None and rule is not None:
            plan.dropped.append(Dropped(src, f"rule drop ({rule.label})"))
        elif info.kind == "slot" and info.variable not in variables:
            plan.dropped.append(
                Dropped(src, f"optimizer slot of dropped variable {info.variable!r}")
            )
        elif info.kind == "slot" and tuple(shapes[src]) != tuple(shapes[info.variable]):  # type: ignore[index]
            plan.dropped.append(Dropped(src, f"slot shape {list(shapes[src])} differs from its "
                                             f"variable's {list(shapes[info.variable])}"))  # type: ignore[index]  # fmt: skip
        else:
            (slots if info.kind == "slot" else non_slots).append(src)
    return slots, non_slots, slots + non_slots


def _place_optimizer(
    plan: Plan, state: dict[str, OptimizerName], slots: tuple[list[str], list[str], list[str]],
    nodes: dict[str, str], variables: dict[str, tuple[str, Rule | None]],
) -> list[VariableSpec | SlotSpec]:  # fmt: skip
    specs: list[VariableSpec | SlotSpec] = []
    for src in slots[0]:
        info = state[src]
        dst, rule = variables[info.variable]  # type: ignore[index]
        var_path, opt_path = tuple(dst.split("/")), (nodes[info.group],)
        transform = rule.transform if rule else Transform()
        key = slot_key(var_path, opt_path, info.slot_name)  # type: ignore[arg-type]
        plan.actions.append(
            Action(src, key, transform, rule.label if rule else None, "optimizer-slot")
        )
        specs.append(SlotSpec(var_path, opt_path, info.slot_name, src))  # type: ignore[arg-type]
    locals_seen: dict[tuple[str, str], int] = {}
    for src in slots[1]:
        key_ = (nodes[state[src].group], state[src].local or src)
        locals_seen[key_] = locals_seen.get(key_, 0) + 1
    for src in slots[1]:
        info = state[src]
        node = nodes[info.group]
        local = info.local if locals_seen[(node, info.local or src)] == 1 else src
        path = (node, *local.split("/"))  # type: ignore[union-attr]
        plan.actions.append(Action(src, variable_key(path), Transform(), None, "optimizer-state"))
        specs.append(VariableSpec(path, src))
    return specs
