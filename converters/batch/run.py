"""``legacy-ckpt batch``: convert every checkpoint under SRC_ROOT into DST_ROOT.

The tree is mirrored: checkpoint ``SRC_ROOT/a/b/model.ckpt-9`` becomes
``DST_ROOT/a/b/model.ckpt-9``. One run:

1. refuses overlapping roots (``guard``: DST_ROOT is, or contains, SRC_ROOT);
2. takes the destination's lock (``lock``: one batch per DST_ROOT);
3. discovers the checkpoints (``discover``), reporting unlistable directories;
4. plans: items done from the same bytes (fingerprint with content tokens)
   and options are skipped; a destination this batch did not write is
   ``refused`` without being touched, now and on every later run, until
   ``--overwrite``;
5. runs the rest on an engine (``engines``: local processes or Dask), the
   coordinator alone writing the manifest, after every item;
6. rewrites the state files for the new place.

A killed batch leaves no partial checkpoint under a final name: every file is
written under a temporary name and renamed (or uploaded, the ``.index`` last).
"""

from __future__ import annotations

import os
import time
from typing import Any

from legacy_saver.bundle import load_checkpoint
from legacy_saver.bundle.files import files_of
from legacy_saver.bundle.naming import data_path
from legacy_saver.errors import CheckpointError

from ..options import ConversionOptions
from . import transfer
from .choices import digest_fields
from .discover import MANIFEST_NAME, Discovery, Item, discover
from .engines import open_engine
from .guard import check_roots
from .item import Job, Outcome
from .lock import DestinationLock
from .manifest import DONE, FAILED, PARTIAL, REFUSED, Manifest, options_digest
from .progress import Progress, Throughput
from .states import rewrite_state_files
from .summary import BatchSummary, summarize
from .walk import is_local_fs

STATUS = {"done": DONE, "failed": FAILED, "refused": REFUSED}


def run_batch(
    src_root: str, dst_root: str, *, options: ConversionOptions | None = None,
    jobs: int | None = None, resume: bool = True, progress: bool = True, dry_run: bool = False,
    engine: str = "local", scheduler: str | None = None,
) -> BatchSummary:  # fmt: skip
    """Convert every checkpoint under ``src_root`` into ``dst_root``.

    Args:
        src_root: a directory or fsspec URL.
        dst_root: a directory or fsspec URL (created if needed).
        options: how items are converted (default ``ConversionOptions()``: tf2); passed
            unchanged to each item's converter, narrowed to what applies to it.
        jobs: workers; default ``os.cpu_count()``. With ``local``, 1 runs in-process.
        resume: skip items the manifest records as done from unchanged sources.
        progress: show progress on stderr (a bar on a terminal, lines otherwise).
        dry_run: discover and decide, write nothing: items that would be converted
            are listed as ``would convert`` (``would fail`` when their index is bad),
            current ones as ``skipped``, foreign destinations as ``refused``.
        engine: ``"local"`` or ``"dask"`` (see ``converters.batch.engines``).
        scheduler: with ``dask``, the scheduler address (else a LocalCluster).

    Raises:
        FileNotFoundError: ``src_root`` does not exist.
        CheckpointExistsError: ``dst_root`` is or contains ``src_root``.
        BatchLockedError: another batch holds ``dst_root``.
        SchedulerLostError: the Dask scheduler went away (rerun to resume).
    """
    start = time.perf_counter()
    options = options or ConversionOptions()
    src_fs, src_path = transfer.fs_for(src_root)
    dst_fs, dst_path = transfer.fs_for(dst_root)
    for fs in (src_fs, dst_fs):
        fs.invalidate_cache()  # listings cached by an earlier batch in this process are stale
    if not _storage(src_root, src_fs.isdir, src_path):
        raise FileNotFoundError(f"{src_root} is not a directory")
    exclude = check_roots(src_fs, src_path, dst_fs, dst_path, src_root, dst_root)
    if dry_run:
        return _dry_run(src_root, dst_root, src_fs, src_path, dst_fs, dst_path, exclude,
                        options, resume, start, engine)  # fmt: skip
    with DestinationLock(dst_fs, dst_root, dst_path):
        if is_local_fs(dst_fs):  # we hold the lock: a manifest temporary is a killed run's
            transfer.remove_stale_temps(os.path.join(dst_path, MANIFEST_NAME))
        found = _storage(src_root, lambda: discover(src_fs, src_path, exclude=exclude))
        old = Manifest.load(dst_fs, dst_path)
        manifest = Manifest(dst_fs, dst_path, src_root, dict(old.items) if resume else {},
                            state_files=list(old.state_files))  # fmt: skip
        digest = options_digest(digest_fields(options))
        todo, skipped, refused = _plan(found, manifest, old, digest, resume, options,
                                       src_root, dst_root)  # fmt: skip
        outcomes = dict(refused)
        throughput = Throughput()
        by_rel = {i.rel: i for i in found.items}
        for rel, outcome in refused.items():
            manifest.items[rel] = _record(by_rel[rel], outcome, digest)
        for job in todo:
            manifest.items[job.item.rel] = _entry(job.item, digest, PARTIAL, owned=True)
        manifest.save()
        bar = Progress(len(todo), progress)
        try:
            for outcome in _execute(todo, engine, jobs, scheduler, bar):
                outcomes[outcome.rel] = outcome
                throughput.add(outcome)
                manifest.items[outcome.rel] = _record(by_rel[outcome.rel], outcome, digest)
                manifest.save(force=False)
                bar(outcome)
        finally:
            bar.close()
            manifest.flush()
        states = rewrite_state_files(found, manifest, src_root, dst_root,
                                     overwrite=options.overwrite)  # fmt: skip
        if states.written:
            manifest.save()
    return summarize(
        src_root, dst_root, found, skipped, outcomes, time.perf_counter() - start, would={},
        state_files=tuple(states.written), engine=engine, workers=tuple(throughput.to_json()),
        problems={**found.problems, **states.problems}, warnings=tuple(states.warnings),
    )  # fmt: skip


def _storage(url: str, call: Any, *args: Any) -> Any:
    """``call(*args)``, with a storage error that names no place (botocore's
    "Unable to locate credentials") raised as an ``OSError`` naming ``url``."""
    try:
        return call(*args)
    except (CheckpointError, FileNotFoundError):
        raise
    except Exception as exc:  # noqa: BLE001 - any storage client's error, named
        raise OSError(f"{url}: {type(exc).__name__}: {exc}") from None


def _execute(todo: list[Job], engine: str, jobs: int | None, scheduler: str | None,
             bar: Progress) -> Any:  # fmt: skip
    if not todo:
        return
    with open_engine(engine, jobs, len(todo), scheduler) as runner:
        yield from runner.run(todo, bar.ready)


def _dry_run(src_root: str, dst_root: str, src_fs: Any, src_path: str, dst_fs: Any,
             dst_path: str, exclude: str | None, options: ConversionOptions, resume: bool,
             start: float, engine: str) -> BatchSummary:  # fmt: skip
    found = _storage(src_root, lambda: discover(src_fs, src_path, exclude=exclude))
    old = Manifest.load(dst_fs, dst_path)
    manifest = Manifest(dst_fs, dst_path, src_root, dict(old.items) if resume else {})
    digest = options_digest(digest_fields(options))
    todo, skipped, refused = _plan(found, manifest, old, digest, resume, options,
                                   src_root, dst_root)  # fmt: skip
    would = {j.item.rel: index_problem(j.item, src_root) for j in todo}
    return summarize(src_root, dst_root, found, skipped, dict(refused),
                     time.perf_counter() - start, would=would, state_files=(), engine=engine,
                     problems=dict(found.problems))  # fmt: skip


def index_problem(item: Item, src_root: str) -> str | None:
    """Why ``item`` would fail, from its index alone (None when it looks
    convertible): a special file, an unreadable or corrupt index, a tensor
    that points past the end of its shard."""
    if item.problem:
        return item.problem
    if transfer.is_url(src_root):
        path = f"{src_root.rstrip('/')}/{item.rel}"
    else:
        path = os.path.join(transfer.local_path(src_root), *item.rel.split("/"))
    sizes = {f.rel: f.size for f in item.files}
    try:
        with load_checkpoint(path) as reader:
            bundle = reader.bundle
            entries = list(bundle.entries()) if bundle is not None else []
            shards = bundle.num_shards if bundle is not None else 0
            for entry in entries:
                shard = data_path(item.rel, entry.shard_id, shards)
                end = entry.offset + entry.size
                if not entry.slices and end > sizes.get(shard, -1):
                    have = sizes.get(shard)
                    found = "is missing" if have is None else f"has {have} bytes"
                    return (f"{shard}: tensor {entry.key!r} needs bytes up to {end}, the shard "
                            f"{found}")  # fmt: skip
    except (ValueError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _plan(
    found: Discovery, manifest: Manifest, old: Manifest, digest: str, resume: bool,
    options: ConversionOptions, src_root: str, dst_root: str,
) -> tuple[list[Job], list[str], dict[str, Outcome]]:  # fmt: skip
    """Jobs to run, items skipped (current), and destinations refused."""
    todo, skipped, refused = [], [], {}
    for item in found.items:
        if resume and manifest.is_current(item.rel, item.fingerprint(), digest):
            if _outputs_exist(manifest, item.rel):
                skipped.append(item.rel)
                continue
        owned = old.owns(item.rel)
        if not owned and not options.overwrite:
            present = outputs_present(manifest.fs, manifest.root, item)
            if present:
                reason = (f"{dst_root.rstrip('/')}/{present} exists and this batch did not "
                          "write it; pass --overwrite to replace it")  # fmt: skip
                refused[item.rel] = Outcome(item.rel, REFUSED, reason, None, item.size, 0.0)
                continue
        todo.append(Job(item, src_root, dst_root, options, may_replace=owned))
    return todo, skipped, refused


def outputs_present(fs: Any, root: str, item: Item) -> str | None:
    """The first file (relative) already where ``item`` would write, else None."""
    root = root.rstrip("/")
    extras = [f.rel for f in item.extras]
    if is_local_fs(fs):
        prefix = os.path.join(root, *item.rel.split("/"))
        there = files_of(prefix) + [p for p in (os.path.join(root, *r.split("/")) for r in extras)
                                    if os.path.lexists(p)]  # fmt: skip
        return os.path.relpath(there[-1], root).replace(os.sep, "/") if there else None
    names = [item.rel + ".index", item.rel + ".meta", *extras]
    return next((n for n in names if fs.exists(f"{root}/{n}")), None)


def _outputs_exist(manifest: Manifest, rel: str) -> bool:
    outputs = manifest.items[rel].get("outputs") or []
    root = manifest.root.rstrip("/")
    return all(manifest.fs.exists(f"{root}/{o}") for o in outputs)


def _entry(item: Item, digest: str, status: str, *, owned: bool) -> dict[str, Any]:
    return {
        "fingerprint": item.fingerprint(), "options": digest, "status": status, "owned": owned,
        "reason": None, "action": None, "bytes": item.size, "seconds": 0.0, "outputs": [],
        "report": None,
    }  # fmt: skip


def _record(item: Item, outcome: Outcome, digest: str) -> dict[str, Any]:
    entry = _entry(item, digest, STATUS[outcome.status], owned=outcome.status != REFUSED)
    entry.update(
        reason=outcome.reason, action=outcome.action, seconds=round(outcome.seconds, 3),
        outputs=list(outcome.outputs), report=outcome.report,
    )  # fmt: skip
    return entry
