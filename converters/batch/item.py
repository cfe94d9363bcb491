"""Convert one discovered checkpoint: the work a batch worker process does.

``convert_item`` never raises: whatever goes wrong becomes a ``failed``
outcome with the reason, so one bad checkpoint cannot stop a batch. Which
library function runs depends on the source and ``--to``:

==========  ====================  ==================  =================
``--to``    name-based V2         name-based V1       object-based
==========  ====================  ==================  =================
tf2         ``tf1_to_tf2``        ``tf1_to_tf2``      copy
tf1         copy                  ``v1_to_v2``        ``tf2_to_tf1``
v2          copy                  ``v1_to_v2``        copy
==========  ====================  ==================  =================

A copy verifies every tensor's checksum before it counts as done.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from legacy_saver.bundle import DType, load_checkpoint
from legacy_saver.bundle.fileio import copy_file_atomic
from legacy_saver.bundle.reader import READ_CHUNK_BYTES

from ..options import ConversionOptions, OptimizerMode, TargetFormat
from . import transfer
from .discover import Item


@dataclass(frozen=True)
class BatchOptions:
    """How every item of a batch is converted (``legacy-ckpt batch`` flags)."""

    to: str = "tf2"
    rules: str | None = None
    optimizer: str = "keep"
    link: bool = False
    overwrite: bool = False

    def digest_fields(self) -> dict[str, Any]:
        rules = self.rules
        if rules and os.path.exists(rules):
            st = os.stat(rules)
            rules = f"{rules}:{st.st_size}:{st.st_mtime_ns}"
        return {"to": self.to, "rules": rules, "optimizer": self.optimizer}


@dataclass(frozen=True)
class Job:
    item: Item
    src_root: str
    dst_root: str
    options: BatchOptions
    may_replace: bool  # the manifest says this batch wrote the destination


@dataclass(frozen=True)
class Outcome:
    rel: str
    status: str  # "done" | "failed"
    reason: str | None
    action: str | None
    bytes: int
    seconds: float
    outputs: tuple[str, ...] = ()
    report: dict[str, Any] | None = field(default=None)


def convert_item(job: Job) -> Outcome:
    """Convert ``job.item`` from SRC_ROOT to the same place under DST_ROOT."""
    start = time.perf_counter()
    item = job.item
    size = item.size + (item.meta.size if item.meta else 0)
    action: str | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="legacy-ckpt-") as tmp:
            src = _local_source(job, tmp)
            dst, remote = _local_destination(job, tmp)
            action = choose_action(src, job.options.to)
            report = _run(action, src, dst, job.options)
            if item.meta:
                copy_file_atomic(src + ".meta", dst + ".meta")
            outputs = _publish(dst, remote, job)
    except Exception as exc:  # noqa: BLE001 - one bad checkpoint must not stop the batch
        reason = f"{type(exc).__name__}: {exc}"
        return Outcome(item.rel, "failed", reason, action, size, time.perf_counter() - start)
    return Outcome(
        item.rel, "done", None, action, size, time.perf_counter() - start, outputs, report
    )


def _local_source(job: Job, tmp: str) -> str:
    item = job.item
    if not transfer.is_url(job.src_root):
        return os.path.join(transfer.local_path(job.src_root), *item.rel.split("/"))
    fs, root = transfer.fs_for(job.src_root)
    rels = [f.rel for f in item.files] + ([item.meta.rel] if item.meta else [])
    transfer.download(fs, root, rels, os.path.join(tmp, "src"))
    return os.path.join(tmp, "src", *item.rel.split("/"))


def _local_destination(job: Job, tmp: str) -> tuple[str, tuple[Any, str] | None]:
    """Where to write locally, and the remote (fs, prefix) to upload to."""
    rel = job.item.rel
    allowed = job.may_replace or job.options.overwrite
    if transfer.is_url(job.dst_root):
        fs, root = transfer.fs_for(job.dst_root)
        remote = f"{root.rstrip('/')}/{rel}"
        if not allowed and fs.exists(remote + ".index"):
            raise FileExistsError(
                f"{job.dst_root}/{rel}.index exists; pass --overwrite to replace it"
            )
        return os.path.join(tmp, "dst", *rel.split("/")), (fs, remote)
    dst = os.path.join(transfer.local_path(job.dst_root), *rel.split("/"))
    if not allowed and os.path.exists(dst + ".index"):
        raise FileExistsError(f"{dst}.index exists; pass --overwrite to replace it")
    transfer.remove_stale_temps(dst)
    if os.path.exists(dst + ".index"):  # replacing: the old checkpoint stops existing first,
        os.remove(dst + ".index")  # so new shards never sit beside the old index
    return dst, None


def choose_action(src: str, to: str) -> str:
    """The library function (or ``"copy"``) for source ``src`` and target ``to``."""
    with load_checkpoint(src) as reader:
        object_based, version = reader.is_object_based, reader.format_version
    if to == "tf2":
        return "copy" if object_based else "tf1_to_tf2"
    if to == "tf1":
        return "tf2_to_tf1" if object_based else ("v1_to_v2" if version == 1 else "copy")
    if to == "v2":
        return "v1_to_v2" if version == 1 else "copy"
    raise ValueError(f"unknown target format {to!r} (expected tf2, tf1 or v2)")


def _run(action: str, src: str, dst: str, options: BatchOptions) -> dict[str, Any]:
    if action == "copy":
        return copy_checkpoint(src, dst, link=options.link)
    from .remote import convert_any

    to = {"tf1_to_tf2": "tf2", "tf2_to_tf1": "tf1", "v1_to_v2": "v2"}[action]
    conversion = ConversionOptions(
        to=TargetFormat(to), overwrite=True
    )  # _local_destination decided
    if to != "v2":
        conversion = conversion.but(rules=options.rules, optimizer=OptimizerMode(options.optimizer))
    if to == "tf2":
        conversion = conversion.but(link=options.link)
    report = convert_any(src, dst, conversion).to_dict()
    return {  # the manifest keeps counts; `legacy-ckpt convert --json` has the full report
        "kind": report["kind"], "tensors": len(report["actions"]),
        "dropped": len(report["dropped"]), "unmatched": len(report["unmatched"]),
        "bytes_copied": report["bytes_copied"], "bytes_reencoded": report["bytes_reencoded"],
        "linked": report["linked"], "notes": list(report["notes"]),
    }  # fmt: skip


def copy_checkpoint(src: str, dst: str, *, link: bool = False) -> dict[str, Any]:
    """Copy a V2 checkpoint file by file (the ``.index`` last), after checking
    every tensor's checksum. ``link`` hard-links instead of copying."""
    with load_checkpoint(src) as reader:
        bundle = reader.bundle
        if bundle is None:
            raise ValueError(f"{src} is a V1 checkpoint; copy handles V2 only")
        buffer = bytearray(min(READ_CHUNK_BYTES, 1 << 20))
        tensors = 0
        for key in bundle.raw_keys():
            entry = bundle.entry(key)
            if entry.slices:
                continue  # a partitioned tensor's bytes live in its slice entries
            if entry.dtype is DType.STRING:  # its checksum covers the decoded layout
                bundle.get_tensor(key)
                tensors += 1
                continue
            if entry.size > len(buffer):
                buffer = bytearray(entry.size)
            bundle.read_into(entry, memoryview(buffer)[: entry.size])
            tensors += 1
        files = [bundle.data_file(i) for i in range(bundle.num_shards)] + [bundle.index_file]
    for path in files:
        copy_file_atomic(path, dst + path[len(reader.prefix) :], link=link)
    return {"action": "copy", "tensors": tensors, "files": len(files)}


def _publish(dst: str, remote: tuple[Any, str] | None, job: Job) -> tuple[str, ...]:
    local = transfer.checkpoint_outputs(dst)
    base = transfer.local_path(job.dst_root).rstrip("/")
    if remote is None:
        return tuple(os.path.relpath(p, base).replace(os.sep, "/") for p in local)
    fs, prefix = remote
    pairs = [(p, prefix + p[len(dst) :]) for p in local]
    transfer.upload(fs, pairs)
    root = transfer.fs_for(job.dst_root)[1].rstrip("/")
    return tuple(r[len(root) + 1 :] for _, r in pairs)
