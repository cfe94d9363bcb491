"""Planning a checkpoint -> safetensors export (pure: names, dtypes and shapes in).

Every source key gets one fate, in this order:

1. A readable name. Name-based (TF1) keys are their own names; object-based
   (TF2) keys lose ``/.ATTRIBUTES/VARIABLE_VALUE`` (another attribute ``A``
   becomes ``path/A``); the serialized object graph is dropped (bookkeeping).
2. Optimizer state is recognised (``names.classify_optimizer_names`` for TF1,
   the object graph's slot references for TF2, plus BERT's ``adam_m``/``adam_v``).
   ``optimizer="drop"`` drops it; otherwise a slot is named after its variable's
   output name and follows that variable's transform (``dense.weight.m`` is the
   transposed Adam ``m`` of ``dense/kernel``), and other optimizer values keep
   their readable names.
3. Rename rules: the user's first, then a preset's. A matching ``drop`` rule
   drops the key; a matching rule with a transform fixes the layout itself.
4. The layout: ``"torch"`` (``layout.torch_placement``) for keys no rule gave a
   transform; ``"tf"`` keeps names and bytes as they are.
5. The dtype: anything safetensors cannot hold (strings, complex128, quantized,
   resource, variant) is dropped with the reason; ``strict`` raises instead.

Two keys landing on one name, or a tensor named ``__metadata__``, are errors.
Files: tensors go into shards in name order (a new shard when the next tensor
would pass ``shard_bytes``), and inside a file by descending element size, then
name (``spec``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from legacy_saver.bundle.naming import OBJECT_GRAPH_KEY
from legacy_saver.errors import CheckpointError, UnsupportedFeatureError

from ..names import ATTRIBUTES, VARIABLE_VALUE, classify_optimizer_names
from ..object_graph import parse_object_graph
from ..plan import Action, Dropped, Plan, Transform
from ..rules import Rule, apply_rules, dtype_named, transformed_shape
from .layout import LAYOUTS, batch_norm_counter, preset_named, separable_scopes, torch_placement
from .spec import ITEMSIZE, METADATA_KEY, safetensors_dtype

OPTIMIZER_MODES = ("keep", "drop")
BERT_SLOTS = {"adam_m": "m", "adam_v": "v"}  # google-research/bert AdamWeightDecayOptimizer


@dataclass(frozen=True)
class SafetensorsOptions:
    """How to export (see ``converters.to_safetensors``)."""

    rules: tuple[Rule, ...] = ()
    preset: str | None = None
    layout: str | None = None  # None: the preset's, else "tf"
    optimizer: str = "keep"
    shard_bytes: int | None = None
    strict: bool = False


@dataclass(frozen=True)
class PlannedTensor:
    """One tensor of the output. ``src`` None: made by the export (``value``)."""

    src: str | None
    name: str
    dtype: str  # safetensors code
    shape: tuple[int, ...]
    transform: Transform = Transform()
    how: str = "exact"
    rule: str | None = None
    value: bytes | None = None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * ITEMSIZE[self.dtype]


@dataclass
class SafetensorsPlan:
    shards: list[list[PlannedTensor]] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    unsupported: list[Dropped] = field(default_factory=list)  # dropped for their dtype
    layout: str = "tf"
    preset: str | None = None

    @property
    def tensors(self) -> list[PlannedTensor]:
        return [t for shard in self.shards for t in shard]

    @property
    def total_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    def as_plan(self) -> Plan:
        """The converters' ``Plan`` (for ``ConversionReport``)."""
        actions = [Action(t.src or "", t.name, t.transform, t.rule, t.how) for t in self.tensors
                   if t.src is not None]  # fmt: skip
        made = {t.name: t.value for t in self.tensors if t.src is None}
        return Plan(actions=actions, dropped=list(self.dropped), extra=dict(made))


@dataclass(frozen=True)
class _Source:
    key: str
    readable: str
    slot_of: str | None = None  # the variable's source key
    slot_name: str | None = None
    group: str | None = None
    optimizer_state: bool = False


def readable_sources(keys: list[str], object_graph: object | None) -> list[_Source]:
    """Step 1 and 2: each stored key with its readable name and optimizer role."""
    if object_graph is None:
        return _tf1_sources(keys)
    attrs = {a.key: a for a in parse_object_graph(object_graph)}
    out = []
    for key in keys:
        a = attrs.get(key)
        if a is None:
            out.append(_Source(key, key))
            continue
        suffix = f"/{ATTRIBUTES}/{VARIABLE_VALUE}"
        readable = key.removesuffix(suffix) if key.endswith(suffix) else key.replace(
            f"/{ATTRIBUTES}/", "/")  # fmt: skip
        out.append(_Source(key, readable, a.slot_of, a.slot_name, None, a.in_optimizer))
    return out


def _tf1_sources(keys: list[str]) -> list[_Source]:
    state = classify_optimizer_names(keys)
    stored = set(keys)
    out = []
    for key in keys:
        info = state.get(key)
        var, _, last = key.rpartition("/")
        if info is not None and info.kind == "slot":
            out.append(_Source(key, key, info.variable, info.slot_name, info.group, True))
        elif info is not None:
            out.append(_Source(key, key, optimizer_state=True))
        elif last in BERT_SLOTS and var in stored:
            out.append(_Source(key, key, var, BERT_SLOTS[last], "adam", True))
        else:
            out.append(_Source(key, key))
    return out


def plan_safetensors(
    entries: Mapping[str, tuple[int, tuple[int, ...]]], options: SafetensorsOptions,
    object_graph: object | None = None, where: str = "the checkpoint",
) -> SafetensorsPlan:  # fmt: skip
    """The export of a checkpoint whose tensors are ``entries`` (key -> (TF dtype
    enum, shape)); ``object_graph`` is a TF2 checkpoint's ``TrackableObjectGraph``;
    ``where`` names the checkpoint in errors."""
    if options.optimizer not in OPTIMIZER_MODES:
        raise ValueError(f"optimizer must be one of {OPTIMIZER_MODES}, got {options.optimizer!r}")
    preset = preset_named(options.preset) if options.preset else None
    layout = options.layout or (preset.layout if preset else "tf")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    rules = list(options.rules) + list(preset.rules if preset else ())
    plan = SafetensorsPlan(layout=layout, preset=preset.name if preset else None)
    keys = sorted(k for k in entries if k != OBJECT_GRAPH_KEY)
    if OBJECT_GRAPH_KEY in entries:
        plan.dropped.append(Dropped(OBJECT_GRAPH_KEY, "TF2 object graph (checkpoint bookkeeping)"))
    sources = readable_sources(keys, object_graph)
    placed: dict[str, PlannedTensor] = {}  # source key -> tensor
    groups = {s.group for s in sources if s.slot_of is not None}
    separable = separable_scopes([s.readable for s in sources])
    for source in sorted(sources, key=lambda s: s.slot_of is not None):  # variables first
        tensor = _place(source, entries, rules, layout, options, placed, len(groups) > 1, plan,
                        separable)  # fmt: skip
        if tensor is not None:
            placed[source.key] = tensor
    if preset is not None and preset.covers_all:
        unruled = [t for t in placed.values() if t.rule is None and t.how != "optimizer-slot"]
        _check_covered(preset.name, unruled, where)
    tensors = _add_counters(list(placed.values()), layout)
    _check_names(tensors)
    if options.strict and plan.unsupported:
        listing = "; ".join(f"{d.src!r}: {d.reason}" for d in plan.unsupported)
        raise UnsupportedFeatureError(f"strict: {len(plan.unsupported)} tensors cannot be "
                                      f"written to safetensors: {listing}")  # fmt: skip
    plan.shards = _shard(tensors, options.shard_bytes)
    return plan


def _place(
    source: _Source, entries: Mapping[str, tuple[int, tuple[int, ...]]], rules: list[Rule],
    layout: str, options: SafetensorsOptions, placed: dict[str, PlannedTensor], by_group: bool,
    plan: SafetensorsPlan, separable: set[str],
) -> PlannedTensor | None:  # fmt: skip
    dtype_enum, shape = entries[source.key]
    if source.optimizer_state and options.optimizer == "drop":
        plan.dropped.append(Dropped(source.key, "optimizer state (optimizer='drop')"))
        return None
    name, rule = apply_rules(source.readable, rules)
    if name is None:
        plan.dropped.append(Dropped(source.key, f"rule drop ({rule.label})"))  # type: ignore[union-attr]
        return None
    transform = rule.transform if rule else Transform()
    how = "rule" if rule else "exact"
    if source.slot_of is not None:  # a slot follows its variable (rules may only drop it)
        variable = placed.get(source.slot_of)
        rule = None
        if variable is None:
            plan.dropped.append(Dropped(source.key, f"optimizer slot of {source.slot_of!r}, "
                                                    "which is not exported"))  # fmt: skip
            return None
        sep = "." if layout == "torch" else "/"
        group = (source.group or "").replace("/", sep)
        name = variable.name + sep + (f"{group}{sep}" if by_group else "")
        name += source.slot_name or "slot"
        same = tuple(shape) == tuple(entries[source.slot_of][1])
        transform = variable.transform if same else Transform()
        how = "optimizer-slot"
    elif layout == "torch" and transform.is_identity:
        placement = torch_placement(name, tuple(shape), separable)
        name, transform, how = placement.name, placement.transform, placement.how
    where = f"{source.key!r}: "
    out_shape = transformed_shape(tuple(shape), transform, where)
    out_enum = int(dtype_named(transform.cast)) if transform.cast else dtype_enum
    code, reason = safetensors_dtype(out_enum)
    if code is None:
        dropped = Dropped(source.key, reason)
        plan.dropped.append(dropped)
        plan.unsupported.append(dropped)
        return None
    return PlannedTensor(source.key, name, code, out_shape, transform, how,
                         rule.label if rule else None)  # fmt: skip


def _check_covered(preset: str, unruled: list[PlannedTensor], where: str) -> None:
    """A preset that names every tensor (``bert-hf``) refuses tensors none of its rules
    (nor the user's) name: the fallback name would be one the target ignores."""
    if not unruled:
        return
    listing = ", ".join(f"{t.src!r} (would be {t.name!r})" for t in unruled[:5])
    more = f" and {len(unruled) - 5} more" if len(unruled) > 5 else ""
    raise CheckpointError(
        f"{where}: preset {preset} has no rule for {len(unruled)} tensor(s): {listing}{more}; "
        "the target would ignore them. Rename them with --rules, or drop them with a drop rule"
    )


def _add_counters(tensors: list[PlannedTensor], layout: str) -> list[PlannedTensor]:
    """torch's BatchNorm keeps ``num_batches_tracked`` (int64); TF has none: 0."""
    if layout != "torch":
        return tensors
    names = {t.name for t in tensors}
    for t in list(tensors):
        counter = batch_norm_counter(t.name)
        if counter is not None and counter not in names:
            names.add(counter)
            tensors.append(PlannedTensor(None, counter, "I64", (), how="torch layout: batch-norm "
                                         "counter (TensorFlow keeps none; 0)",
                                         value=(0).to_bytes(8, "little")))  # fmt: skip
    return tensors


def _check_names(tensors: list[PlannedTensor]) -> None:
    owner: dict[str, str] = {}
    for t in tensors:
        if t.name == METADATA_KEY:
            raise CheckpointError(f"{t.src!r} would be named {METADATA_KEY!r}, which safetensors "
                                  "reserves; rename it with a rule")  # fmt: skip
        if t.name in owner:
            raise CheckpointError(f"{owner[t.name]!r} and {t.src!r} would both be written as "
                                  f"{t.name!r}; add a rule to rename one")  # fmt: skip
        owner[t.name] = t.src or t.how


def _shard(tensors: list[PlannedTensor], shard_bytes: int | None) -> list[list[PlannedTensor]]:
    if shard_bytes is not None and shard_bytes < 1:
        raise ValueError(f"shard_bytes must be positive, got {shard_bytes}")
    shards: list[list[PlannedTensor]] = [[]]
    size = 0
    for t in sorted(tensors, key=lambda t: t.name):
        if shard_bytes is not None and shards[-1] and size + t.nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return [sorted(s, key=lambda t: (-ITEMSIZE[t.dtype], t.name)) for s in shards]
