"""What a conversion did, for people (``summary()``) and scripts (``to_json()``)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from .plan import Action, Dropped, Plan, Unmatched


@dataclass(frozen=True)
class ConversionReport:
    """Every source key's fate, and what it cost.

    ``bytes_copied`` were copied as stored (checksum carried over);
    ``bytes_reencoded`` were decoded, transformed or merged and written anew.
    ``linked`` means the data shards were hard-linked, not copied.
    """

    kind: str
    src: str
    dst: str
    actions: tuple[Action, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    unmatched: tuple[Unmatched, ...] = ()
    bytes_copied: int = 0
    bytes_reencoded: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    linked: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_plan(
        cls, kind: str, src: str, dst: str, plan: Plan, **kwargs: object
    ) -> ConversionReport:
        return cls(kind, src, dst, tuple(plan.actions), tuple(plan.dropped), tuple(plan.unmatched),
                   **kwargs)  # type: ignore[arg-type]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for action in out["actions"]:
            action["transform"] = {k: v for k, v in action["transform"].items() if v is not None}
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def write_json(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json() + "\n")

    def summary(self) -> str:
        """A plain-text table: one line per action, then dropped and unmatched keys."""
        rows = [(a.src, a.dst, a.how + (f" [{a.rule}]" if a.rule else ""), _transform_text(a))
                for a in self.actions]  # fmt: skip
        head = ("source", "destination", "how", "transform")
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
        widths = [min(w, 80) for w in widths]
        lines = [f"{self.kind}: {self.src} -> {self.dst}" + (" (dry run)" if self.dry_run else "")]
        lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines += [f"dropped {d.src}: {d.reason}" for d in self.dropped]
        for u in self.unmatched:
            near = f" (candidates: {', '.join(u.candidates)})" if u.candidates else ""
            lines.append(f"unmatched {u.dst} {list(u.shape)}{near}")
        lines += [f"note: {n}" for n in self.notes]
        how = "hard-linked data" if self.linked else f"{_mib(self.bytes_copied)} copied"
        lines.append(f"{len(self.actions)} tensors, {len(self.dropped)} dropped, "
                     f"{len(self.unmatched)} unmatched; {how}, {_mib(self.bytes_reencoded)} "
                     f"re-encoded; {self.seconds:.2f} s")  # fmt: skip
        return "\n".join(lines)


def _transform_text(action: Action) -> str:
    t = action.transform
    parts = []
    if t.slice is not None:
        parts.append(f"slice[{t.slice}]")
    if t.transpose is not None:
        parts.append(f"transpose{list(t.transpose)}")
    if t.reshape is not None:
        parts.append(f"reshape{list(t.reshape)}")
    if t.cast is not None:
        parts.append(f"cast({t.cast})")
    return " ".join(parts)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"
