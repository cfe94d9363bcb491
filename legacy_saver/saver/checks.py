"""The check before a restore runs: does the checkpoint hold what the graph asks for?

TensorFlow's Saver reports a missing key one at a time, reports every dtype, shape
and device problem as "a mismatch between the current graph and the graph from the
checkpoint", and restores a ``[3, 4]`` tensor into a ``[4, 3]`` resource variable
without a word. ``plan_restore`` compares every key, shape and dtype first, from the
checkpoint's index alone, and raises one ``RestoreMismatchError`` listing every
problem, with the closest names in the checkpoint for each missing key, ranked by
shape and dtype first (``legacy_saver.bundle.suggest``). ``find_problems`` and
``raise_problems`` are the one pre-restore check: ``Saver.restore`` and
``legacy_saver.graph.restore_variables`` both call them, so both say the same thing.
The error is also the ``tf.errors`` class stock TensorFlow raises (``tf_errors.py``).

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

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..bundle.coding import DecodeError
from ..bundle.dtypes import DType
from ..bundle.entry import BundleEntry
from ..bundle.suggest import Candidate, Suggester, describe
from ..bundle.table import TableReader
from .specs import RestoreSpec
from .tf_errors import restore_error

MAX_SUGGESTED = 50  # missing keys that get closest-name suggestions in one error


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
        expected: dict[bytes, bytes] = {}
        usable = True
        for spec in specs:
            shape = spec.shape
            if spec.slice_spec or spec.reshape or shape is None or None in shape:
                usable = False
                break
            prefix = BundleEntry("", spec.dtype, tuple(shape)).encode()  # type: ignore[arg-type]
            if expected.setdefault(spec.key.encode("utf-8"), prefix) != prefix:
                usable = False  # one key, two expectations: let plan_restore explain
                break
        self._expected = expected if usable else None

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


def contents_of(
    reader: Any, prefix: str, wanted: Iterable[str], *, object_names: bool = True
) -> CheckpointContents:
    """Reads what ``plan_restore`` needs from a ``load_checkpoint`` reader: every key,
    and the shape and dtype of the ``wanted`` ones only (decoding an index entry costs
    tens of microseconds in Python; a restore of 10 of 10,000 keys decodes 10). When a
    wanted key is missing, every entry is decoded: the suggestions rank by shape.

    ``object_names=False`` ignores the object graph of a TF2 checkpoint (callers that
    read the graph's keys as they are, such as ``restore_variables``).
    """
    keys = frozenset(reader.keys())
    full_names: dict[str, str] = {}
    is_object_based = object_names and getattr(reader, "is_object_based", False)
    graph = reader.object_graph() if is_object_based else None
    if graph is not None:
        for node in graph.nodes:
            for attribute in node.attributes:
                if attribute.full_name:
                    full_names[attribute.full_name] = attribute.checkpoint_key
    found = {key if key in keys else full_names.get(key) for key in wanted}
    if not found <= keys:
        found = set(keys)  # a key is missing: the suggestions need every shape
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, int] = {}
    bundle = getattr(reader, "bundle", None)  # V2: one decoded entry gives both
    for key in found:
        if key is not None:
            if bundle is not None:
                entry = bundle.entry(key)
                shapes[key], dtypes[key] = tuple(entry.shape), int(entry.dtype_enum)
            else:
                shapes[key] = tuple(reader.shape(key))
                dtypes[key] = int(reader.dtype(key))
    return CheckpointContents(prefix, shapes, dtypes, full_names, keys)


@dataclass(frozen=True)
class Problems:
    """What ``find_problems`` found: the lines of the error, and how many of each kind."""

    lines: tuple[str, ...] = ()
    missing: int = 0
    mismatched: int = 0
    absent: tuple[RestoreSpec, ...] = ()  # missing but optional (not problems)
    stock: tuple[str, ...] = ()  # stock TensorFlow's words for the first of each kind

    def __bool__(self) -> bool:
        return bool(self.lines)


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
    raise_problems(find_problems(specs, contents, resolved), contents, len(specs))
    return _feeds(specs, resolved)


def find_problems(
    specs: Sequence[RestoreSpec],
    contents: CheckpointContents,
    resolved: Sequence[str | None] | None = None,
    *,
    optional: Callable[[RestoreSpec], bool] = lambda spec: False,
) -> Problems:
    """Every missing key (with the closest names) and every shape and dtype mismatch.

    The one pre-restore check, shared by ``Saver.restore`` and ``restore_variables``.
    A missing spec for which ``optional`` is true is no problem: it is returned in
    ``absent``. ``resolved``: the checkpoint key of each spec (default: looked up).
    """
    if resolved is None:
        resolved = [_resolve(spec.key, contents) for spec in specs]
    pairs = list(zip(specs, resolved, strict=True))
    missing = [s for s, key in pairs if key is None and not optional(s)]
    lines = [f"missing: {line}" for line in _missing_lines(missing, contents)]
    stock: dict[str, str] = {}
    if missing:
        stock["missing"] = f"Key {missing[0].key} not found in checkpoint"
    mismatched = 0
    for spec, key in pairs:
        if key is not None:
            found = _compare(spec, key, contents, stock)
            mismatched += len(found)
            lines.extend(found)
    absent = tuple(s for s, key in pairs if key is None and optional(s))
    return Problems(tuple(lines), len(missing), mismatched, absent, tuple(stock.values()))


def raise_problems(
    problems: Problems, contents: CheckpointContents, wanted: int, extra: Sequence[str] = ()
) -> None:
    """Raises the one ``RestoreMismatchError`` for ``problems`` (and ``extra`` lines, e.g.
    assignment-map entries that match nothing); returns when there are none.

    The error is also the ``tf.errors`` class stock TensorFlow raises for the first kind
    of problem (``NotFoundError`` for a missing key, else ``InvalidArgumentError``), and
    its message ends with stock's wording, so ``except tf.errors.NotFoundError`` still
    catches it (``tf_errors.py``).
    """
    if not problems and not extra:
        return
    counts = []
    if problems.missing:
        counts.append(f"{problems.missing} of {wanted} keys missing")
    if problems.mismatched:
        counts.append(f"{problems.mismatched} shape/dtype mismatches")
    if extra:
        counts.append(f"{len(extra)} other problem{'s' if len(extra) > 1 else ''}")
    total = len(contents.keys if contents.keys is not None else contents.shapes)
    head = f"cannot restore {contents.prefix} ({total} keys): " + ", ".join(counts)
    lines = [*problems.lines, *extra]
    message = head + " (nothing was restored)\n  " + "\n  ".join(lines)
    raise restore_error(message, missing=bool(problems.missing), stock=problems.stock)


def _resolve(key: str, contents: CheckpointContents) -> str | None:
    if contents.has(key):
        return key
    mapped = contents.full_names.get(key)
    return mapped if mapped is not None and contents.has(mapped) else None


def _named(spec: RestoreSpec, key: str) -> str:
    """How a problem names the spec: the graph's name, and the checkpoint key if other."""
    graph_name = spec.label or spec.key
    return repr(graph_name) if key == graph_name else f"{graph_name!r} (checkpoint key {key!r})"


def _compare(
    spec: RestoreSpec, key: str, contents: CheckpointContents, stock: dict[str, str]
) -> list[str]:
    """The dtype and shape problems of one spec; ``stock`` gets stock TensorFlow's words
    for the first of each kind (the ops' messages its Saver passes on)."""
    problems = []
    named = _named(spec, key)
    stored_dtype = contents.dtypes[key]
    if stored_dtype != spec.dtype:
        want, got = _dtype_name(spec.dtype), _dtype_name(stored_dtype)
        problems.append(f"dtype: {named} is {got} in the checkpoint, the graph expects {want}")
        stock.setdefault(
            "dtype",
            f"tensor_name = {key}; expected dtype {want} does not equal original dtype {got}",
        )
    stored = contents.shapes[key]
    if spec.shape is not None and not _shapes_agree(stored, spec.shape, spec.reshape):
        stock.setdefault(
            "shape",
            "Assign requires shapes of both tensors to match. "
            f"lhs shape= {_tf_shape(spec.shape)} rhs shape= {_tf_shape(stored)}",
        )
        what = "element count" if spec.reshape else "shape"
        problems.append(
            f"{what}: {named} is {list(stored)} in the checkpoint, "
            f"the graph expects {_show(spec.shape)}"
            + (f" (slice {spec.slice_spec!r})" if spec.slice_spec else "")
        )
    return problems


def _shapes_agree(stored: tuple[int, ...], expected: tuple[int | None, ...], reshape: bool) -> bool:
    if reshape:
        if any(d is None for d in expected):
            return True
        return math.prod(stored) == math.prod(d for d in expected if d is not None)
    if len(stored) != len(expected):
        return False
    return all(e is None or e == s for s, e in zip(stored, expected, strict=True))


def _tf_shape(shape: Sequence[int | None]) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _show(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _dtype_name(number: int) -> str:
    try:
        return DType(number).tf_name
    except ValueError:
        return f"DataType {number}"


def _feeds(
    specs: Sequence[RestoreSpec], resolved: Sequence[str | None]
) -> dict[str, list[str] | str]:
    """Called once every key resolved (``find_problems`` found nothing missing)."""
    pairs = [(s, k) for s, k in zip(specs, resolved, strict=True) if k is not None]
    renamed = {s.names_tensor for s, k in pairs if k != s.key}
    feeds: dict[str, list[str] | str] = {}
    for name in sorted(renamed):
        rows = [(s.index, k) for s, k in pairs if s.names_tensor == name]
        if len(rows) == 1 and rows[0][0] == -1:
            feeds[name] = rows[0][1]
        else:
            feeds[name] = [k for _, k in sorted(rows)]
    return feeds


def _missing_lines(missing: Sequence[RestoreSpec], contents: CheckpointContents) -> list[str]:
    """One line per missing spec, with the closest names (``bundle.suggest``): the
    checkpoint's keys, and the ``full_name``s of an object-based one, with their shapes."""
    if not missing:
        return []
    suggester = Suggester(_candidates(contents))
    budget = MAX_SUGGESTED  # the first ones get suggestions; a wholly foreign checkpoint
    lines = []  # with 10,000 missing keys does not need 10,000 of them
    for spec in missing:
        close = suggester.suggest(spec.key, spec.shape, spec.dtype) if budget > 0 else []
        budget -= 1
        hint = f" (closest in checkpoint: {', '.join(map(str, close))})" if close else ""
        label = f" (for {spec.label!r})" if spec.label and spec.label != spec.key else ""
        wanted = describe(spec.key, spec.shape)
        lines.append(f"{wanted}{label} is not in the checkpoint{hint}")
    if budget < 0:
        lines.append(f"(closest names shown for the first {MAX_SUGGESTED} missing keys)")
    if contents.full_names:
        lines.append("(object-based checkpoint: keys were also looked up by full_name)")
    return lines


def _candidates(contents: CheckpointContents) -> list[Candidate]:
    names = contents.keys if contents.keys is not None else contents.shapes
    found = [Candidate(k, contents.shapes.get(k), contents.dtypes.get(k)) for k in names]
    for full_name, key in contents.full_names.items():
        found.append(Candidate(full_name, contents.shapes.get(key), contents.dtypes.get(key)))
    return found


def check_before_restore(
    reader: Any,
    specs: Sequence[RestoreSpec],
    *,
    optional: Callable[[RestoreSpec], bool] = lambda spec: False,
    extra: Sequence[str] = (),
) -> tuple[RestoreSpec, ...]:
    """``find_problems`` + ``raise_problems`` for the keys of ``specs`` as they are (no
    object-graph mapping), read from a ``load_checkpoint`` reader; returns the absent
    optional specs. ``restore_variables`` calls this."""
    contents = contents_of(reader, reader.prefix, (s.key for s in specs), object_names=False)
    problems = find_problems(specs, contents, optional=optional)
    raise_problems(problems, contents, len(specs), extra)
    return problems.absent
