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
import socket
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from legacy_saver.bundle import DType, load_checkpoint
from legacy_saver.bundle.fileio import copy_file_atomic
from legacy_saver.bundle.reader import READ_CHUNK_BYTES
from legacy_saver.errors import CheckpointError, CheckpointExistsError

from ..options import ConversionOptions
from . import transfer
from .choices import choose_action_for, item_options
from .discover import Item
from .guard import check_item_destination


@dataclass(frozen=True)
class Job:
    item: Item
    src_root: str
    dst_root: str
    options: ConversionOptions
    may_replace: bool  # the manifest says this batch wrote the destination


@dataclass(frozen=True)
class Outcome:
    rel: str
    status: str  # "done" | "failed" | "refused"
    reason: str | None
    action: str | None
    bytes: int
    seconds: float
    outputs: tuple[str, ...] = ()
    report: dict[str, Any] | None = field(default=None)
    worker: str = ""  # "host:pid" of the process that ran it


def convert_item(job: Job) -> Outcome:
    """Convert ``job.item`` from SRC_ROOT to the same place under DST_ROOT.

    Never raises: a destination that is not ours to write is ``refused``
    (``CheckpointExistsError``), anything else that goes wrong is ``failed``.
    """
    start = time.perf_counter()
    item = job.item
    size = item.size + (item.meta.size if item.meta else 0)
    action: str | None = None
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def ended(status: str, reason: str | None, outputs: tuple[str, ...] = (),
              report: dict[str, Any] | None = None) -> Outcome:  # fmt: skip
        seconds = time.perf_counter() - start
        return Outcome(item.rel, status, reason, action, size, seconds, outputs, report, worker)

    if item.problem:
        return ended("failed", item.problem)
    try:
        streamed = _streamed(job)
        if streamed is not None:
            action, outputs, report = streamed
            return ended("done", None, outputs, report)
        with tempfile.TemporaryDirectory(prefix="legacy-ckpt-") as tmp:
            src = _local_source(job, tmp)
            dst, remote = _local_destination(job, tmp)
            action = choose_action(src, job.options.to)
            report = _run(action, src, dst, job.options)
            _copy_companions(item, src, dst)
            outputs = _publish(dst, remote, job)
    except CheckpointExistsError as exc:
        return ended("refused", str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad checkpoint must not stop the batch
        return ended("failed", _reason(exc, job))
    return ended("done", None, outputs, report)


def _streamed(job: Job) -> tuple[str, tuple[str, ...], dict[str, Any]] | None:
    """URL to URL: convert without a local copy (``stream``); None when the item
    needs one (V1 and the like) or either side is local."""
    from .stream import NotStreamable, stream_item

    item = job.item
    if not (transfer.is_url(job.src_root) and transfer.is_url(job.dst_root)) or item.kind == "v1":
        return None
    src, dst = f"{job.src_root.rstrip('/')}/{item.rel}", f"{job.dst_root.rstrip('/')}/{item.rel}"
    fs, root = transfer.fs_for(job.dst_root)
    remote = f"{root.rstrip('/')}/{item.rel}"
    if not (job.may_replace or job.options.overwrite) and fs.exists(remote + ".index"):
        raise CheckpointExistsError(f"{dst}.index exists and this batch did not write it; "
                                    "pass --overwrite to replace it")  # fmt: skip
    with load_checkpoint(src) as reader:
        action = choose_action_for(reader, job.options.to)
    try:
        report = stream_item(src, dst, action, job.options)
    except NotStreamable:
        return None
    report.pop("plan", None)
    src_fs, src_inner = transfer.fs_for(job.src_root)
    base = src_inner.rstrip("/")
    companions = [f.rel for f in ([item.meta] if item.meta else [])] + [f.rel for f in item.extras]
    for rel in companions:  # small files: one GET, one PUT each
        fs.pipe_file(f"{root.rstrip('/')}/{rel}", src_fs.cat_file(f"{base}/{rel}"))
    directory = remote.rsplit("/", 1)[0]
    fs.invalidate_cache(directory)
    outputs = sorted(str(p)[len(root.rstrip("/")) + 1 :] for p in fs.ls(directory, detail=False)
                     if _output_of(str(p), remote))  # fmt: skip
    return action, tuple(companions + [o for o in outputs if o not in companions]), report


def _output_of(path: str, prefix: str) -> bool:
    from legacy_saver.bundle.naming import checkpoint_prefix_of

    return checkpoint_prefix_of(path) == prefix


def _reason(exc: BaseException, job: Job) -> str:
    """``Type: message``, naming the URL when a storage error does not (a missing
    credential says "Unable to locate credentials", not where)."""
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, CheckpointError):
        return reason
    urls = [r for r in (job.src_root, job.dst_root) if transfer.is_url(r)]
    if urls and not any(u.split("://", 1)[1].strip("/") in reason for u in urls):
        reason += f" (while converting {job.item.rel} from {job.src_root} to {job.dst_root})"
    return reason


def _local_source(job: Job, tmp: str) -> str:
    item = job.item
    if not transfer.is_url(job.src_root):
        return os.path.join(transfer.local_path(job.src_root), *item.rel.split("/"))
    fs, root = transfer.fs_for(job.src_root)
    transfer.download(fs, root, [f.rel for f in item.all_files()], os.path.join(tmp, "src"))
    return os.path.join(tmp, "src", *item.rel.split("/"))


def _local_destination(job: Job, tmp: str) -> tuple[str, tuple[Any, str] | None]:
    """Where to write locally, and the remote (fs, prefix) to upload to."""
    rel = job.item.rel
    allowed = job.may_replace or job.options.overwrite
    if transfer.is_url(job.dst_root):
        fs, root = transfer.fs_for(job.dst_root)
        remote = f"{root.rstrip('/')}/{rel}"
        if not allowed and fs.exists(remote + ".index"):
            raise CheckpointExistsError(
                f"{job.dst_root}/{rel}.index exists and this batch did not write it; "
                "pass --overwrite to replace it"
            )
        return os.path.join(tmp, "dst", *rel.split("/")), (fs, remote)
    root = transfer.local_path(job.dst_root)
    dst = os.path.join(root, *rel.split("/"))
    src = os.path.join(transfer.local_path(job.src_root), *rel.split("/"))
    check_item_destination(dst, root, src if not transfer.is_url(job.src_root) else "")
    if not allowed and os.path.exists(dst + ".index"):
        raise CheckpointExistsError(
            f"{dst}.index exists and this batch did not write it; pass --overwrite to replace it"
        )
    transfer.remove_stale_temps(dst)
    if os.path.exists(dst + ".index"):  # replacing: the old checkpoint stops existing first,
        os.remove(dst + ".index")  # so new shards never sit beside the old index
    return dst, None


def _copy_companions(item: Item, src: str, dst: str) -> None:
    """The .meta, and a SavedModel's graph and assets, copied as they are."""
    if item.meta:
        transfer.copy_regular(src + ".meta", dst + ".meta")
    src_base, dst_base = _root_of(src, item.rel), _root_of(dst, item.rel)
    for f in item.extras:
        parts = f.rel.split("/")
        transfer.copy_regular(os.path.join(src_base, *parts), os.path.join(dst_base, *parts))


def _root_of(prefix: str, rel: str) -> str:
    """The root directory that ``prefix`` (ending in ``rel``) lies under."""
    depth = len(rel.split("/"))
    root = prefix
    for _ in range(depth):
        root = os.path.dirname(root)
    return root


def choose_action(src: str, to: str) -> str:
    """The library function (or ``"copy"``) for source ``src`` and target ``to``."""
    with load_checkpoint(src) as reader:
        return choose_action_for(reader, to)


def _run(action: str, src: str, dst: str, options: ConversionOptions) -> dict[str, Any]:
    if action == "copy":
        return copy_checkpoint(src, dst, link=options.link)
    from .remote import convert_any

    conversion = item_options(action, options)  # overwrite: _local_destination decided
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
    """The outputs relative to DST_ROOT (uploading them first when it is a URL):
    a SavedModel's files, then the checkpoint's, the ``.index`` last."""
    base = _root_of(dst, job.item.rel)
    extras = [os.path.join(base, *f.rel.split("/")) for f in job.item.extras]
    local = extras + transfer.checkpoint_outputs(dst)
    rels = [os.path.relpath(p, base).replace(os.sep, "/") for p in local]
    if remote is not None:
        fs, root = transfer.fs_for(job.dst_root)
        transfer.upload(
            fs, [(p, f"{root.rstrip('/')}/{r}") for p, r in zip(local, rels, strict=True)]
        )
    return tuple(rels)
