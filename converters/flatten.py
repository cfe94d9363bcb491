"""Planning a TF2 object-based -> TF1 name-based conversion (pure).

Each saved value gets the name TF1 would give it: its ``full_name`` (the name
TF itself falls back to), or, where that is absent or shared, its object path
(``model/dense/kernel``; other attributes than ``VARIABLE_VALUE`` become
``path/NAME``). Optimizer slots whose ``full_name`` is absent or shared become
``<variable's TF1 name>/<TF1 slot suffix>`` (``m`` -> ``Adam``, ``v`` ->
``Adam_1``, ...). Rename rules then apply to those names. Two values that would
land on one name are an error, never a silent overwrite.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from legacy_saver.bundle.naming import OBJECT_GRAPH_KEY
from legacy_saver.errors import CheckpointError

from .names import ATTRIBUTES, VARIABLE_VALUE, tf1_slot_suffix
from .object_graph import SavedAttribute, parse_object_graph
from .plan import Action, Dropped, Plan, Transform
from .rules import Rule, apply_rules


def _default_name(attr: SavedAttribute) -> str:
    if attr.name == VARIABLE_VALUE:
        return attr.key.removesuffix(f"/{ATTRIBUTES}/{VARIABLE_VALUE}")
    return attr.key.replace(f"/{ATTRIBUTES}/", "/")


def tf1_names(attrs: list[SavedAttribute]) -> dict[str, tuple[str, str]]:
    """checkpoint key -> (TF1 name, how it was found) before rules."""
    counts = Counter(a.full_name for a in attrs if a.full_name)
    names: dict[str, tuple[str, str]] = {}
    for a in attrs:
        if a.slot_of is None:
            unique = a.full_name and counts[a.full_name] == 1 and a.name == VARIABLE_VALUE
            names[a.key] = (
                (a.full_name, "full_name") if unique else (_default_name(a), "object-path")
            )
    siblings: dict[str, list[str]] = defaultdict(list)
    for a in attrs:
        if a.slot_of is not None:
            siblings[a.slot_of].append(a.slot_name or "")
    for a in attrs:
        if a.slot_of is None:
            continue
        if a.full_name and counts[a.full_name] == 1:
            names[a.key] = (a.full_name, "full_name")
            continue
        base = names.get(a.slot_of, (_default_name(a), ""))[0]
        suffix = tf1_slot_suffix(a.slot_name or "", siblings[a.slot_of])
        names[a.key] = (f"{base}/{suffix}", "optimizer-slot")
    return names


def plan_tf2_to_tf1(
    graph: object, keys: list[str], *, rules: list[Rule] | None = None, optimizer: str = "keep"
) -> Plan:
    """The plan flattening the object-based checkpoint with object graph
    ``graph`` (a ``TrackableObjectGraph``) and stored ``keys``."""
    if optimizer not in ("keep", "drop"):
        raise ValueError(f"optimizer must be 'keep' or 'drop', got {optimizer!r}")
    stored = set(keys)
    attrs = [a for a in parse_object_graph(graph) if a.key in stored]
    named = tf1_names(attrs)
    plan = Plan()
    owner: dict[str, str] = {}
    by_key = {a.key: a for a in attrs}
    for key in sorted(keys):
        if key == OBJECT_GRAPH_KEY:
            continue
        if key not in by_key:
            plan.dropped.append(Dropped(key, "not in the object graph"))
            continue
        if optimizer == "drop" and by_key[key].in_optimizer:
            plan.dropped.append(Dropped(key, "optimizer state (optimizer='drop')"))
            continue
        base, how = named[key]
        dst, rule = apply_rules(base, rules)
        if dst is None:
            plan.dropped.append(Dropped(key, f"rule drop ({rule.label})"))  # type: ignore[union-attr]
            continue
        if dst in owner:
            raise CheckpointError(
                f"{owner[dst]!r} and {key!r} would both be saved as {dst!r}; "
                "add a rule to rename one"
            )
        owner[dst] = key
        transform = rule.transform if rule else Transform()
        plan.actions.append(
            Action(key, dst, transform, rule.label if rule else None, "rule" if rule else how)
        )
    return plan


def plan_identity(keys: list[str], *, rules: list[Rule] | None = None) -> Plan:
    """Same names (after ``rules``) and values: V1 -> V2 and name -> name."""
    plan = Plan()
    owner: dict[str, str] = {}
    for key in sorted(keys):
        dst, rule = apply_rules(key, rules)
        if dst is None:
            plan.dropped.append(Dropped(key, f"rule drop ({rule.label})"))  # type: ignore[union-attr]
            continue
        if dst in owner:
            raise CheckpointError(f"{owner[dst]!r} and {key!r} both map to {dst!r}")
        owner[dst] = key
        transform = rule.transform if rule else Transform()
        plan.actions.append(
            Action(key, dst, transform, rule.label if rule else None, "rule" if rule else "exact")
        )
    return plan
