"""The check before a restore runs: does the checkpoint hold what the graph asks for?

TensorFlow's Saver reports a missing key one at a time, reports every dtype, shape
and device problem as "a mismatch between the current graph and the graph from the
checkpoint", and restores a ``[3, 4]`` tensor into a ``[4, 3]`` resource variable
without a word. ``plan_restore`` compares every key, shape and dtype first, from the
checkpoint's index alone, and raises one ``RestoreMismatchError`` listing every
problem, with the closest names in the checkpoint for each missing key.

For a TF2 object-based checkpoint, keys are looked up through the object graph's
``full_name`` attributes (the variable's TF1 name), as TensorFlow's Saver does; the
plan then says which keys to feed in place of the graph's.

Everything here is pure: ``contents_of`` reads a reader's metadata once.

Restores that match, the common case, take a shortcut (``QuickCheck``): each key's
raw index entry is compared with the bytes TensorFlow writes for the expected dtype
and shape, without decoding it (about 1 µs a key instead of ~7; measured by
``bench/bench_micro.py index``). Anything the shortcut does not recognise goes
through ``plan_restore``, which decides.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..bundle.coding import DecodeError
from ..bundle.dtypes import DType
from ..bundle.entry import BundleEntry
from ..bundle.table import TableReader
from ..errors import RestoreMismatchError
from .specs import RestoreSpec

MAX_SUGGESTIONS = 3
MAX_FUZZY_LOOKUPS = 50  # difflib is O(keys) per missing key; bound the total work
_NUMBER_SUFFIX = re.compile(r"_\d+(?=/|$)")


@dataclass(frozen=True)
class CheckpointContents:
    """A checkpoint's keys, the shapes and dtypes of those looked up, and its
    object-graph names (``full_name`` -> checkpoint key) when it is object-based."""

    prefix: str
    shapes: Mapping[str, tuple[int, ...]]
    dtypes: Mapping[str, int]
    full_names: Mapping[str, str] = field(default_factory=dict)
    keys: frozenset[str] | None = None  # every key; None: the keys of ``shapes``

    def has(self, key: str) -> bool:
        return key in (self.shapes if self.keys is None else self.keys)


# What may follow dtype and shape in a TF-written entry of a whole tensor: shard_id,
# offset and size (varints, fields 3-5), crc32c (fixed32, field 6), in field order,
# each at most once. Slices (field 7), repeated fields or any other layout fail to
# match and take the decoding path.
_ENTRY_TAIL = re.compile(
    rb"(?:\x18[\x80-\xff]{0,9}[\x00-\x7f])?(?:\x20[\x80-\xff]{0,9}[\x00-\x7f])?"
    rb"(?:\x28[\x80-\xff]{0,9}[\x00-\x7f])?(?:\x35[\x00-\xff]{4})?",
    re.DOTALL,
)


class QuickCheck:
    """The shortcut for restores that match, prepared once from a Saver's specs.

    ``passes(index_bytes)`` walks the checkpoint's ``.index`` once and compares each
    wanted key's raw entry with the bytes TensorFlow writes for the expected dtype
    and shape (field 1 dtype, field 2 shape, then only the fields ``_ENTRY_TAIL``
    allows), decoding nothing: about a microsecond a key. It answers True only when
    every key is there, exactly as expected; False means "not shown", never
    "wrong", and ``plan_restore`` decides. ``usable`` is False when some spec
    cannot be judged this way (shape not fully known, reshaped, a slice).
    """

    def __init__(self, specs: Sequence[RestoreSpec]) -> None:
        self.specs = specs
        expected: dict[bytes, bytes] | None = {}
        for spec in specs:
            shape = spec.shape
            if spec.slice_spec or spec.reshape or shape is None or None in shape:
                expected = None
                break
            prefix = BundleEntry("", spec.dtype, tuple(shape)).encode()  # type: ignore[arg-type]
            if expected.setdefault(spec.key.encode("utf-8"), prefix) != prefix:
                expected = None  # one key, two expectations: let plan_restore explain
                break
        self._expected = expected

    @property
    def usable(self) -> bool:
        return self._expected is not None

    def passes(self, index_bytes: bytes) -> bool:
        expected = self._expected
        if expected is None:
            return False
        tail = _ENTRY_TAIL.fullmatch
        found = 0
        try:
            for key, value in TableReader(index_bytes).items():
                want = expected.get(key)
                if want is not None:
                    if not value.startswith(want) or tail(value, len(want)) is None:
                        return False
                    found += 1
        except DecodeError:
            return False  # the full path reports the corruption
        return found == len(expected)


def contents_of(reader, prefix: str, wanted: Iterable[str]) -> CheckpointContents:
    """Reads what ``plan_restore`` needs from a ``load_checkpoint`` reader: every key,
    and the shape and dtype of the ``wanted`` ones only (decoding an index entry costs
    tens of microseconds in Python; a restore of 10 of 10,000 keys decodes 10)."""
    keys = frozenset(reader.keys())
    full_names: dict[str, str] = {}
    graph = reader.object_graph() if getattr(reader, "is_object_based", False) else None
    if graph is not None:
        for node in graph.nodes:
            for attribute in node.attributes:
                if attribute.full_name:
                    full_names[attribute.full_name] = attribute.checkpoint_key
    shapes, dtypes = {}, {}
    bundle = getattr(reader, "bundle", None)  # V2: one decoded entry gives both
    for key in wanted:
        found = key if key in keys else full_names.get(key)
        if found in keys and found not in shapes:
            if bundle is not None:
                entry = bundle.entry(found)
                shapes[found], dtypes[found] = tuple(entry.shape), int(entry.dtype_enum)
            else:
                shapes[found] = tuple(reader.shape(found))
                dtypes[found] = int(reader.dtype(found))
    return CheckpointContents(prefix, shapes, dtypes, full_names, keys)


def plan_restore(
    specs: Sequence[RestoreSpec], contents: CheckpointContents
) -> dict[str, list[str] | str]:
    """Checks ``specs`` against ``contents``.

    Returns:
        Feeds for the key tensors that must read other keys (object-based
        checkpoints): ``{names_tensor: keys}``; empty when the graph's keys are used.

    Raises:
        RestoreMismatchError: Listing every missing key, shape and dtype mismatch.
    """
    resolved = [_resolve(spec.key, contents) for spec in specs]
    missing = [s.key for s, key in zip(specs, resolved, strict=True) if key is None]
    problems = [f"missing: {line}" for line in _missing_lines(missing, contents)]
    for spec, key in zip(specs, resolved, strict=True):
        if key is not None:
            problems.extend(_compare(spec, key, contents))
    if problems:
        raise RestoreMismatchError(_message(contents, specs, missing, problems))
    return _feeds(specs, resolved)


def _resolve(key: str, contents: CheckpointContents) -> str | None:
    if contents.has(key):
        return key
    mapped = contents.full_names.get(key)
    return mapped if mapped is not None and contents.has(mapped) else None


def _compare(spec: RestoreSpec, key: str, contents: CheckpointContents) -> list[str]:
    problems = []
    named = repr(spec.key) if key == spec.key else f"{spec.key!r} (checkpoint key {key!r})"
    stored_dtype = contents.dtypes[key]
    if stored_dtype != spec.dtype:
        problems.append(
            f"dtype: {named} is {_dtype_name(stored_dtype)} in the checkpoint, "
            f"the graph expects {_dtype_name(spec.dtype)}"
        )
    stored = contents.shapes[key]
    if spec.shape is not None and not _shapes_agree(stored, spec.shape, spec.reshape):
        what = "element count" if spec.reshape else "shape"
        problems.append(
            f"{what}: {named} is {list(stored)} in the checkpoint, "
            f"the graph expects {_show(spec.shape)}"
            + (f" (slice {spec.slice_spec!r})" if spec.slice_spec else "")
        )
    return problems


def _shapes_agree(stored: tuple[int, ...], expected, reshape: bool) -> bool:
    if reshape:
        if any(d is None for d in expected):
            return True
        return math.prod(stored) == math.prod(expected)
    if len(stored) != len(expected):
        return False
    return all(e is None or e == s for s, e in zip(stored, expected, strict=True))


def _show(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _dtype_name(number: int) -> str:
    try:
        return DType(number).tf_name
    except ValueError:
        return f"DataType {number}"


def _feeds(specs: Sequence[RestoreSpec], resolved: Sequence[str | None]):
    renamed = {s.names_tensor for s, k in zip(specs, resolved, strict=True) if k != s.key}
    feeds: dict[str, list[str] | str] = {}
    for name in sorted(renamed):
        rows = [
            (s.index, k) for s, k in zip(specs, resolved, strict=True) if s.names_tensor == name
        ]
        if len(rows) == 1 and rows[0][0] == -1:
            feeds[name] = rows[0][1]
        else:
            feeds[name] = [k for _, k in sorted(rows)]
    return feeds


def _message(contents, specs, missing, problems) -> str:
    counts = []
    if missing:
        counts.append(f"{len(missing)} of {len(specs)} keys missing")
    mismatches = len(problems) - len(missing)
    if mismatches:
        counts.append(f"{mismatches} shape/dtype mismatches")
    total = len(contents.keys if contents.keys is not None else contents.shapes)
    head = f"cannot restore {contents.prefix} ({total} keys): " + ", ".join(counts)
    return head + " (nothing was restored)\n  " + "\n  ".join(problems)


def _missing_lines(missing: Sequence[str], contents: CheckpointContents) -> list[str]:
    if not missing:
        return []
    index = NameIndex([*(contents.keys or contents.shapes), *contents.full_names])
    budget = MAX_FUZZY_LOOKUPS
    lines = []
    for key in missing:
        close = index.close_names(key, fuzzy=budget > 0)
        budget -= 1
        hint = f" (closest in checkpoint: {', '.join(map(repr, close))})" if close else ""
        lines.append(f"{key!r} is not in the checkpoint{hint}")
    if contents.full_names:
        lines.append("(object-based checkpoint: keys were also looked up by full_name)")
    return lines


class NameIndex:
    """Finds the checkpoint names closest to a missing one.

    In order: the same name under another scope (``model/dense/kernel`` for
    ``dense/kernel``, or the reverse), the same name up to ``_N`` suffixes
    (``dense_1/kernel`` for ``dense/kernel``), then difflib's closest matches.
    """

    def __init__(self, names: Iterable[str]):
        self.names = sorted(set(names))
        self._by_suffix: dict[str, list[str]] = {}
        self._by_stem: dict[str, list[str]] = {}
        for name in self.names:
            parts = name.split("/")
            for i in range(1, len(parts)):
                self._by_suffix.setdefault("/".join(parts[i:]), []).append(name)
            self._by_stem.setdefault(_NUMBER_SUFFIX.sub("", name), []).append(name)
        self._known = set(self.names)

    def close_names(self, key: str, *, fuzzy: bool = True) -> list[str]:
        found: list[str] = []
        parts = key.split("/")
        found += self._by_suffix.get(key, [])  # checkpoint has an extra scope
        found += [
            "/".join(parts[i:]) for i in range(1, len(parts)) if "/".join(parts[i:]) in self._known
        ]  # graph has an extra scope
        found += self._by_stem.get(_NUMBER_SUFFIX.sub("", key), [])
        if fuzzy and len(found) < MAX_SUGGESTIONS:
            found += difflib.get_close_matches(key, self.names, n=MAX_SUGGESTIONS, cutoff=0.6)
        return list(dict.fromkeys(n for n in found if n != key))[:MAX_SUGGESTIONS]
