"""Synthetic inputs of any size for the planners (tests/test_convert_scaling.py and
bench/bench_planners.py): names and shapes only, no files."""

from __future__ import annotations

from converters.plan import Transform
from converters.structural import plan_structural
from converters.target.align import Candidate
from converters.target.collect import TargetVariable
from legacy_saver.bundle.protos import TrackableObjectGraph


def tf1_shapes(n: int) -> dict[str, tuple[int, ...]]:
    """``n`` variables in nested scopes, each with two Adam slots, plus beta powers."""
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(n):
        name = f"tower_{i % 7}/block_{i // 100}/layer_{i}/kernel"
        shapes[name] = (3, i % 5 + 1)
        shapes[name + "/Adam"] = (3, i % 5 + 1)
        shapes[name + "/Adam_1"] = (3, i % 5 + 1)
    shapes["beta1_power"] = ()
    shapes["beta2_power"] = ()
    shapes["global_step"] = ()
    return shapes


def tf2_graph_and_keys(n: int) -> tuple[object, list[str]]:
    """The object graph and keys of the structural conversion of ``tf1_shapes(n)``."""
    plan = plan_structural(tf1_shapes(n))
    graph = TrackableObjectGraph()
    graph.ParseFromString(plan.object_graph)
    return graph, [a.dst for a in plan.actions]


def alignment_inputs(n: int) -> tuple[list[Candidate], list[TargetVariable]]:
    """``n`` sources and ``n`` targets: a quarter exact, a quarter behind the model's
    name, a quarter ``weights``/``biases`` aliases, a quarter ``_N``-numbered."""
    sources: list[Candidate] = []
    targets: list[TargetVariable] = []
    for i in range(n):
        shape = (i % 9 + 1, 4)
        kind = i % 4
        if kind == 0:
            src, names = f"conv_{i}/kernel", (f"conv_{i}/kernel",)
        elif kind == 1:
            src, names = f"dense_{i}/kernel", (f"model/dense_{i}/kernel",)
        elif kind == 2:
            src, names = f"fc_{i}/weights", (f"net/fc_{i}/kernel",)
        else:
            src, names = f"block/unit_{i}/bias", (f"block/unit_{i + 1}/bias",)
        sources.append(Candidate(src, src, shape, "float32", Transform()))
        targets.append(TargetVariable(f"t{i}/.ATTRIBUTES/VARIABLE_VALUE", shape, "float32", names))
    return sources, targets
