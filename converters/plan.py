"""A conversion plan: what each destination tensor is made from.

Planning is pure — names, shapes and dtypes in, a ``Plan`` out — so every
planner (structural, target-model, tf2->tf1, rules) is testable without files
and ``dry_run=True`` can return the plan without writing anything. The
executor (``converters.execute``) is the only code that reads source bytes and
writes the destination, and it only does what the plan says.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Transform:
    """Value changes applied to a source tensor, in the order slice, transpose,
    reshape, cast (``converters.transforms``); all ``None`` means a byte copy."""

    transpose: tuple[int, ...] | None = None
    reshape: tuple[int, ...] | None = None
    cast: str | None = None  # a DType tf_name such as "float32"
    slice: str | None = None  # numpy basic indexing as text, e.g. "..., 1:"

    @property
    def is_identity(self) -> bool:
        return (
            self.transpose is None and self.reshape is None and self.cast is None
            and self.slice is None
        )  # fmt: skip


@dataclass(frozen=True)
class Action:
    """Write destination key ``dst`` from source tensor ``src``.

    ``src`` is the full source tensor name (a partitioned source is assembled
    from its slices first). ``rule`` names the rule that produced the action,
    ``how`` says how it was matched (``"rule"``, ``"exact"``, ``"keras-path"``...).
    """

    src: str
    dst: str
    transform: Transform = Transform()
    rule: str | None = None
    how: str = "exact"


@dataclass(frozen=True)
class Dropped:
    src: str
    reason: str  # e.g. "rule drop", "optimizer slot (optimizer='drop')"


@dataclass(frozen=True)
class Unmatched:
    """A destination variable no source tensor was found for."""

    dst: str
    shape: tuple[int, ...]
    candidates: tuple[str, ...] = ()


@dataclass
class Plan:
    """Everything the executor needs, and everything the report says.

    ``object_graph`` is a serialized ``TrackableObjectGraph`` to write under
    ``_CHECKPOINTABLE_OBJECT_GRAPH`` (None for a name-based destination).
    ``extra`` holds destination tensors that have no source (e.g. a fresh
    ``save_counter``), as name -> numpy value.
    """

    actions: list[Action] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)
    object_graph: bytes | None = None
    extra: dict[str, object] = field(default_factory=dict)
