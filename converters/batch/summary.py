"""What a batch did: ``BatchSummary`` (the ``--json`` output) and its table."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from .discover import Discovery
from .item import Outcome

SCHEMA = "legacy-ckpt/batch/1"
STATUS = {"done": "converted", "failed": "failed", "refused": "refused"}


@dataclass(frozen=True)
class BatchSummary:
    """What ``run_batch`` did; ``to_json()`` is the ``--json`` output.

    ``failed`` counts failed and refused items; ``problems`` are directories
    that could not be listed and state files that were refused or unreadable
    (``{path: reason}``); ``warnings`` are dropped or dangling state-file
    entries. ``ok`` is False when anything failed, was refused, or a problem
    was found.
    """

    src_root: str
    dst_root: str
    converted: int
    skipped: int
    failed: int
    bytes: int
    seconds: float
    items: tuple[dict[str, Any], ...]
    state_files: tuple[str, ...]
    refused: int = 0
    engine: str = "local"
    workers: tuple[dict[str, Any], ...] = ()
    problems: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.problems

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["schema"] = SCHEMA
        for key in ("items", "state_files", "workers", "warnings"):
            out[key] = list(out[key])
        return out


def summarize(src_root: str, dst_root: str, found: Discovery, skipped: Collection[str],
              outcomes: dict[str, Outcome], seconds: float, *, would: dict[str, str | None],
              **extra: Any) -> BatchSummary:  # fmt: skip
    """The summary; ``would`` maps dry-run items to None (would convert) or the
    reason they would fail."""
    rows = []
    for item in found.items:
        o = outcomes.get(item.rel)
        if item.rel in would:
            status = "would fail" if would[item.rel] else "would convert"
        else:
            status = "skipped" if o is None else STATUS[o.status]
        rows.append({
            "rel": item.rel, "kind": item.kind, "status": status,
            "action": o.action if o else None,
            "reason": o.reason if o else would.get(item.rel),
            "bytes": item.size, "seconds": round(o.seconds, 3) if o else 0.0,
        })  # fmt: skip
    done = [o for o in outcomes.values() if o.status == "done"]
    refused = sum(o.status == "refused" for o in outcomes.values())
    return BatchSummary(
        src_root=src_root, dst_root=dst_root, converted=len(done), skipped=len(skipped),
        failed=len(outcomes) - len(done), bytes=sum(o.bytes for o in done),
        seconds=round(seconds, 3), items=tuple(rows), refused=refused, **extra,
    )  # fmt: skip


def format_summary(summary: BatchSummary) -> str:
    """The summary table for people."""
    from converters.inspect import human_bytes

    width = max([len(r["rel"]) for r in summary.items] + [10])
    lines = [f"{'checkpoint'.ljust(width)}  {'status':13}  {'action':10}  bytes"]
    for r in summary.items:
        lines.append(
            f"{r['rel'].ljust(width)}  {r['status']:13}  {(r['action'] or '-'):10}  "
            f"{human_bytes(r['bytes'])}"
        )
        if r["reason"]:
            lines.append(f"{''.ljust(width)}  reason: {r['reason']}")
    for path, reason in sorted(summary.problems.items()):
        lines.append(f"problem: {path}: {reason}")
    lines += [f"warning: {w}" for w in summary.warnings]
    would = [r for r in summary.items if r["status"] in ("would convert", "would fail")]
    if would:
        total = sum(r["bytes"] for r in would if r["status"] == "would convert")
        bad = sum(r["status"] == "would fail" for r in would)
        lines.append(
            f"\ndry run: {len(would) - bad} would be converted ({human_bytes(total)}), "
            f"{bad} would fail, {summary.skipped} skipped; nothing was written"
        )
        return "\n".join(lines)
    rate = summary.bytes / max(summary.seconds, 1e-9)
    lines.append(
        f"\n{summary.converted} converted, {summary.skipped} skipped, {summary.failed} failed "
        f"({summary.refused} refused); {human_bytes(summary.bytes)} in {summary.seconds:.1f} s "
        f"({human_bytes(rate)}/s, {summary.engine} engine); "
        f"{len(summary.state_files)} state file(s) rewritten"
    )
    return "\n".join(lines)
