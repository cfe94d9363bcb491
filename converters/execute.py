"""Carrying out a ``Plan``: the only converter code that reads tensor bytes
and writes a checkpoint.

* An identity action on a stored (unsliced, little-endian V2) entry is a byte
  copy made inside the kernel (``copy_file_range``; a buffered copy where the
  OS has none) into the new data shard under the entry's own checksum; a worker
  thread reads each copy back from the new shard and checks that checksum while
  the next tensor copies, and nothing is committed until every check passed.
  The value is never decoded, and copied and checked bytes never pass through a
  Python buffer (the check reads the new shard through ``mmap``).
* Anything else (a transform, a partitioned or V1 source) is decoded, changed
  and re-encoded, one tensor at a time.
* The destination keeps the source's shard count and each copied tensor stays
  in its shard. It is written by ``BundleWriter``: temporary names, index last,
  so a failed conversion leaves no checkpoint behind.
* ``link=True`` with a plan of identity copies only: the source data shards are
  hard-linked (falling back to a copy, with a note, where linking fails) and
  only a new index is written, pointing at the same offsets, plus one small
  extra shard for new tensors (the object graph); all of it under a temporary
  prefix, then published as the destination in one switch, as
  ``BundleWriter`` publishes (``bundle.publish``).
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from legacy_saver.bundle import BundleWriter, CheckpointReader, DType
from legacy_saver.bundle.coding import unmask_crc
from legacy_saver.bundle.entry import BundleEntry
from legacy_saver.bundle.fileio import copy_file_atomic
from legacy_saver.bundle.files import files_of
from legacy_saver.bundle.naming import OBJECT_GRAPH_KEY, data_path, index_path, temp_path
from legacy_saver.bundle.publish import publish_prefix
from legacy_saver.bundle.writer import write_index
from legacy_saver.errors import CorruptCheckpointError

from .options import ConversionOptions
from .plan import Action, Plan
from .rules import apply_transform


@dataclass
class ExecuteResult:
    bytes_copied: int = 0
    bytes_reencoded: int = 0
    linked: bool = False
    notes: list[str] = field(default_factory=list)


def _extras(plan: Plan) -> dict[str, object]:
    extra = dict(plan.extra)
    if plan.object_graph is not None:
        extra[OBJECT_GRAPH_KEY] = np.array(plan.object_graph, dtype=object)
    return extra


def _copyable(entry: BundleEntry | None, bundle: object, action: Action) -> bool:
    """Whether ``action`` is a byte copy of a stored entry under its own checksum.

    String tensors are not: TensorFlow's entry crc for strings covers the lengths as
    fixed-width integers, not the varints stored (``bundle.strings``), so they go
    through the reader, which checks them by that rule, and are written anew (the
    same bytes TensorFlow writes)."""
    return (
        entry is not None
        and not entry.slices
        and action.transform.is_identity
        and not bundle.big_endian  # type: ignore[attr-defined]
        and entry.dtype_enum != DType.STRING
    )


def can_link(plan: Plan, reader: CheckpointReader) -> str | None:
    """None when ``plan`` can be done by linking shards, else the reason not."""
    bundle = reader.bundle
    if bundle is None:
        return "the source is a V1 checkpoint"
    if bundle.big_endian:
        return "the source is big-endian"
    for action in plan.actions:
        if not action.transform.is_identity:
            return f"{action.src!r} is transformed"
        if bundle.entry(action.src).slices:
            return f"{action.src!r} is partitioned and must be merged"
    return None


def execute(
    plan: Plan, reader: CheckpointReader, dst: str, options: ConversionOptions | None = None
) -> ExecuteResult:
    """Write checkpoint ``dst`` as ``plan`` says, reading from ``reader``; ``options``
    (``link``, ``fsync``, ``overwrite``) as the caller got them."""
    options = options if options is not None else ConversionOptions()
    result = ExecuteResult()
    if options.link:
        reason = can_link(plan, reader)
        if reason is None:
            _link(plan, reader, dst, result, options.fsync)
            return result
        result.notes.append(f"link=True not possible ({reason}); copied instead")
    bundle = reader.bundle
    num_shards = bundle.num_shards if bundle is not None else 1
    # check_destination has already refused an unwanted overwrite
    with BundleWriter(dst, num_shards=num_shards, fsync=options.fsync, overwrite=True) as writer:
        copier = _Copier(reader)
        try:
            for action in _read_order(plan.actions, reader):
                copier.write(writer, action, result)
            for key, value in _extras(plan).items():
                writer.add(key, value)
            copier.wait()  # every copy checked before the writer commits
        finally:
            copier.close()
    return result


def _read_order(actions: list[Action], reader: CheckpointReader) -> list[Action]:
    """Stored order (shard, offset), so that copies read each shard sequentially."""
    bundle = reader.bundle
    if bundle is None:
        return list(actions)

    def where(a: Action) -> tuple[int, int]:
        entry = bundle.entry(a.src)
        return (entry.shard_id, entry.offset) if not entry.slices else (1 << 62, 0)

    return sorted(actions, key=where)


class _Copier:
    """Copies stored tensors in the kernel (``BundleWriter.add_copy``) while one
    worker thread reads each copy back from the new shard and checks it against
    the source's crc32c; the writer is finished only after every check passed."""

    def __init__(self, reader: CheckpointReader) -> None:
        self.reader = reader
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crc-check")
        self.checks: list[Future[None]] = []

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def write(self, writer: BundleWriter, action: Action, result: ExecuteResult) -> None:
        bundle = self.reader.bundle
        entry = bundle.entry(action.src) if bundle is not None else None
        if entry is not None and bundle is not None and _copyable(entry, bundle, action):
            shard = entry.shard_id if entry.shard_id < writer.num_shards else 0
            source = bundle.open_data(entry)  # bounds checked; the reader's own handle
            written = writer.add_copy(
                action.dst,
                entry.dtype_enum,
                entry.shape,
                source,
                entry.offset,
                entry.size,
                entry.crc32c,
                shard=shard,
            )
            self.checks.append(self.pool.submit(self._check, writer, written, entry))
            result.bytes_copied += entry.size
            return
        value = apply_transform(self.reader.get_tensor(action.src), action.transform)
        writer.add(action.dst, value)
        result.bytes_reencoded += int(value.nbytes) if value.dtype != object else 0

    def wait(self) -> None:
        """Raise the first failed check (``CorruptCheckpointError``)."""
        for check in self.checks:
            check.result()

    def _check(self, writer: BundleWriter, written: BundleEntry, source: BundleEntry) -> None:
        if writer.written_crc32c(written) != unmask_crc(source.crc32c):
            path = self.reader.bundle.data_file(source.shard_id)  # type: ignore[union-attr]
            raise CorruptCheckpointError(f"{path}: checksum mismatch for tensor {source.key!r}")


def _link(
    plan: Plan, reader: CheckpointReader, dst: str, result: ExecuteResult, fsync: bool
) -> None:
    """Build the linked checkpoint under a temporary prefix beside ``dst`` (source shards
    hard-linked, an extra shard for new tensors, a new index), then publish it as ``dst``
    in one switch (``bundle.publish``: the old checkpoint at ``dst``, if any, stays whole
    until the new index lands, and its files are never written through)."""
    bundle = reader.bundle
    assert bundle is not None  # checked by can_link
    n = bundle.num_shards
    extras = _extras(plan)
    total = n + 1 if extras else n
    directory = os.path.dirname(dst)
    if directory:
        os.makedirs(directory, exist_ok=True)
    staged = temp_path(dst)  # every file first goes under this prefix
    part = temp_path(dst)  # the extra shard's own writer
    try:
        entries: dict[str, BundleEntry] = {}
        if extras:  # the new tensors go to one extra shard, written by BundleWriter
            with BundleWriter(part, fsync=fsync) as writer:
                for key, value in extras.items():
                    writer.add(key, value)
            with CheckpointReader(part) as extra_reader:
                for key in extras:
                    e = extra_reader.bundle.entry(key)  # type: ignore[union-attr]
                    entries[key] = BundleEntry(
                        key, e.dtype_enum, e.shape, n, e.offset, e.size, e.crc32c
                    )
            os.remove(index_path(part))
            os.replace(data_path(part, 0, 1), data_path(staged, n, total))
        for action in plan.actions:
            e = bundle.entry(action.src)
            entries[action.dst] = BundleEntry(
                action.dst, e.dtype_enum, e.shape, e.shard_id, e.offset, e.size, e.crc32c
            )
        for shard in range(n):
            _link_or_copy(bundle.data_file(shard), data_path(staged, shard, total), result, fsync)
        write_index(staged, total, entries, fsync=fsync)
        publish_prefix(staged, dst, fsync=fsync)
    finally:  # whatever publish did not take is a leftover of this write
        for path in files_of(staged) + files_of(part):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
    result.bytes_copied = (
        sum(e.size for e in entries.values() if e.shard_id < n) if result.notes else 0
    )
    result.linked = not result.notes


def _link_or_copy(src: str, dst: str, result: ExecuteResult, fsync: bool) -> None:
    if not copy_file_atomic(src, dst, link=True, fsync=fsync):
        result.notes.append(f"could not hard-link {src}; copied it")
