"""``verify``: re-read a conversion's source and destination and compare every
value bit for bit, after the plan's transforms.

The plan comes from, in this order: the caller (``plan=``); the caller's
``rules`` (the plan they give); the plan record ``convert`` wrote beside the
destination (``DST.plan.json``, see ``converters.record``: this is how
target-model conversions, with their rules, reshapes and casts, are
verified); or it is derived again from the two checkpoints (structural
TF1 -> TF2 when the source is name-based and the destination object-based,
TF2 -> TF1 for the reverse, same names otherwise).
Every source tensor must be converted or dropped (with a reason) by the plan: one
the plan does neither with is reported as lost.
A derived plan meets optimizer state missing from the destination by
expecting the ``optimizer="drop"`` plan. A record written for an older
checkpoint at the same prefix (its index hash differs) is not trusted: the
plan is derived and the report says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from legacy_saver.bundle import CheckpointReader, load_checkpoint
from legacy_saver.bundle.naming import OBJECT_GRAPH_KEY
from legacy_saver.bundle.storage import storage_for

from .flatten import plan_identity, plan_tf2_to_tf1
from .object_graph import read_object_graph
from .plan import Plan
from .record import object_graph_sha256, read_plan_record
from .rules import Rule, apply_transform
from .structural import plan_structural

_OPTIMIZER_HOW = ("optimizer-slot", "optimizer-state")


@dataclass(frozen=True)
class Difference:
    src: str | None
    dst: str | None
    problem: str


@dataclass(frozen=True)
class VerifyReport:
    """``plan_from``: ``"given"``, ``"recorded"`` (``DST.plan.json``), ``"derived"``,
    or ``"derived (stale record)"``."""

    src: str
    dst: str
    compared: int
    differences: tuple[Difference, ...]
    plan_from: str = "derived"

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        head = (f"verify {self.src} -> {self.dst} (plan {self.plan_from}): "
                f"{self.compared} tensors compared, ")  # fmt: skip
        if self.ok:
            return head + "all equal"
        lines = [head + f"{len(self.differences)} differences"]
        lines += [f"  {d.src} -> {d.dst}: {d.problem}" for d in self.differences]
        if self.plan_from == "derived (rules given)":
            lines.append("  (the destination has a recorded plan: verify without rules uses it)")
        return "\n".join(lines)


def same_bits(a: np.ndarray, b: np.ndarray) -> str | None:
    """None when ``a`` and ``b`` are bitwise equal, else what differs."""
    if a.dtype != b.dtype:
        return f"dtype {b.dtype}, expected {a.dtype}"
    if a.shape != b.shape:
        return f"shape {list(b.shape)}, expected {list(a.shape)}"
    if a.dtype == object:
        equal = a.reshape(-1).tolist() == b.reshape(-1).tolist()
    else:
        equal = np.array_equal(np.ascontiguousarray(a).reshape(-1).view(np.uint8),
                               np.ascontiguousarray(b).reshape(-1).view(np.uint8))  # fmt: skip
    return None if equal else "values differ"


def derive_plan(src: CheckpointReader, dst: CheckpointReader, rules: list[Rule] | None) -> Plan:
    """The plan a conversion from ``src`` to ``dst`` followed (see module docstring)."""
    src_keys, dst_keys = src.keys(), set(dst.keys())
    if dst.is_object_based and not src.is_object_based:
        shapes = {k: src.shape(k) for k in src_keys}
        plan = plan_structural(shapes, rules=rules)
        if any(a.how in _OPTIMIZER_HOW and a.dst not in dst_keys for a in plan.actions):
            plan = plan_structural(shapes, rules=rules, optimizer="drop")
        return plan
    if src.is_object_based and not dst.is_object_based:
        graph = read_object_graph(src)
        plan = plan_tf2_to_tf1(graph, src_keys, rules=rules)
        if any(a.dst not in dst_keys for a in plan.actions):
            dropped = plan_tf2_to_tf1(graph, src_keys, rules=rules, optimizer="drop")
            if all(a.dst in dst_keys for a in dropped.actions):
                return dropped
        return plan
    return plan_identity(src_keys, rules=rules)


def verify(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], rules: list[Rule] | None = None,
    *, plan: Plan | None = None,
) -> VerifyReport:  # fmt: skip
    """Compare every value of ``dst`` with what ``src`` says it should be."""
    with load_checkpoint(src) as s, load_checkpoint(dst) as d:
        graph_hash: str | None = None
        plan_from = "given"
        if plan is None:
            record = read_plan_record(d.prefix, storage_for(dst)[0])
            if record is not None and not record.stale and rules is None:
                plan, graph_hash, plan_from = record.plan, record.object_graph_sha256, "recorded"
            else:
                plan = derive_plan(s, d, rules)
                plan_from = "derived"
                if record is not None:
                    plan_from += " (stale record)" if record.stale else " (rules given)"
        differences: list[Difference] = []
        dst_keys = set(d.keys())
        compared = 0
        for action in plan.actions:
            if action.dst not in dst_keys:
                differences.append(
                    Difference(action.src, action.dst, "missing from the destination")
                )
                continue
            expected = apply_transform(s.get_tensor(action.src), action.transform)
            problem = same_bits(expected, d.get_tensor(action.dst))
            compared += 1
            if problem:
                differences.append(Difference(action.src, action.dst, problem))
        differences += _check_rest(plan, d, dst_keys, graph_hash)
        differences += _check_coverage(plan, s.keys())
        return VerifyReport(s.prefix, d.prefix, compared, tuple(differences), plan_from)


def _check_coverage(plan: Plan, src_keys: list[str]) -> list[Difference]:
    """Every source tensor is either converted or dropped with a reason: one the plan
    does neither with was lost (a planner bug, or a record that does not describe this
    source)."""
    accounted = {a.src for a in plan.actions} | {d.src for d in plan.dropped}
    accounted.add(OBJECT_GRAPH_KEY)  # rebuilt (or left behind) by every planner
    return [
        Difference(key, None, "in the source but neither converted nor dropped by the plan")
        for key in sorted(set(src_keys) - accounted)
    ]


def _check_rest(
    plan: Plan, d: CheckpointReader, dst_keys: set[str], graph_hash: str | None = None
) -> list[Difference]:
    out = []
    planned = {a.dst for a in plan.actions} | set(plan.extra)
    if plan.object_graph is not None or graph_hash is not None:
        planned.add(OBJECT_GRAPH_KEY)
        if OBJECT_GRAPH_KEY in dst_keys:
            stored = bytes(d.get_tensor(OBJECT_GRAPH_KEY).item())
            same = (
                object_graph_sha256(stored) == graph_hash
                if graph_hash is not None
                else stored == plan.object_graph
            )
            if not same:
                out.append(
                    Difference(None, OBJECT_GRAPH_KEY, "object graph differs from the plan's")
                )
    for key in sorted(dst_keys - planned):
        out.append(Difference(None, key, "in the destination but not in the plan"))
    for key in sorted(planned - dst_keys - {a.dst for a in plan.actions}):
        out.append(Difference(None, key, "missing from the destination"))
    return out
