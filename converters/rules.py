"""Rename rules: an ordered list of regex rewrites over source tensor names.

The first rule whose ``match`` regex is found in a name decides that name's
fate: it is dropped (``drop = true``), or renamed by ``re.sub(match, to, name,
count=1)`` (so ``to`` may use ``\\1`` / ``\\g<name>``; anchor the regex with
``^...$`` to replace the whole name; no ``to`` keeps the name), and its value
may be transposed, reshaped and cast, in that order. A rules file is TOML::

    [[rule]]
    match = '^vgg_16/fc6/weights$'
    to = 'fc1/kernel'
    reshape = [25088, 4096]

    [[rule]]
    match = '/Momentum$'
    drop = true

Everything here is pure: names and shapes in, names, shapes and values out.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from legacy_saver.bundle import DType

from .plan import Transform

_RULE_KEYS = {"match", "to", "transpose", "reshape", "cast", "drop", "name"}


class RuleError(ValueError):
    """A rule or rules file is malformed; the message names the file and rule."""


def dtype_named(name: str) -> DType:
    """The ``DType`` TensorFlow calls ``name`` (``float32``, ``half``, ``bfloat16``)."""
    aliases = {"half": "float16", "float": "float32", "double": "float64"}
    try:
        return DType[aliases.get(name, name).upper()]
    except KeyError:
        raise RuleError(f"unknown dtype {name!r}") from None


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
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_regex", re.compile(self.match))
        except re.error as exc:
            raise RuleError(f"match {self.match!r} is not a valid regex: {exc}") from None
        for attr in ("transpose", "reshape"):
            value = getattr(self, attr)
            if value is not None:
                object.__setattr__(self, attr, tuple(int(v) for v in value))
        if self.transpose is not None and sorted(self.transpose) != list(
            range(len(self.transpose))
        ):
            raise RuleError(f"transpose {list(self.transpose)} is not a permutation of axes")
        if self.cast is not None:
            dtype_named(self.cast)
        if self.drop and (self.to or self.transpose or self.reshape or self.cast):
            raise RuleError(f"rule {self.label!r}: drop = true excludes to/transpose/reshape/cast")

    @property
    def label(self) -> str:
        return self.name or self.match

    @property
    def transform(self) -> Transform:
        return Transform(self.transpose, self.reshape, self.cast)

    def rename(self, name: str) -> str | None:
        """The new name if this rule matches ``name`` (``name`` itself when it
        has no ``to``), else None."""
        m = self._regex.search(name)
        if m is None:
            return None
        if self.to is None:
            return name
        return self._regex.sub(self.to, name, count=1)


def apply_rules(
    name: str, rules: list[Rule] | tuple[Rule, ...] | None
) -> tuple[str | None, Rule | None]:
    """``(new_name, rule)`` for the first matching rule; ``(None, rule)`` when it
    drops the name; ``(name, None)`` when no rule matches."""
    for rule in rules or ():
        new = rule.rename(name)
        if new is not None:
            return (None if rule.drop else new), rule
    return name, None


def load_rules(path: str | os.PathLike[str]) -> list[Rule]:
    """Read ``[[rule]]`` tables from the TOML file at ``path``."""
    where = os.fspath(path)
    try:
        with open(where, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{where} is not valid TOML: {exc}") from None
    tables = doc.get("rule")
    extra = set(doc) - {"rule"}
    if extra:
        raise RuleError(
            f"{where}: unknown top-level keys {sorted(extra)} (expected [[rule]] tables)"
        )
    if not isinstance(tables, list):
        raise RuleError(f"{where} has no [[rule]] tables")
    return [_rule_from_table(table, f"{where}: rule {i}") for i, table in enumerate(tables, 1)]


def _rule_from_table(table: dict[str, Any], where: str) -> Rule:
    unknown = set(table) - _RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(_RULE_KEYS)})")
    if not isinstance(table.get("match"), str):
        raise RuleError(f"{where}: 'match' must be a string regex")
    types = {"to": str, "cast": str, "name": str, "drop": bool, "transpose": list, "reshape": list}
    for key, want in types.items():
        if key in table and not isinstance(table[key], want):
            raise RuleError(f"{where}: {key!r} must be a {want.__name__}, got {table[key]!r}")
    for key in ("transpose", "reshape"):
        if key in table and not all(isinstance(v, int) for v in table[key]):
            raise RuleError(f"{where}: {key!r} must be a list of integers, got {table[key]!r}")
    try:
        return Rule(**table)
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}") from None


def transformed_shape(shape: tuple[int, ...], t: Transform, where: str = "") -> tuple[int, ...]:
    """The shape a value of ``shape`` has after ``t``; raises ``RuleError`` when
    the transform does not fit (wrong rank, different element count)."""
    if t.transpose is not None:
        if len(t.transpose) != len(shape):
            raise RuleError(f"{where}transpose {list(t.transpose)} needs rank {len(t.transpose)}, "
                            f"shape is {list(shape)}")  # fmt: skip
        shape = tuple(shape[a] for a in t.transpose)
    if t.reshape is not None:
        if math.prod(t.reshape) != math.prod(shape):
            raise RuleError(f"{where}reshape to {list(t.reshape)} needs {math.prod(t.reshape)} "
                            f"elements, shape {list(shape)} has {math.prod(shape)}")  # fmt: skip
        shape = tuple(t.reshape)
    return shape


def apply_transform(value: np.ndarray, t: Transform) -> np.ndarray:
    """``value`` transposed, reshaped and cast as ``t`` says (contiguous)."""
    if t.transpose is not None:
        value = np.transpose(value, t.transpose)
    if t.reshape is not None:
        value = np.reshape(value, t.reshape)
    if t.cast is not None:
        value = value.astype(dtype_named(t.cast).numpy)
    return value if value.flags.c_contiguous else value.copy(order="C")
