"""Compare two checkpoints: ``legacy-ckpt diff`` as a library function.

Keys are compared by name; tensors present on both sides are read one pair at
a time and compared in chunks, so memory holds at most one tensor from each
checkpoint, never either checkpoint whole. String tensors are held as their stored
bytes and compared a chunk of strings at a time (equal stored bytes: equal), so a
tensor of many short strings costs about its stored size, not a Python object each.
NaNs in the same places count as equal. Nothing here imports TensorFlow (nor the
converters; ``converters.diff`` re-exports this module).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .checkpoint import CheckpointReader, load_checkpoint
from .dtypes import DType

SCHEMA = "legacy-ckpt/diff/1"
CHUNK_ELEMENTS = 1 << 22  # compare 4 Mi elements at a time: bounded float64 temporaries
STRING_CHUNK_ELEMENTS = 1 << 14  # strings materialised at a time, per side


@dataclass(frozen=True)
class Changed:
    """A key on both sides whose dtype or shape differs (values not compared)."""

    key: str
    dtype_a: str
    dtype_b: str
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...]


@dataclass(frozen=True)
class ValueDiff:
    """A key on both sides with equal dtype and shape but different values.

    ``max_abs_diff`` is None for strings and booleans.
    """

    key: str
    differing: int
    elements: int
    max_abs_diff: float | None


@dataclass(frozen=True)
class DiffReport:
    a: str
    b: str
    atol: float
    only_in_a: tuple[str, ...] = ()
    only_in_b: tuple[str, ...] = ()
    changed: tuple[Changed, ...] = ()
    values: tuple[ValueDiff, ...] = ()
    equal: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def same(self) -> bool:
        """True when both checkpoints hold the same keys with equal values."""
        return not (self.only_in_a or self.only_in_b or self.changed or self.values)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["schema"] = SCHEMA
        out["same"] = self.same
        return out

    def summary(self) -> str:
        """A readable report."""
        lines = [f"a: {self.a}", f"b: {self.b}"]
        lines += [f"only in a   {k}" for k in self.only_in_a]
        lines += [f"only in b   {k}" for k in self.only_in_b]
        for c in self.changed:
            lines.append(
                f"changed     {c.key}: {c.dtype_a}{list(c.shape_a)} -> {c.dtype_b}{list(c.shape_b)}"
            )
        for v in self.values:
            worst = "" if v.max_abs_diff is None else f", max abs diff {v.max_abs_diff:.6g}"
            lines.append(f"values      {v.key}: {v.differing}/{v.elements} elements differ{worst}")
        lines.append(
            f"{self.equal} equal, {len(self.values)} with different values, "
            f"{len(self.changed)} dtype/shape changes, {len(self.only_in_a)} only in a, "
            f"{len(self.only_in_b)} only in b" + (f" (atol {self.atol:g})" if self.atol else "")
        )
        return "\n".join(lines)


def diff_checkpoints(
    a: str | os.PathLike[str], b: str | os.PathLike[str], *, atol: float = 0.0
) -> DiffReport:
    """Compare checkpoints ``a`` and ``b`` key by key.

    Args:
        a: a checkpoint path or URL (anything ``load_checkpoint`` accepts).
        b: the other one.
        atol: values within ``atol`` of each other count as equal.

    Raises:
        CheckpointNotFoundError: ``a`` or ``b`` is not a checkpoint.
        CorruptCheckpointError: a tensor fails its checksum.
    """
    with load_checkpoint(a) as ra, load_checkpoint(b) as rb:
        keys_a, keys_b = set(ra.keys()), set(rb.keys())
        changed, values, equal = [], [], 0
        for key in sorted(keys_a & keys_b):
            da, db, sa, sb = ra.dtype(key), rb.dtype(key), ra.shape(key), rb.shape(key)
            if da != db or sa != sb:
                changed.append(Changed(key, da.tf_name, db.tf_name, tuple(sa), tuple(sb)))
                continue
            found = _compare(ra, rb, key, atol)
            if found is None:
                equal += 1
            else:
                values.append(found)
        return DiffReport(
            a=ra.prefix, b=rb.prefix, atol=atol,
            only_in_a=tuple(sorted(keys_a - keys_b)), only_in_b=tuple(sorted(keys_b - keys_a)),
            changed=tuple(changed), values=tuple(values), equal=equal,
            notes=tuple(ra.notes) + tuple(rb.notes),
        )  # fmt: skip


def _compare(ra: CheckpointReader, rb: CheckpointReader, key: str, atol: float) -> ValueDiff | None:
    if ra.dtype(key) is DType.STRING:
        return _compare_strings(ra, rb, key)
    va, vb = ra.get_tensor(key).reshape(-1), rb.get_tensor(key).reshape(-1)
    numeric = va.dtype.kind not in "bOSU"  # ints, floats (bfloat16 too), complex
    differing, worst = 0, 0.0
    for start in range(0, max(va.size, 1), CHUNK_ELEMENTS):
        xa, xb = va[start : start + CHUNK_ELEMENTS], vb[start : start + CHUNK_ELEMENTS]
        if not numeric:
            differing += int(np.count_nonzero(xa != xb))
            continue
        wide = np.complex128 if va.dtype.kind == "c" else np.float64
        delta = np.abs(xa.astype(wide) - xb.astype(wide))
        both_nan = np.isnan(delta) & (np.isnan(xa) == np.isnan(xb)) & np.isnan(xa)
        bad = ~both_nan & ~(delta <= atol)
        differing += int(np.count_nonzero(bad))
        finite = delta[bad & ~np.isnan(delta)]  # a NaN against a number counts, unmeasured
        if finite.size:
            worst = max(worst, float(finite.max()))
    if not differing:
        return None
    return ValueDiff(key, differing, int(va.size), worst if numeric else None)


def _compare_strings(ra: CheckpointReader, rb: CheckpointReader, key: str) -> ValueDiff | None:
    """Strings of stored V2 tensors are compared a chunk at a time (``StringLayout``), and
    not at all when the stored bytes are equal: memory is the two values' stored bytes
    plus a chunk, not a Python object per string."""
    chunks = [_string_chunks(r, key) for r in (ra, rb)]
    if chunks[0] is None or chunks[1] is None:  # V1, partitioned: whole values
        va, vb = ra.get_tensor(key).reshape(-1), rb.get_tensor(key).reshape(-1)
        differing, count = int(np.count_nonzero(va != vb)), int(va.size)
    else:
        (data_a, iter_a), (data_b, iter_b) = chunks[0], chunks[1]
        differing, count = 0, 0
        if data_a != data_b:
            for xa, xb in zip(iter_a, iter_b, strict=True):
                differing += sum(a != b for a, b in zip(xa, xb, strict=True))
        count = int(np.prod(ra.shape(key), dtype=np.int64))
    return ValueDiff(key, differing, count, None) if differing else None


def _string_chunks(
    reader: CheckpointReader, key: str
) -> tuple[bytes, Iterator[list[bytes]]] | None:
    bundle = reader.bundle
    if bundle is None or bundle.entry(key).slices:
        return None
    layout = bundle.string_layout(key)
    return layout.data, layout.values(STRING_CHUNK_ELEMENTS)
