"""Value transforms of a rename rule: slice, transpose, reshape, cast (in that order).

``slice`` is numpy's basic indexing written as text, so that it fits in TOML
and can be checked when the rules load: comma-separated parts, each an
integer (which removes that axis), ``start:stop[:step]`` with optional
integers, or one ``...``. ``"..., 1:"`` drops the first entry of the last axis
(the background class of a 1001-class slim head); ``"0"`` takes the first row.

Everything here is pure: shapes in, shapes out; arrays in, arrays out.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from legacy_saver.bundle import DType

from .plan import Transform

_INT = r"[+-]?\d+"
_PART = re.compile(rf"^(?:\.\.\.|{_INT}|(?:{_INT})?:(?:{_INT})?(?::(?:{_INT})?)?)$")
MAX_SLICE_PARTS = 64  # parts in one slice text: far above any real tensor's rank

Index = tuple[Any, ...]  # ints, slices and at most one Ellipsis


class RuleError(ValueError):
    """A rule, a rules file or a transform is malformed, or a transform does not
    fit a tensor; the message names the file, the rule and the tensor."""


def dtype_named(name: str) -> DType:
    """The ``DType`` TensorFlow calls ``name`` (``float32``, ``half``, ``bfloat16``)."""
    aliases = {"half": "float16", "float": "float32", "double": "float64"}
    try:
        return DType[aliases.get(name, name).upper()]
    except KeyError:
        raise RuleError(f"unknown dtype {name!r}") from None


def parse_slice(text: str) -> Index:
    """``"..., 1:"`` -> ``(Ellipsis, slice(1, None))``; ``RuleError`` if malformed."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError(f"slice {text!r} must be a non-empty string such as '..., 1:'")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > MAX_SLICE_PARTS:
        raise RuleError(f"slice {text!r} has {len(parts)} parts (at most {MAX_SLICE_PARTS})")
    out: list[Any] = []
    for part in parts:
        if not _PART.match(part):
            raise RuleError(
                f"slice {text!r}: part {part!r} is not an integer, start:stop[:step] or '...'"
            )
        if part == "...":
            out.append(Ellipsis)
        elif ":" in part:
            bounds = [int(b) if b else None for b in part.split(":")]
            if len(bounds) == 3 and bounds[2] == 0:
                raise RuleError(f"slice {text!r}: step cannot be zero")
            out.append(slice(*bounds))
        else:
            out.append(int(part))
    if out.count(Ellipsis) > 1:
        raise RuleError(f"slice {text!r} has more than one '...'")
    return tuple(out)


def sliced_shape(shape: tuple[int, ...], text: str) -> tuple[int, ...]:
    """The shape ``shape`` has after ``parse_slice(text)``, computed on a
    zero-stride view (no allocation, whatever the size)."""
    index = parse_slice(text)
    view = np.lib.stride_tricks.as_strided(np.zeros(1, np.int8), shape, (0,) * len(shape))
    try:
        return tuple(int(d) for d in view[index].shape)
    except IndexError as exc:
        raise RuleError(f"slice {text!r} does not fit shape {list(shape)}: {exc}") from None


def transformed_shape(shape: tuple[int, ...], t: Transform, where: str = "") -> tuple[int, ...]:
    """The shape a value of ``shape`` has after ``t``; raises ``RuleError``
    when the transform does not fit (wrong rank, different element count)."""
    if t.slice is not None:
        try:
            shape = sliced_shape(shape, t.slice)
        except RuleError as exc:
            raise RuleError(f"{where}{exc}") from None
    if t.transpose is not None:
        if len(t.transpose) != len(shape):
            raise RuleError(
                f"{where}transpose {list(t.transpose)} needs rank "
                f"{len(t.transpose)}, shape is {list(shape)}"
            )
        shape = tuple(shape[a] for a in t.transpose)
    if t.reshape is not None:
        if any(d < 0 for d in t.reshape):
            raise RuleError(f"{where}reshape to {list(t.reshape)}: a dimension is negative")
        if math.prod(t.reshape) != math.prod(shape):
            raise RuleError(
                f"{where}reshape to {list(t.reshape)} needs "
                f"{math.prod(t.reshape)} elements, shape {list(shape)} has "
                f"{math.prod(shape)}"
            )
        shape = tuple(t.reshape)
    return shape


def apply_transform(value: np.ndarray, t: Transform) -> np.ndarray:
    """``value`` sliced, transposed, reshaped and cast as ``t`` says (contiguous)."""
    if t.slice is not None:
        value = value[parse_slice(t.slice)]
    if t.transpose is not None:
        value = np.transpose(value, t.transpose)
    if t.reshape is not None:
        value = np.reshape(value, t.reshape)
    if t.cast is not None:
        value = value.astype(dtype_named(t.cast).numpy)
    value = np.asarray(value)
    return value if value.flags.c_contiguous else value.copy(order="C")


def keeps_byte_order(t: Transform) -> bool:
    """True when ``t`` leaves the bytes in their stored order (identity or a
    plain reshape): such a tensor can be streamed in chunks."""
    return t.slice is None and t.transpose is None and t.cast is None
