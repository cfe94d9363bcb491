"""Rename rules: an ordered list of regex rewrites over source tensor names,
plus pairings by order, fill values and exact renames (a ``RuleSet``).

The first rule whose ``match`` regex is found in a name decides that name's
fate: it is dropped (``drop = true``), or renamed by ``re.sub(match, to, name,
count=1)`` (so ``to`` may use ``\\1`` / ``\\g<name>``; anchor the regex with
``^...$`` to replace the whole name; no ``to`` keeps the name), and its value
may be sliced, transposed, reshaped and cast, in that order
(``converters.transforms``). A rules file is TOML::

    [[rule]]
    match = '^vgg_16/fc6/weights$'
    to = 'fc1/kernel'
    reshape = [25088, 4096]

    [[rule]]
    match = '/Momentum$'
    drop = true

    [[pair]]                       # source scopes <-> target layers, by order
    source = 'InceptionV3/(Conv2d|Mixed)_\\w+(/Branch_\\d)?/Conv2d_\\w+'
    target_class = "Conv2D"
    variables = { weights = "kernel" }

    [[fill]]                       # target variables the source lacks
    target = '_bn/gamma$'
    value = 1.0

Regexes (``match``, ``source``, ``target_name``, fill ``target``) are matched by
RE2 (``converters.safe_regex``): in linear time, so no pattern can hang a
conversion; lookarounds and backreferences are refused when the rules load.

``[[pair]]`` and ``[[fill]]`` need the target model's layers and variables;
``converters.pairing`` resolves them into exact renames. Everything here is
pure: names and shapes in, names, shapes and values out.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .plan import Transform
from .safe_regex import PatternError, SafeRegex
from .transforms import (
    RuleError,
    apply_transform,
    dtype_named,
    parse_slice,
    transformed_shape,
)

__all__ = [
    "Fill",
    "Pairing",
    "Rule",
    "RuleError",
    "RuleSet",
    "apply_rules",
    "apply_transform",
    "dtype_named",
    "load_rules",
    "transformed_shape",
]

_RULE_KEYS = {"match", "to", "transpose", "reshape", "cast", "drop", "name", "slice"}
_PAIR_KEYS = {"name", "source", "order", "target_class", "target_name", "target_order",
              "variables"}  # fmt: skip
_FILL_KEYS = {"name", "target", "value", "why"}
TARGET_ORDERS = ("created", "model")
MAX_FILL_VALUE_ABS = 1e30


@dataclass(frozen=True)
class Rule:
    """One rewrite. See the module docstring for the semantics."""

    match: str
    to: str | None = None
    transpose: tuple[int, ...] | None = None
    reshape: tuple[int, ...] | None = None
    cast: str | None = None
    drop: bool = False
    name: str | None = None  # a label for reports; defaults to the regex
    slice: str | None = None  # numpy basic indexing as text: "..., 1:"
    _regex: SafeRegex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:  # RE2: linear-time matching, so no rule can hang a conversion (#13.9)
            object.__setattr__(self, "_regex", SafeRegex(self.match))
        except PatternError as exc:
            raise RuleError(f"match {self.match!r} {exc}") from None
        if self.to is not None:
            try:
                self._regex.check_template(self.to)
            except PatternError as exc:
                raise RuleError(f"rule {self.label!r}: to {self.to!r}: {exc}") from None
        for attr in ("transpose", "reshape"):
            value = getattr(self, attr)
            if value is not None:
                object.__setattr__(self, attr, tuple(int(v) for v in value))
        if self.reshape is not None and any(d < 0 for d in self.reshape):
            raise RuleError(
                f"rule {self.label!r}: reshape {list(self.reshape)} has a negative dimension "
                "(every dimension is spelled out; there is no -1)"
            )
        if self.transpose is not None and sorted(self.transpose) != list(
            range(len(self.transpose))
        ):
            raise RuleError(f"transpose {list(self.transpose)} is not a permutation of axes")
        if self.cast is not None:
            dtype_named(self.cast)
        if self.slice is not None:
            parse_slice(self.slice)
        if self.drop and (self.to or self.transpose or self.reshape or self.cast or self.slice):
            raise RuleError(
                f"rule {self.label!r}: drop = true excludes to/transpose/reshape/cast/slice"
            )

    @property
    def label(self) -> str:
        return self.name or self.match

    @property
    def transform(self) -> Transform:
        return Transform(self.transpose, self.reshape, self.cast, self.slice)

    def rename(self, name: str) -> str | None:
        """The new name if this rule matches ``name`` (``name`` itself when it
        has no ``to``), else None."""
        m = self._regex.search(name)
        if m is None:
            return None
        if self.to is None:
            return name
        try:
            return self._regex.sub(self.to, name, count=1)
        except PatternError as exc:  # check_template refused these already; defence in depth
            raise RuleError(f"rule {self.label!r} on {name!r}: {exc}") from None


def exact_rule(
    src: str, to: str | None, transform: Transform | None = None, name: str | None = None
) -> Rule:
    """A rule for exactly one source name (``to=None`` drops it)."""
    transform = transform or Transform()
    return Rule(
        match=f"^{re.escape(src)}$", to=None if to is None else to.replace("\\", "\\\\"),
        transpose=transform.transpose, reshape=transform.reshape, cast=transform.cast,
        slice=transform.slice, drop=to is None, name=name,
    )  # fmt: skip


@dataclass(frozen=True)
class Pairing:
    """Pair source scopes with target layers of one class, by order.

    The source scopes are the names ``S`` for which a key ``S/<suffix>`` exists
    for some suffix in ``variables`` and ``source`` matches all of ``S``; they
    are ordered by name (``order = "name"``), by name with numbers compared as
    numbers (``"natural"``: ``block35_2`` before ``block35_10``), or in groups:
    ``order`` a list of regexes, each scope in the group of the first regex
    that matches its start, natural order within a group. The
    target layers are those of class ``target_class`` (and, if given, whose
    name matches all of ``target_name``), in creation order (``"created"``:
    Keras's per-class name counter, ``conv2d``, ``conv2d_1``, ...) or in the
    model's layer order (``"model"``). Both lists must be equally long; the
    i-th scope's ``S/<suffix>`` becomes the i-th layer's
    ``<layer name>/<variables[suffix]>``.
    """

    source: str
    target_class: str
    variables: Mapping[str, str]
    order: str | tuple[str, ...] = "name"
    target_name: str | None = None
    target_order: str = "created"
    name: str | None = None

    def __post_init__(self) -> None:
        for attr in ("source", "target_name"):
            value = getattr(self, attr)
            if value is not None:
                try:
                    SafeRegex(value)
                except PatternError as exc:
                    raise RuleError(f"pair {self.label!r}: {attr} {value!r} {exc}") from None
        if not self.variables:
            raise RuleError(f"pair {self.label!r}: 'variables' is empty")
        object.__setattr__(self, "variables", dict(self.variables))
        if not isinstance(self.order, str):
            object.__setattr__(self, "order", tuple(self.order))
            for pattern in self.order:
                try:
                    SafeRegex(pattern)
                except PatternError as exc:
                    raise RuleError(f"pair {self.label!r}: order regex {pattern!r} {exc}") from None
        elif self.order not in ("name", "natural"):
            raise RuleError(f"pair {self.label!r}: order must be \"name\", \"natural\" or a "
                            f"list of regexes, got {self.order!r}")  # fmt: skip
        if self.target_order not in TARGET_ORDERS:
            raise RuleError(f"pair {self.label!r}: target_order must be one of "
                            f"{list(TARGET_ORDERS)}, got {self.target_order!r}")  # fmt: skip

    @property
    def label(self) -> str:
        return self.name or f"{self.source} <-> {self.target_class}"


@dataclass(frozen=True)
class Fill:
    """Write ``value`` into target variables whose identity name matches
    ``target`` (searched) and that no source tensor feeds. Only where the
    maths is unchanged: a batch-norm ``gamma`` of 1 where the source had
    ``scale=False``, a zero bias where it had none; ``why`` says which."""

    target: str
    value: float
    name: str | None = None
    why: str | None = None
    _regex: SafeRegex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_regex", SafeRegex(self.target))
        except PatternError as exc:
            raise RuleError(f"fill {self.label!r}: target {self.target!r} {exc}") from None
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise RuleError(f"fill {self.label!r}: value must be a number, got {self.value!r}")
        if not math.isfinite(self.value) or abs(self.value) > MAX_FILL_VALUE_ABS:
            raise RuleError(f"fill {self.label!r}: value {self.value!r} is not a finite number")

    @property
    def label(self) -> str:
        return self.name or self.target

    def matches(self, name: str) -> bool:
        return self._regex.search(name) is not None


class RuleSet(list[Rule]):
    """Rules in order (a ``list``), plus ``pairs``, ``fills`` and ``exact``:
    per-name renames resolved from pairs or EMA shadows, tried before the list.
    Looking a name up in ``exact`` is a dict lookup, so resolving thousands of
    names stays linear."""

    def __init__(
        self,
        rules: Iterable[Rule] = (),
        *,
        pairs: Iterable[Pairing] = (),
        fills: Iterable[Fill] = (),
        exact: Mapping[str, Rule] | None = None,
    ) -> None:
        super().__init__(rules)
        self.pairs: tuple[Pairing, ...] = tuple(pairs)
        self.fills: tuple[Fill, ...] = tuple(fills)
        self.exact: dict[str, Rule] = dict(exact or {})

    def with_exact(self, exact: Mapping[str, Rule]) -> RuleSet:
        """A copy whose ``exact`` renames are ``exact`` (then this set's own)."""
        return RuleSet(self, pairs=self.pairs, fills=self.fills, exact={**self.exact, **exact})

    def __add__(self, other: Iterable[Rule]) -> RuleSet:  # type: ignore[override]
        extra = other if isinstance(other, RuleSet) else RuleSet(other)
        return RuleSet(
            [*self, *extra],
            pairs=self.pairs + extra.pairs,
            fills=self.fills + extra.fills,
            exact={**extra.exact, **self.exact},
        )


def apply_rules(
    name: str, rules: list[Rule] | tuple[Rule, ...] | None
) -> tuple[str | None, Rule | None]:
    """``(new_name, rule)`` for the first matching rule; ``(None, rule)`` when it
    drops the name; ``(name, None)`` when no rule matches. A ``RuleSet``'s
    exact renames come first."""
    if isinstance(rules, RuleSet) and name in rules.exact:
        rule = rules.exact[name]
        return (None if rule.drop else rule.rename(name)), rule
    for rule in rules or ():
        new = rule.rename(name)
        if new is not None:
            return (None if rule.drop else new), rule
    return name, None


def load_rules(path: str | os.PathLike[str]) -> RuleSet:
    """Read ``[[rule]]``, ``[[pair]]`` and ``[[fill]]`` tables from the TOML file
    at ``path`` (a ``RuleSet``: a list of the rules, with ``pairs`` and ``fills``)."""
    where = os.fspath(path)
    try:
        with open(where, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{where} is not valid TOML: {exc}") from None
    extra = set(doc) - {"rule", "pair", "fill"}
    if extra:
        raise RuleError(f"{where}: unknown top-level keys {sorted(extra)} "
                        "(expected [[rule]], [[pair]] or [[fill]] tables)")  # fmt: skip
    tables = {kind: doc.get(kind, []) for kind in ("rule", "pair", "fill")}
    for kind, found in tables.items():
        if not isinstance(found, list) or not all(isinstance(t, dict) for t in found):
            raise RuleError(f"{where} has no [[{kind}]] tables ({kind!r} is not an array of "
                            f"tables: write [[{kind}]], not [{kind}])")  # fmt: skip
    if not any(tables.values()):
        raise RuleError(f"{where} has no [[rule]], [[pair]] or [[fill]] tables")
    rules = [_rule_from_table(t, f"{where}: rule {i}") for i, t in enumerate(tables["rule"], 1)]
    pairs = [_pair_from_table(t, f"{where}: pair {i}") for i, t in enumerate(tables["pair"], 1)]
    fills = [_fill_from_table(t, f"{where}: fill {i}") for i, t in enumerate(tables["fill"], 1)]
    return RuleSet(rules, pairs=pairs, fills=fills)


def _check_types(table: dict[str, Any], allowed: set[str], types: dict[str, Any],
                 where: str) -> None:  # fmt: skip
    unknown = set(table) - allowed
    if unknown:
        raise RuleError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")
    for key, want in types.items():
        if key in table and not isinstance(table[key], want):
            names = want.__name__ if isinstance(want, type) else " or ".join(
                w.__name__ for w in want)  # fmt: skip
            raise RuleError(f"{where}: {key!r} must be a {names}, got {table[key]!r}")


def _pair_from_table(table: dict[str, Any], where: str) -> Pairing:
    types = {"name": str, "source": str, "order": (str, list), "target_class": str,
             "target_name": str, "target_order": str, "variables": dict}  # fmt: skip
    _check_types(table, _PAIR_KEYS, types, where)
    for key in ("source", "target_class", "variables"):
        if key not in table:
            raise RuleError(f"{where}: {key!r} is required")
    variables = table["variables"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
        raise RuleError(f"{where}: 'variables' maps source suffixes to target names (strings)")
    if isinstance(table.get("order"), list) and not all(isinstance(o, str) for o in table["order"]):
        raise RuleError(f'{where}: \'order\' must be "name", "natural" or a list of regexes')
    try:
        return Pairing(**table)
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}") from None


def _fill_from_table(table: dict[str, Any], where: str) -> Fill:
    types = {"name": str, "target": str, "value": (int, float), "why": str}
    _check_types(table, _FILL_KEYS, types, where)
    for key in ("target", "value"):
        if key not in table:
            raise RuleError(f"{where}: {key!r} is required")
    try:
        return Fill(**table)
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}") from None


def _rule_from_table(table: dict[str, Any], where: str) -> Rule:
    types = {"to": str, "cast": str, "name": str, "drop": bool, "transpose": list,
             "reshape": list, "slice": str}  # fmt: skip
    _check_types(table, _RULE_KEYS, types, where)
    if not isinstance(table.get("match"), str):
        raise RuleError(f"{where}: 'match' must be a string regex")
    for key in ("transpose", "reshape"):
        if key in table and not all(isinstance(v, int) for v in table[key]):
            raise RuleError(f"{where}: {key!r} must be a list of integers, got {table[key]!r}")
    try:
        return Rule(**table)
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}") from None
