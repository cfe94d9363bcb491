"""Publishing a checkpoint: one atomic switch from the old checkpoint of a prefix to the
new one, even when both have the same prefix.

TensorFlow's names are fixed (``P.index``, ``P.data-00000-of-00001``), so a re-save of
``P`` cannot rename new data over the old data (the old ``.index`` would meet new data)
and cannot retire the old ``.index`` first (``P`` would not exist meanwhile, and a crash
there leaves no checkpoint at all). The way out is in the names themselves: a data file
name carries the shard count (``-of-NNNNN``). A publish names its shards with a count
that no data file of ``P`` has on disk (the writer's own count when it is free, else the
next free one, adding empty shards), so new and old data files are disjoint, and renaming
the new ``.index`` over the old one is the single switch: until then ``P`` is the old
checkpoint, whole; from then on the new one, whole.

Generations. The checkpoint that was replaced keeps its data files until the next publish
of ``P`` retires them: TensorFlow's reader opens data files only when it first reads a
tensor, so one that read the old ``.index`` just before the switch still finds its data
for as long as the next re-save takes to write. At rest a re-saved prefix therefore
holds at most two generations. The count of a new generation is free of both the live
and the previous one, so it cycles through ``n``, ``n + 1``, ``n + 2``: a lazy reader
that stalls between reading the index and opening the data across one publish is
safe; across two it finds the data missing; across three it meets another
generation's bytes under the same names, which the entry checksums refuse. Our own
reader opens the shards together with the index and is never affected.
A ``BundleWriter`` that replaces ``P`` at least ``RETIRE_GRACE_S`` after its last
publish retires the older generation before writing its own data, so the peak is two
checkpoints' worth, as with any atomic replacement; back-to-back re-saves (and the
Saver's) retire at publish, a peak of three. ``files.remove_checkpoint`` removes every
generation.

Order, locally (``publish_bundle``), under an ``flock`` of the directory (publishes of one
directory on this host run one at a time)::

    1  count c := n if no data file of P has count n, else n + 1, ...
       (without a live P.index, c := n: data files there are a crashed write's, which no
       index points at, so a rewrite after a crash is byte-identical to a first write)
    2  remove the data files of P that the live P.index does not use   (previous generation)
    3  fsync + rename each new shard to P.data-i-of-c (and empty shards n .. c-1)
    4  fsync the directory
    5  remove P.sha256 (the manifest of the checkpoint being replaced)
    6  fsync + rename the new index over P.index                      <- the switch
    7  fsync the directory

On an fsspec URL the same steps run with the data objects already written under their
final names (``plan_count`` chose ``c`` when the writer opened), ``close`` in place of
rename, and no lock or fsync: object stores make each object appear whole, and the
``.index`` goes last, so an interrupted write leaves no ``.index`` under the final name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from .coding import DecodeError
from .naming import data_path, digest_path, index_path, parse_data_name
from .protos import BundleHeaderProto
from .storage import LOCAL, LocalStaged, Staged, Storage
from .table import TableBuilder, TableReader

__all__ = ["data_generations", "free_count", "live_shard_count", "plan_count",
           "publish_bundle", "publish_prefix", "reheader_index", "retire_previous"]  # fmt: skip

MAX_INDEX_BYTES_FOR_HEADER = 1 << 31  # the live index is read whole to learn its shard count
RETIRE_GRACE_S = 10.0  # a writer opening over P retires the previous generation only this
# long after P's last publish (peak disk two checkpoints); sooner, its publish does (three)


def _split(path: str) -> tuple[str, str]:
    if "/" in path or os.sep in path:
        head, _, tail = path.replace(os.sep, "/").rpartition("/")
        return head, tail
    return "", path


def data_generations(storage: Storage, prefix: str) -> dict[int, list[str]]:
    """The data files of exactly ``prefix`` on ``storage``, by shard count (exact names:
    ``naming.parse_data_name`` of each listed name, compared with the prefix's basename)."""
    directory, base = os.path.split(prefix) if storage.is_local else _split(prefix)
    found: dict[int, list[str]] = {}
    for name in sorted(storage.listdir(directory)):
        parsed = parse_data_name(name)
        if parsed is not None and parsed[0] == base:
            path = os.path.join(directory, name) if storage.is_local else f"{directory}/{name}"
            found.setdefault(parsed[2], []).append(path if directory else name)
    return found


def _header(raw: bytes) -> BundleHeaderProto:
    first = next(TableReader(raw).items(), None)
    if first is None or first[0] != b"":
        raise DecodeError("missing header entry (key '')")
    header = BundleHeaderProto()
    header.ParseFromString(first[1])
    return header


def live_shard_count(storage: Storage, prefix: str) -> int | None:
    """The shard count ``prefix.index`` declares, or None without a readable index."""
    try:
        if storage.size(index_path(prefix)) > MAX_INDEX_BYTES_FOR_HEADER:
            return None
        return int(_header(storage.read(index_path(prefix))).num_shards) or None
    except Exception:  # missing, unreadable, not an index: no live data to keep
        return None


def retire_previous(
    storage: Storage, prefix: str, keep: int | None = None, *, min_age_s: float = 0.0
) -> list[str]:
    """Remove every data file of ``prefix`` that its live ``.index`` does not use (the
    previous generation, leftovers of crashed writes), except those of shard count
    ``keep`` (a writer's own, already visible on some fsspec filesystems); return what
    was removed. With ``min_age_s``, nothing is removed unless the live ``.index`` was
    published at least that long ago (readers of the previous index get that grace)."""
    if min_age_s > 0:
        published = storage.modified(index_path(prefix))
        if published is None or time.time() - published < min_age_s:
            return []
    live = live_shard_count(storage, prefix)
    if live is None and storage.exists(index_path(prefix)):
        return []  # an index there we cannot read now (EIO, EACCES): its data may be live
    removed = []
    for count, paths in data_generations(storage, prefix).items():
        if count not in (live, keep):
            for path in paths:
                storage.remove(path)
                removed.append(path)
    return removed


def free_count(wanted: int, taken: set[int]) -> int:
    """The smallest shard count ``>= wanted`` that no data file on disk uses."""
    count = wanted
    while count in taken:
        count += 1
    return count


def plan_count(storage: Storage, prefix: str, num_shards: int) -> int:
    """For writers whose files cannot be renamed (fsspec): the count the new data files
    are named with, chosen now, free of every data file of ``prefix`` on storage (data
    objects are visible at once there: another writer's, even one that will not publish,
    must never be overwritten or deleted by this one)."""
    return free_count(num_shards, set(data_generations(storage, prefix)))


def publish_bundle(
    storage: Storage, prefix: str, data: Sequence[Staged], index: Callable[[int], Staged],
    *, fsync: bool = True, count: int | None = None,
) -> int:  # fmt: skip
    """Publish the data shards ``data`` (shard ``i`` is ``data[i]``) and then the index
    ``index(c)`` (built for the final shard count ``c``) as checkpoint ``prefix``; return
    ``c``. ``count`` is ``c`` when the data are already named for it (fsspec), else it is
    chosen here. If anything fails before the switch, what this call published is removed
    and ``prefix`` is as before. See the module docstring for the steps."""
    directory = os.path.dirname(prefix) if storage.is_local else _split(prefix)[0]
    published: list[str] = []
    with storage.lock(directory):
        on_disk = set(data_generations(storage, prefix))
        no_index = not storage.exists(index_path(prefix))
        retire_previous(storage, prefix, keep=count)
        if count is None and no_index:  # no checkpoint there: what data files were there
            count = len(data)  # were a crashed write's, read by no one; the writer's own count
        elif count is None:  # free of every count on disk a moment ago: a reader still
            count = free_count(len(data), on_disk)  # holding the retired index gets "missing"
        pending: list[Staged] = list(data)
        try:
            for shard in range(count):
                final = data_path(prefix, shard, count)
                staged = pending.pop(0) if pending else storage.create(final)
                staged.publish(fsync=fsync, path=final)
                published.append(final)
            storage.sync_dir(directory)
            storage.remove(digest_path(prefix))
            new_index = index(count)
            new_index.publish(fsync=fsync)  # the switch
        except BaseException:
            for staged in pending:
                staged.discard()
            for path in published:
                storage.remove(path)
            raise
        storage.sync_dir(directory)
    return count


def reheader_index(raw: bytes, num_shards: int) -> bytes:
    """The index ``raw`` with its header's ``num_shards`` replaced (entries unchanged,
    re-encoded as TensorFlow's ``BundleWriter`` encodes them)."""
    import io

    items = TableReader(raw).items()
    first = next(items, None)
    if first is None or first[0] != b"":
        raise DecodeError("missing header entry (key '')")
    header = BundleHeaderProto()
    header.ParseFromString(first[1])
    header.num_shards = num_shards
    out = io.BytesIO()
    table = TableBuilder(out)
    table.add(b"", header.SerializeToString(deterministic=True))
    for key, value in items:
        table.add(key, value)
    table.finish()
    return out.getvalue()


def publish_prefix(temp: str, final: str, *, fsync: bool = True) -> list[str]:
    """Publish the local checkpoint written under the temporary prefix ``temp`` (e.g. by
    TensorFlow's ``SaveV2``) as ``final``: the Saver's commit. Returns the final paths,
    the ``.index`` last.

    Raises:
        CorruptCheckpointError: ``temp.index`` is not a readable index.
    """
    from ..errors import CorruptCheckpointError
    from .fileio import read_regular

    temp_index = index_path(temp)
    raw = read_regular(temp_index)
    try:
        n = int(_header(raw).num_shards)
    except (ValueError, IndexError) as exc:
        raise CorruptCheckpointError(f"{temp_index} is corrupt: {exc}") from None
    data = [LocalStaged.adopt(data_path(temp, i, n), data_path(final, i, n)) for i in range(n)]

    def index_for(count: int) -> Staged:
        if count == n:
            return LocalStaged.adopt(temp_index, index_path(final))
        staged = LOCAL.create(index_path(final), whole=True)
        staged.write(reheader_index(raw, count))
        LOCAL.remove(temp_index)
        return staged

    count = publish_bundle(LOCAL, final, data, index_for, fsync=fsync)
    return [data_path(final, i, count) for i in range(count)] + [index_path(final)]
