"""``legacy-ckpt batch``: convert every checkpoint under SRC_ROOT into DST_ROOT.

The tree is mirrored: checkpoint ``SRC_ROOT/a/b/model.ckpt-9`` becomes
``DST_ROOT/a/b/model.ckpt-9``. Items run in ``jobs`` worker processes
started with ``spawn`` (not ``fork``, unsafe with threads; not
``forkserver``, whose server keeps the environment of its first use, so
credentials or endpoints set later would be missed); the parent alone writes
the manifest, after every item.
Resume (the default) skips items whose manifest entry is ``done`` with the same
source fingerprint and options; ``failed`` and ``partial`` ones are redone.
A killed batch leaves no partial checkpoint under a final name: every file is
written under a temporary name and renamed (or uploaded, the ``.index`` last).
"""

from __future__ import annotations

import multiprocessing
import os
import posixpath
import sys
import time
from collections.abc import Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any

from . import transfer
from .discover import Discovery, Item, discover
from .item import BatchOptions, Job, Outcome, convert_item
from .manifest import DONE, FAILED, PARTIAL, Manifest, options_digest
from .states import rewrite_state_files

SCHEMA = "legacy-ckpt/batch/1"


@dataclass(frozen=True)
class BatchSummary:
    """What ``run_batch`` did; ``to_json()`` is the ``--json`` output."""

    src_root: str
    dst_root: str
    converted: int
    skipped: int
    failed: int
    bytes: int
    seconds: float
    items: tuple[dict[str, Any], ...]
    state_files: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["schema"] = SCHEMA
        out["items"] = list(self.items)
        out["state_files"] = list(self.state_files)
        return out


def run_batch(
    src_root: str, dst_root: str, *, options: BatchOptions | None = None,
    jobs: int | None = None, resume: bool = True, progress: bool = True, dry_run: bool = False,
) -> BatchSummary:  # fmt: skip
    """Convert every checkpoint under ``src_root`` into ``dst_root``.

    Args:
        src_root: a directory or fsspec URL.
        dst_root: a directory or fsspec URL (created if needed).
        options: how items are converted (default ``BatchOptions()``).
        jobs: worker processes; default ``os.cpu_count()``. 1 runs in-process.
        resume: skip items the manifest records as done from unchanged sources.
        progress: show a tqdm bar (only when stderr is a terminal).
        dry_run: discover and decide, write nothing: items that would be converted
            are listed as ``would convert``, current ones as ``skipped``.

    Raises:
        FileNotFoundError: ``src_root`` does not exist.
    """
    start = time.perf_counter()
    options = options or BatchOptions()
    src_fs, src_path = transfer.fs_for(src_root)
    dst_fs, dst_path = transfer.fs_for(dst_root)
    for fs in (src_fs, dst_fs):
        fs.invalidate_cache()  # listings cached by an earlier batch in this process are stale
    if not src_fs.isdir(src_path):
        raise FileNotFoundError(f"{src_root} is not a directory")
    found = discover(src_fs, src_path, exclude=_nested(src_fs, src_path, dst_fs, dst_path))
    old = Manifest.load(dst_fs, dst_path)
    manifest = Manifest(dst_fs, dst_path, src_root, dict(old.items) if resume else {})
    digest = options_digest(options.digest_fields())
    todo, skipped = _plan(found, manifest, old, digest, resume, options, src_root, dst_root)
    if dry_run:
        return _summarize(
            src_root,
            dst_root,
            found,
            skipped,
            {},
            [],
            time.perf_counter() - start,
            would={j.item.rel for j in todo},
        )
    for job in todo:
        manifest.items[job.item.rel] = _entry(job.item, digest, PARTIAL)
    manifest.save()
    outcomes: dict[str, Outcome] = {}
    total = sum(j.item.size for j in todo)
    with _progress(len(todo), total, progress) as bar:
        try:
            for outcome in _execute(todo, jobs):
                outcomes[outcome.rel] = outcome
                manifest.items[outcome.rel] = _record(found, outcome, digest)
                manifest.save(force=False)
                bar(outcome)
        finally:
            manifest.flush()
    states = rewrite_state_files(found, manifest, src_root, dst_root)
    return _summarize(
        src_root, dst_root, found, skipped, outcomes, states, time.perf_counter() - start
    )


def _nested(src_fs: Any, src: str, dst_fs: Any, dst: str) -> str | None:
    """DST_ROOT's path relative to SRC_ROOT when it lies inside it (skip it)."""
    if src_fs is not dst_fs and type(src_fs) is not type(dst_fs):
        return None
    src, dst = src.rstrip("/"), dst.rstrip("/")
    return posixpath.relpath(dst, src) if dst.startswith(src + "/") else None


def _plan(
    found: Discovery, manifest: Manifest, old: Manifest, digest: str, resume: bool,
    options: BatchOptions, src_root: str, dst_root: str,
) -> tuple[list[Job], list[str]]:  # fmt: skip
    todo, skipped = [], []
    for item in found.items:
        if resume and manifest.is_current(item.rel, item.fingerprint(), digest):
            if _outputs_exist(manifest, item.rel):
                skipped.append(item.rel)
                continue
        owned = item.rel in old.items
        todo.append(Job(item, src_root, dst_root, options, may_replace=owned))
    return todo, skipped


def _outputs_exist(manifest: Manifest, rel: str) -> bool:
    outputs = manifest.items[rel].get("outputs") or []
    root = manifest.root.rstrip("/")
    return all(manifest.fs.exists(f"{root}/{o}") for o in outputs)


def _entry(item: Item, digest: str, status: str) -> dict[str, Any]:
    return {
        "fingerprint": item.fingerprint(), "options": digest, "status": status, "reason": None,
        "action": None, "bytes": item.size, "seconds": 0.0, "outputs": [], "report": None,
    }  # fmt: skip


def _record(found: Discovery, outcome: Outcome, digest: str) -> dict[str, Any]:
    item = next(i for i in found.items if i.rel == outcome.rel)
    entry = _entry(item, digest, DONE if outcome.status == "done" else FAILED)
    entry.update(
        reason=outcome.reason, action=outcome.action, seconds=round(outcome.seconds, 3),
        outputs=list(outcome.outputs), report=outcome.report,
    )  # fmt: skip
    return entry


def _execute(todo: list[Job], jobs: int | None) -> Iterator[Outcome]:
    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    if workers == 1:
        for job in todo:
            yield convert_item(job)
        return
    context = multiprocessing.get_context("spawn")  # fresh interpreters see today's environment
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: set[Future[Outcome]] = {pool.submit(convert_item, job) for job in todo}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


class _progress:
    """A tqdm bar of checkpoints with bytes/s, or nothing when not a terminal."""

    def __init__(self, count: int, total_bytes: int, enabled: bool) -> None:
        self._bar = None
        self._bytes = 0
        self._start = time.perf_counter()
        if enabled and count and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=count, unit="ckpt", desc="converting", file=sys.stderr)
        self._total_bytes = total_bytes

    def __enter__(self) -> _progress:
        return self

    def __call__(self, outcome: Outcome) -> None:
        self._bytes += outcome.bytes
        if self._bar is not None:
            rate = self._bytes / max(time.perf_counter() - self._start, 1e-9)
            self._bar.set_postfix_str(f"{rate / 2**20:.1f} MiB/s", refresh=False)
            self._bar.update(1)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


def _summarize(
    src_root: str, dst_root: str, found: Discovery, skipped: list[str],
    outcomes: dict[str, Outcome], states: list[str], seconds: float,
    would: Collection[str] = (),
) -> BatchSummary:  # fmt: skip
    rows = []
    for item in found.items:
        o = outcomes.get(item.rel)
        if item.rel in would:
            status = "would convert"
        else:
            status = "skipped" if o is None else ("converted" if o.status == "done" else "failed")
        rows.append({
            "rel": item.rel, "kind": item.kind, "status": status,
            "action": o.action if o else None, "reason": o.reason if o else None,
            "bytes": item.size, "seconds": round(o.seconds, 3) if o else 0.0,
        })  # fmt: skip
    done = [o for o in outcomes.values() if o.status == "done"]
    return BatchSummary(
        src_root=src_root, dst_root=dst_root, converted=len(done), skipped=len(skipped),
        failed=len(outcomes) - len(done), bytes=sum(o.bytes for o in done),
        seconds=round(seconds, 3), items=tuple(rows), state_files=tuple(states),
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
    would = sum(r["status"] == "would convert" for r in summary.items)
    if would:
        total = sum(r["bytes"] for r in summary.items if r["status"] == "would convert")
        lines.append(
            f"\ndry run: {would} would be converted ({human_bytes(total)}), "
            f"{summary.skipped} skipped; nothing was written"
        )
        return "\n".join(lines)
    rate = summary.bytes / max(summary.seconds, 1e-9)
    lines.append(
        f"\n{summary.converted} converted, {summary.skipped} skipped, {summary.failed} failed; "
        f"{human_bytes(summary.bytes)} in {summary.seconds:.1f} s ({human_bytes(rate)}/s); "
        f"{len(summary.state_files)} state file(s) rewritten"
    )
    return "\n".join(lines)
