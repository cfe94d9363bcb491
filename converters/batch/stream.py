"""Converting between object stores without a local copy.

When both SRC_ROOT and DST_ROOT are fsspec URLs, a worker streams each V2
item: the source ``.index`` is read, then each data shard in ranged reads of
``STREAM_CHUNK_BYTES``, and the destination is written through the storage
write side (``legacy_saver.bundle.storage``: data objects as multipart uploads
of bounded parts; ``publish.publish_bundle``: data first, the ``.index`` last),
so memory stays at a chunk plus an upload part, whatever the checkpoint's size,
and an upload that fails or is killed leaves no ``.index`` under the final name.

Every byte is checked against the source's crc32c on the way through:

* ``copy`` (object-based under ``--to tf2``, name-based under ``tf1``/``v2``):
  each data shard is passed through verbatim while the crc32c of every tensor
  it holds is computed over the bytes in flight and compared with the index;
  the ``.index`` is copied last, so the destination is byte-identical to a
  local copy. String tensors, whose entry checksum is not over their stored
  bytes, are also read back through the reader, which applies TensorFlow's
  rule.
* a conversion (``tf1_to_tf2``, ``tf2_to_tf1``): the converter's own plan,
  carried out as the executor does (stored order; identity copies appended by
  ``BundleWriter.add_copy`` from ranged reads, each copy's crc32c compared with
  the source's; anything else decoded, transformed and re-encoded), so the
  result is the one a local conversion writes; the plan record follows.

V1 sources, big-endian bundles and partitioned string tensors are not
streamed: ``NotStreamable`` sends them through a local temporary copy
(``item._local_source``).
"""

from __future__ import annotations

from typing import Any, BinaryIO

from legacy_saver.bundle import BundleWriter, DType, load_checkpoint
from legacy_saver.bundle.coding import crc32c, unmask_crc
from legacy_saver.bundle.entry import BundleEntry
from legacy_saver.bundle.naming import data_path, index_path, plan_path
from legacy_saver.bundle.publish import plan_count, publish_bundle, reheader_index
from legacy_saver.bundle.reader import BundleReader
from legacy_saver.bundle.storage import Staged, storage_for
from legacy_saver.errors import CorruptCheckpointError

from ..options import ConversionOptions
from . import transfer

STREAM_CHUNK_BYTES = 8 << 20  # one ranged read (and at most this much held) at a time


class NotStreamable(Exception):
    """This item needs a local copy (see the module docstring)."""


def stream_item(src: str, dst: str, action: str, options: ConversionOptions) -> dict[str, Any]:
    """Convert (or copy) the checkpoint at URL ``src`` to URL ``dst``; a report dict.

    The report of a conversion carries its ``plan`` (popped by the callers that
    keep the report as JSON).

    Raises:
        NotStreamable: the item needs a local copy.
        CorruptCheckpointError: a tensor's bytes do not match its crc32c (nothing
            is published).
    """
    with load_checkpoint(src) as reader:
        bundle = reader.bundle
        if bundle is None or bundle.big_endian:
            raise NotStreamable(f"{src} is not a little-endian V2 checkpoint")
        if action == "copy":
            return _copy(bundle, src, dst)
        return _convert(reader, bundle, src, dst, action, options)


def _open(src_url: str, path: str) -> BinaryIO:
    """The data shard ``path`` (an inner path beside ``src_url``) for ranged reads."""
    fs, _ = transfer.fs_for(src_url)
    return fs.open(path, "rb", block_size=0, cache_type="none")  # type: ignore[no-any-return]


def _copy(bundle: BundleReader, src: str, dst: str) -> dict[str, Any]:
    storage, prefix = storage_for(dst)
    n = bundle.num_shards
    stored = [bundle.entry(k) for k in bundle.raw_keys()]
    stored = [e for e in stored if not e.slices]
    strings = [e for e in stored if e.dtype is DType.STRING]
    names = set(bundle.keys())
    if any(e.key not in names for e in strings):
        raise NotStreamable(f"{src} has partitioned string tensors")
    string_keys = {e.key for e in strings}
    count = plan_count(storage, prefix, n)
    staged: list[Staged] = []
    try:
        for shard in range(n):
            out = storage.create(data_path(prefix, shard, count))
            staged.append(out)
            mine = sorted((e for e in stored if e.shard_id == shard and e.key not in string_keys),
                          key=lambda e: e.offset)  # fmt: skip
            with _open(src, bundle.data_file(shard)) as source:
                _pass_through(source, bundle.data_file(shard), mine, out)
        for entry in strings:  # TensorFlow's string checksum rule, applied by the reader
            bundle.get_tensor(entry.key)
        raw = bytes(transfer.fs_for(src)[0].cat_file(bundle.index_file))
    except BaseException:
        for s in staged:
            s.discard()
        raise

    def index_for(final_count: int) -> Staged:
        out = storage.create(index_path(prefix), whole=True)
        out.write(raw if final_count == n else reheader_index(raw, final_count))
        return out

    publish_bundle(storage, prefix, staged, index_for, count=count)
    return {"action": "copy", "tensors": len(stored), "files": n + 1, "streamed": True}


def _pass_through(source: BinaryIO, path: str, entries: list[BundleEntry], out: Staged) -> None:
    """Copy all of ``source`` to ``out`` in chunks, checking the crc32c of each of
    ``entries`` (sorted by offset) over the bytes as they pass."""
    pos, i, active = 0, 0, {}  # active: entry index -> running crc
    while True:
        chunk = source.read(STREAM_CHUNK_BYTES)
        if not chunk:
            break
        end = pos + len(chunk)
        while i < len(entries) and entries[i].offset < end:
            active[i] = 0
            i += 1
        for j in list(active):
            e = entries[j]
            lo, hi = max(e.offset, pos) - pos, min(e.offset + e.size, end) - pos
            active[j] = crc32c(memoryview(chunk)[lo:hi], active[j]) if hi > lo else active[j]
            if e.offset + e.size <= end:
                if active.pop(j) != unmask_crc(e.crc32c):
                    raise CorruptCheckpointError(f"{path}: checksum mismatch for tensor {e.key!r}")
        out.write(chunk)
        pos = end
    short = [entries[j] for j in active] + entries[i:]
    if short:
        raise CorruptCheckpointError(
            f"{path} has {pos} bytes; tensor {short[0].key!r} needs bytes up to "
            f"{short[0].offset + short[0].size}"
        )


def _convert(reader: Any, bundle: BundleReader, src: str, dst: str, action: str,
             options: ConversionOptions) -> dict[str, Any]:  # fmt: skip
    from converters import api
    from converters.record import encode_plan_record
    from converters.rules import apply_transform

    from .choices import item_options

    item = item_options(action, options)
    the_plan = api.plan(reader, item)
    order = sorted(the_plan.actions, key=lambda a: _where(bundle, a.src))
    sources: dict[int, BinaryIO] = {}
    copied = reencoded = 0
    try:
        with BundleWriter(dst, num_shards=bundle.num_shards, fsync=False, overwrite=True) as w:
            for a in order:
                e = bundle.entry(a.src)
                if a.transform.is_identity and not e.slices and e.dtype is not DType.STRING:
                    if e.shard_id not in sources:
                        bundle.open_data(e)  # bounds-checked: a short shard names the tensor
                        sources[e.shard_id] = _open(src, bundle.data_file(e.shard_id))
                    written = w.add_copy(a.dst, e.dtype_enum, e.shape, sources[e.shard_id],
                                         e.offset, e.size, e.crc32c, shard=e.shard_id)  # fmt: skip
                    if w.written_crc32c(written) != unmask_crc(e.crc32c):
                        raise CorruptCheckpointError(
                            f"{bundle.data_file(e.shard_id)}: checksum mismatch for tensor "
                            f"{a.src!r}"
                        )
                    copied += e.size
                    continue
                value: Any = apply_transform(reader.get_tensor(a.src), a.transform)
                w.add(a.dst, value)
                reencoded += int(value.nbytes) if value.dtype != object else 0
            for key, value in _extras(the_plan).items():
                w.add(key, value)
    finally:
        for f in sources.values():
            f.close()
    if item.record_plan:
        fs, inner = transfer.fs_for(dst)
        record = encode_plan_record(action, the_plan, bytes(fs.cat_file(index_path(inner))))
        fs.pipe_file(plan_path(inner), record)
    return {"kind": action, "tensors": len(the_plan.actions), "bytes_copied": copied,
            "bytes_reencoded": reencoded, "streamed": True, "plan": the_plan}  # fmt: skip


def _where(bundle: BundleReader, key: str) -> tuple[int, int]:
    e = bundle.entry(key)
    return (e.shard_id, e.offset) if not e.slices else (1 << 62, 0)


def _extras(plan: Any) -> dict[str, object]:
    import numpy as np

    from legacy_saver.bundle.naming import OBJECT_GRAPH_KEY

    extra = dict(plan.extra)
    if plan.object_graph is not None:
        extra[OBJECT_GRAPH_KEY] = np.array(plan.object_graph, dtype=object)
    return extra
