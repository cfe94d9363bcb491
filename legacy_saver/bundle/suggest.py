"""Closest names: which entries a name that was not found most likely meant.

A restore error or a conversion plan that says "``block1_conv1/kernel`` is missing" helps
more when it adds "closest: ``vgg_16/conv1/conv1_1/weights`` [3, 3, 3, 64]". This module
ranks candidates (names with their shapes and dtypes) for a wanted ``(name, shape,
dtype)``. It is pure (names and shapes in, a ranked list out) and never imports TensorFlow;
``legacy_saver.saver.checks`` (restore errors) and ``converters`` (unmatched targets) call it.

Ranking, best first:

1. **Fit**: the same shape and dtype; then shape unknown on either side; then the same shape
   with another dtype; then another shape. A candidate of another shape or dtype is offered
   only when its name is related (below) or very close (``difflib`` ratio >= ``STRONG_RATIO``),
   one of unknown shape when its name is close (ratio >= ``CLOSE_RATIO``): a ``[64]`` bias is
   never offered ``global_step []``.
2. **Relation of the names**, inside each fit: the same name under another scope
   (``model/dense/kernel`` for ``dense/kernel``, or the reverse); the same up to ``_N``
   suffixes of its components (``dense_1/kernel``); then ``difflib`` similarity.
3. One exception: when a related name (1.'s first two kinds) exists but did not make the
   list on fit alone, it takes the last place. The same name elsewhere with another shape is
   usually the answer ("the graph expects [4, 3], the checkpoint has [3, 4]").

Work is bounded, so 100,000 candidates stay fast (``bench/bench_suggest.py``): lookups of
related names are dictionary hits, and ``difflib`` (tens of microseconds a pair) only runs on
at most ``MAX_FUZZY`` candidates per query, chosen by the rarer words the names share.
"""

from __future__ import annotations

import difflib
import enum
import heapq
import math
import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "CLOSE_RATIO",
    "MAX_FUZZY",
    "MAX_SUGGESTIONS",
    "STRONG_RATIO",
    "Candidate",
    "Fit",
    "Relation",
    "Suggester",
    "Suggestion",
    "describe",
    "suggest",
]

MAX_SUGGESTIONS = 3
MAX_FUZZY = 32  # difflib comparisons per query (each costs ~10-100 us)
MAX_RELATED = 512  # related names looked at per list (a suffix like "kernel" may have many)
CLOSE_RATIO = 0.6  # difflib ratio that makes a name "close" (difflib's own default cutoff)
STRONG_RATIO = 0.8  # ... close enough to show although its shape or dtype differs
COMMON_WORD_SHARE = 0.05  # words in more than this share of the names do not select
MIN_COMMON_WORD_COUNT = 256  # ... unless there are fewer than this many names with them

Shape = tuple[int | None, ...]
_NUMBER_SUFFIX = re.compile(r"_\d+(?=/|$)")
_WORD = re.compile(r"[a-z]+|\d+")


class Fit(enum.IntEnum):
    """How a candidate's shape and dtype fit the wanted ones (lower is better)."""

    SAME = 0  # same shape (unknown dims agree with anything) and same or unknown dtype
    UNKNOWN = 1  # the wanted or the candidate's shape is unknown
    OTHER_DTYPE = 2  # same shape, another dtype
    OTHER_SHAPE = 3


class Relation(enum.IntEnum):
    """How a candidate's name relates to the wanted one (lower is closer)."""

    SCOPE = 0  # the same name under another scope, or the same name with a scope less
    NUMBER = 1  # the same up to ``_N`` suffixes (and scopes)
    SIMILAR = 2  # difflib ratio >= CLOSE_RATIO
    NONE = 3


@dataclass(frozen=True)
class Candidate:
    """A name that may be offered, with its shape and dtype (None: unknown).

    ``dtype`` is any hashable the caller uses consistently (a ``DType``, its name, a
    ``DataType`` number): only equality is used.
    """

    name: str
    shape: Shape | None = None
    dtype: Hashable | None = None


@dataclass(frozen=True)
class Suggestion:
    """One offered name and why it ranked where it did."""

    name: str
    shape: Shape | None
    dtype: Hashable | None
    fit: Fit
    relation: Relation
    ratio: float  # difflib ratio of the two names, 0.0 if not computed

    def __str__(self) -> str:
        return describe(self.name, self.shape)


def describe(name: str, shape: Shape | None) -> str:
    """``'vgg_16/conv1/conv1_1/weights' [3, 3, 3, 64]`` (the name alone if no shape)."""
    if shape is None:
        return repr(name)
    return f"{name!r} [{', '.join('?' if d is None else str(d) for d in shape)}]"


def suggest(
    name: str,
    shape: Shape | None,
    dtype: Hashable | None,
    candidates: Iterable[Candidate | str],
    *,
    limit: int = MAX_SUGGESTIONS,
) -> list[Suggestion]:
    """The closest ``candidates`` to ``(name, shape, dtype)``, best first (at most ``limit``).

    For many queries against the same candidates, build a ``Suggester`` once.
    """
    return Suggester(candidates).suggest(name, shape, dtype, limit=limit)


def _stem(name: str) -> str:
    return _NUMBER_SUFFIX.sub("", name)


def _suffixes(name: str) -> list[str]:
    """``a/b/c`` -> ``["b/c", "c"]`` (every proper component suffix)."""
    found = []
    at = name.find("/")
    while at >= 0:
        found.append(name[at + 1 :])
        at = name.find("/", at + 1)
    return found


class Suggester:
    """Candidates indexed once, queried many times (``suggest``)."""

    def __init__(self, candidates: Iterable[Candidate | str]) -> None:
        unique: dict[str, Candidate] = {}
        for c in candidates:
            cand = Candidate(c) if isinstance(c, str) else c
            unique.setdefault(cand.name, cand)
        self.candidates: list[Candidate] = [unique[n] for n in sorted(unique)]
        self._ids = {c.name: i for i, c in enumerate(self.candidates)}
        self._by_fit: dict[tuple[Shape, Hashable | None], list[int]] = {}
        self._by_shape: dict[Shape, list[int]] = {}
        self._by_suffix: dict[str, list[int]] = {}  # proper suffix of a name -> ids
        self._by_stem: dict[str, list[int]] = {}  # stem of a numbered name -> ids
        self._by_stem_suffix: dict[str, list[int]] = {}  # proper suffix of such a stem -> ids
        for i, c in enumerate(self.candidates):
            shape = c.shape
            if shape is not None and None not in shape:
                self._by_fit.setdefault((shape, c.dtype), []).append(i)
                self._by_shape.setdefault(shape, []).append(i)
            for suffix in _suffixes(c.name):
                self._by_suffix.setdefault(suffix, []).append(i)
            stem = _stem(c.name)
            if stem != c.name:
                self._by_stem.setdefault(stem, []).append(i)
                for suffix in _suffixes(stem):
                    self._by_stem_suffix.setdefault(suffix, []).append(i)
        self._words: dict[str, list[int]] | None = None  # built on the first fuzzy query

    # -- the query ----------------------------------------------------------------------

    def suggest(
        self,
        name: str,
        shape: Shape | None = None,
        dtype: Hashable | None = None,
        *,
        limit: int = MAX_SUGGESTIONS,
    ) -> list[Suggestion]:
        """Up to ``limit`` candidates for ``(name, shape, dtype)``, best first (never ``name``)."""
        if limit <= 0 or not self.candidates:
            return []
        shape = None if shape is None else tuple(shape)
        own = self._ids.get(name, -1)
        related = self._related(name)
        related.pop(own, None)
        others = set(self._same_fit(name, shape, dtype, limit))
        fitting = sum(1 for i in (*related, *others) if _fit(shape, dtype, self.candidates[i]) == 0)
        if fitting < limit:  # look for close names of any shape too
            others.update(self._fuzzy(self._words_of(name), range(len(self.candidates))))
        others.difference_update(related)
        others.discard(own)
        ranked: list[tuple[tuple[int, int, float, str], int, Relation, float]] = []
        for i, relation in related.items():  # closeness: the length difference (cheap)
            other = self.candidates[i].name
            closeness = 1.0 / (1 + abs(len(other) - len(name)))
            fit = _fit(shape, dtype, self.candidates[i])
            ranked.append(((fit, relation, -closeness, other), i, relation, -1.0))
        for i in others:
            other = self.candidates[i].name
            ratio = difflib.SequenceMatcher(None, name, other).ratio()
            relation = Relation.SIMILAR if ratio >= CLOSE_RATIO else Relation.NONE
            fit = _fit(shape, dtype, self.candidates[i])
            if fit is not Fit.SAME and (
                relation is Relation.NONE or (fit is not Fit.UNKNOWN and ratio < STRONG_RATIO)
            ):
                continue  # a name that does not fit must be close to be worth showing
            ranked.append(((fit, relation, -ratio, other), i, relation, ratio))
        ranked.sort(key=lambda r: r[0])
        chosen = ranked[:limit]
        if ranked and not any(r[2] <= Relation.NUMBER for r in chosen):
            closest = [r for r in ranked if r[2] <= Relation.NUMBER]
            if closest:
                chosen = [*chosen[: limit - 1], closest[0]]
        return [self._suggestion(name, i, rel, ratio, key[0]) for key, i, rel, ratio in chosen]

    def _suggestion(self, name: str, i: int, rel: Relation, ratio: float, fit: int) -> Suggestion:
        cand = self.candidates[i]
        if ratio < 0:
            ratio = difflib.SequenceMatcher(None, name, cand.name).ratio()
        return Suggestion(cand.name, cand.shape, cand.dtype, Fit(fit), rel, ratio)

    def _related(self, name: str) -> dict[int, Relation]:
        """Candidates with the same name under more or fewer scopes (``SCOPE``), or the same
        up to ``_N`` suffixes, under more or fewer scopes too (``NUMBER``)."""
        hits: dict[int, Relation] = {}
        scoped = self._by_suffix.get(name, [])[:MAX_RELATED]  # the candidate has more scopes
        scoped += [self._ids[s] for s in _suffixes(name) if s in self._ids]  # fewer
        for i in scoped:
            hits[i] = Relation.SCOPE
        stem = _stem(name)
        numbered = [self._by_stem.get(stem, []), self._by_stem_suffix.get(stem, [])]
        numbered += [self._by_suffix.get(stem, [])]  # "model/dense/kernel" for "dense_1/kernel"
        for s in [stem, *_suffixes(stem)]:
            numbered.append(self._by_stem.get(s, []))
            numbered.append([self._ids[s]] if s in self._ids else [])
        for ids in numbered:
            for i in ids[:MAX_RELATED]:
                hits.setdefault(i, Relation.NUMBER)
        return hits

    def _same_fit(
        self, name: str, shape: Shape | None, dtype: Hashable | None, limit: int
    ) -> list[int]:
        """The best-named candidates of exactly this shape and a fitting dtype."""
        if shape is None or None in shape:
            return []
        if dtype is None:
            bucket = self._by_shape.get(shape, [])
        else:
            bucket = self._by_fit.get((shape, dtype), []) + self._by_fit.get((shape, None), [])
        if len(bucket) <= MAX_FUZZY:
            return bucket
        chosen = self._fuzzy(self._words_of(name), bucket)
        return chosen or bucket[:limit]

    # -- bounded fuzzy matching ------------------------------------------------------

    def _words_of(self, name: str) -> list[str]:
        return _WORD.findall(name.lower())

    def _word_index(self) -> dict[str, list[int]]:
        if self._words is None:
            words: dict[str, list[int]] = {}
            for i, c in enumerate(self.candidates):
                for word in set(_WORD.findall(c.name.lower())):
                    words.setdefault(word, []).append(i)
            self._words = words
        return self._words

    def _fuzzy(self, words: Sequence[str], among: Sequence[int]) -> list[int]:
        """At most ``MAX_FUZZY`` ids of ``among`` sharing the rarest of ``words``.

        When ``among`` is small it is returned whole. Words found in many names ("kernel",
        "1") are skipped: they select nothing and cost the most.
        """
        if len(among) <= MAX_FUZZY:
            return list(among)
        index = self._word_index()
        total = len(self.candidates)
        common = max(MIN_COMMON_WORD_COUNT, int(total * COMMON_WORD_SHARE))
        wanted = None if len(among) == total else set(among)
        scores: dict[int, float] = {}
        for word in set(words):
            ids = index.get(word, [])
            if not ids or len(ids) > common:
                continue
            weight = math.log(total / len(ids)) + 1.0
            for i in ids:
                if wanted is None or i in wanted:
                    scores[i] = scores.get(i, 0.0) + weight
        return heapq.nlargest(MAX_FUZZY, scores, key=lambda i: (scores[i], -i))


def _fit(shape: Shape | None, dtype: Hashable | None, cand: Candidate) -> Fit:
    if shape is None or cand.shape is None:
        return Fit.UNKNOWN
    if len(shape) != len(cand.shape) or any(
        a is not None and b is not None and a != b for a, b in zip(shape, cand.shape, strict=True)
    ):
        return Fit.OTHER_SHAPE
    if dtype is not None and cand.dtype is not None and dtype != cand.dtype:
        return Fit.OTHER_DTYPE
    return Fit.SAME
