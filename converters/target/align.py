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

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from legacy_saver.bundle.suggest import Candidate as SuggestCandidate
from legacy_saver.bundle.suggest import Suggester

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
    """Match every target variable to at most one candidate, by the stages above.

    Linear in the number of names (each stage is one pass over dictionaries;
    nothing is removed from a list by value)."""
    pool: dict[int, Candidate] = dict(enumerate(candidates))
    todo: dict[int, TargetVariable] = dict(enumerate(targets))
    actions: dict[str, Action] = {}
    stages: list[tuple[str, Callable[[str], str], Callable[[TargetVariable], list[str]]]] = [
        ("exact", _same, _names),
        ("keras-path", _same, _stripped),
        ("alias", _alias, lambda t: [_alias(n) for n in _names(t) + _stripped(t)]),
    ]
    for how, src_key, tgt_keys in stages:
        by_name: dict[str, dict[int, Candidate]] = {}
        for i, cand in pool.items():
            by_name.setdefault(src_key(cand.name), {})[i] = cand
        for t, target in list(todo.items()):
            found = _first_fit(
                target, (ic for k in tgt_keys(target) for ic in by_name.get(k, {}).items())
            )
            if found is not None:
                i, cand = found
                actions[target.key] = _action(cand, target, how)
                del pool[i], todo[t]
                del by_name[src_key(cand.name)][i]
    for variant in (_names, _stripped):
        for (t, target), (i, mate) in _ordinal(todo, pool, variant):
            actions[target.key] = _action(mate, target, "ordinal")
            del pool[i], todo[t]
    left = list(pool.values())
    index = _Index(left)  # built once for every unmatched target
    unmatched = [Unmatched(t.key, t.shape, closest(t, index)) for t in todo.values()]
    return Alignment(actions, unmatched, left)


class _Index:
    """The unused candidates, indexed for ``closest``."""

    def __init__(self, pool: Sequence[Candidate]) -> None:
        self.suggester = Suggester(SuggestCandidate(c.name, c.shape, c.dtype) for c in pool)
        self.by_name = {c.name: c for c in pool}


def closest(target: TargetVariable, pool: _Index | Sequence[Candidate]) -> tuple[str, ...]:
    """The source names most like the target, each with its shape: ranked by shape
    (and dtype) first, then by name (``legacy_saver.bundle.suggest``), so a ``[64]``
    bias is offered ``[64]`` tensors, never ``global_step []``. A source of exactly
    the target's name but another shape takes the last place when it did not rank:
    it is usually the answer ("the target wants [16, 2], the source has [16, 1]")."""
    index = pool if isinstance(pool, _Index) else _Index(pool)
    names = [*_stripped(target), *_names(target)]
    ranked = sorted(
        (
            s
            for name in names[:2]
            for s in index.suggester.suggest(name, target.shape, target.dtype)
        ),
        key=lambda s: (s.fit, s.relation, -s.ratio, s.name),
    )
    hits = list(dict.fromkeys(f"{s.name} {list(s.shape or ())}" for s in ranked))
    hits = hits[:MAX_CANDIDATES]
    same = next((index.by_name[n] for n in names if n in index.by_name), None)
    if same is not None:
        text = f"{same.name} {list(same.shape)}"
        if text not in hits:
            hits = [*hits[: MAX_CANDIDATES - 1], text]
    return tuple(hits)


def _first_fit(
    target: TargetVariable, found: Iterable[tuple[int, Candidate]]
) -> tuple[int, Candidate] | None:
    ranked = sorted(found, key=lambda ic: ic[1].rule is None)  # rule-made names first
    for i, cand in ranked:
        if cand.shape == target.shape:
            return i, cand
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
    todo: dict[int, TargetVariable],
    pool: dict[int, Candidate],
    variant: Callable[[TargetVariable], list[str]],
) -> list[tuple[tuple[int, TargetVariable], tuple[int, Candidate]]]:
    """Pair names equal up to ``_N`` suffixes, in suffix order, when counts agree."""
    targets: dict[str, list[tuple[tuple[int, ...], tuple[int, TargetVariable]]]] = {}
    for t, target in todo.items():
        names = variant(target)
        if names:
            base, order = _base_and_order(names[0])
            targets.setdefault(base, []).append((order, (t, target)))
    sources: dict[str, list[tuple[tuple[int, ...], tuple[int, Candidate]]]] = {}
    for i, cand in pool.items():
        base, order = _base_and_order(cand.name)
        sources.setdefault(base, []).append((order, (i, cand)))
    pairs: list[tuple[tuple[int, TargetVariable], tuple[int, Candidate]]] = []
    for base, group in targets.items():
        mates = sources.get(base, [])
        if len(mates) != len(group):
            continue
        zipped = list(zip(_in_order(group), _in_order(mates), strict=True))
        if all(c[1].shape == t[1].shape for t, c in zipped):
            pairs.extend(zipped)
    return pairs


def _in_order(group: list[tuple[tuple[int, ...], Any]]) -> list[Any]:
    return [item for _, item in sorted(group, key=lambda pair: pair[0])]
