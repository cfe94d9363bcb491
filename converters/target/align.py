"""Pure matching of target variables to source tensors: names and shapes in.

Order of precedence, first hit wins for each target variable:

1. ``rule``: a rename rule turned the source name into one of the target's
   identity names (its ``full_name``/Keras ``v.path``, or its object path).
2. ``exact``: an unrenamed source name equals an identity name.
3. ``keras-path``: equal once the model's own name is taken off the front
   (``sequential/dense/kernel`` <-> ``dense/kernel``).
4. ``alias``: equal once ``weights``/``biases`` read as ``kernel``/``bias``.
5. ``ordinal``: equal once ``_N`` suffixes are taken off every component,
   paired in suffix order (``dense_2``, ``dense_3`` <-> ``dense``, ``dense_1``),
   only when both sides have the same number of such names.

Shapes must agree after the source's transform; a dtype difference adds a
cast. Each source tensor feeds at most one target variable.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..plan import Action, Transform, Unmatched
from .collect import TargetVariable

_ALIASES = {"weights": "kernel", "biases": "bias"}
_SUFFIX = re.compile(r"^(?P<base>.*?)(?:_(?P<n>\d+))?$")
MAX_CANDIDATES = 3


@dataclass(frozen=True)
class Candidate:
    """A source tensor as alignment sees it: its (renamed) name, its transform,
    and its shape and dtype *after* the transform's reshape/transpose."""

    src: str
    name: str
    shape: tuple[int, ...]
    dtype: str
    transform: Transform = Transform()
    rule: str | None = None


@dataclass
class Alignment:
    """Result of ``align``: actions per target key, what is left on each side."""

    actions: dict[str, Action]
    unmatched: list[Unmatched]
    unused: list[Candidate]


def align(candidates: Iterable[Candidate], targets: Iterable[TargetVariable]) -> Alignment:
    """Match every target variable to at most one candidate, by the stages above."""
    pool = list(candidates)
    todo = list(targets)
    actions: dict[str, Action] = {}
    stages: list[tuple[str, Callable[[str], str], Callable[[TargetVariable], list[str]]]] = [
        ("exact", _same, _names),
        ("keras-path", _same, _stripped),
        ("alias", _alias, lambda t: [_alias(n) for n in _names(t) + _stripped(t)]),
    ]
    for how, src_key, tgt_keys in stages:
        by_name: dict[str, list[Candidate]] = {}
        for cand in pool:
            by_name.setdefault(src_key(cand.name), []).append(cand)
        for target in list(todo):
            found = _first_fit(target, (c for k in tgt_keys(target) for c in by_name.get(k, ())))
            if found is not None:
                actions[target.key] = _action(found, target, how)
                pool.remove(found)
                by_name[src_key(found.name)].remove(found)
                todo.remove(target)
    for variant in (_names, _stripped):
        for target, found in _ordinal(todo, pool, variant):
            actions[target.key] = _action(found, target, "ordinal")
            pool.remove(found)
            todo.remove(target)
    unmatched = [Unmatched(t.key, t.shape, closest(t, pool)) for t in todo]
    return Alignment(actions, unmatched, pool)


def closest(target: TargetVariable, pool: Sequence[Candidate]) -> tuple[str, ...]:
    """The source names most like the target's identity name, with their shapes."""
    shapes = {c.name: c.shape for c in pool}
    hits: list[str] = []
    for name in [*_stripped(target), *_names(target)]:
        for hit in difflib.get_close_matches(name, list(shapes), n=MAX_CANDIDATES, cutoff=0.4):
            if hit not in hits:
                hits.append(hit)
    return tuple(f"{h} {list(shapes[h])}" for h in hits[:MAX_CANDIDATES])


def _first_fit(target: TargetVariable, found: Iterable[Candidate]) -> Candidate | None:
    ranked = sorted(found, key=lambda c: c.rule is None)  # rule-made names first
    for cand in ranked:
        if cand.shape == target.shape:
            return cand
    return None


def _action(cand: Candidate, target: TargetVariable, how: str) -> Action:
    transform = cand.transform
    if cand.dtype != target.dtype and transform.cast is None:
        transform = replace(transform, cast=target.dtype)
    if cand.rule is not None:
        how = "rule"
    return Action(cand.src, target.key, transform, rule=cand.rule, how=how)


def _same(name: str) -> str:
    return name


def _names(target: TargetVariable) -> list[str]:
    return [n.removesuffix(":0") for n in target.names]


def _stripped(target: TargetVariable) -> list[str]:
    return [n.split("/", 1)[1] for n in _names(target) if "/" in n]


def _alias(name: str) -> str:
    head, _, last = name.rpartition("/")
    last = _ALIASES.get(last, last)
    return f"{head}/{last}" if head else last


def _base_and_order(name: str) -> tuple[str, tuple[int, ...]]:
    parts = [_SUFFIX.match(p) for p in _alias(name).split("/")]
    base = "/".join(m["base"] if m else "" for m in parts)
    order = tuple(int(m["n"]) if m and m["n"] else 0 for m in parts)
    return base, order


def _ordinal(
    todo: list[TargetVariable],
    pool: list[Candidate],
    variant: Callable[[TargetVariable], list[str]],
) -> list[tuple[TargetVariable, Candidate]]:
    """Pair names equal up to ``_N`` suffixes, in suffix order, when counts agree."""
    targets: dict[str, list[tuple[tuple[int, ...], TargetVariable]]] = {}
    for target in todo:
        names = variant(target)
        if names:
            base, order = _base_and_order(names[0])
            targets.setdefault(base, []).append((order, target))
    sources: dict[str, list[tuple[tuple[int, ...], Candidate]]] = {}
    for cand in pool:
        base, order = _base_and_order(cand.name)
        sources.setdefault(base, []).append((order, cand))
    pairs: list[tuple[TargetVariable, Candidate]] = []
    for base, group in targets.items():
        mates = sources.get(base, [])
        if len(mates) != len(group):
            continue
        zipped = list(zip(_in_order(group), _in_order(mates), strict=True))
        if all(c.shape == t.shape for t, c in zipped):
            pairs.extend(zipped)
    return pairs


def _in_order(group: list[tuple[tuple[int, ...], Any]]) -> list[Any]:
    return [item for _, item in sorted(group, key=lambda pair: pair[0])]
