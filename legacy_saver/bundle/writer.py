"""Writing a V2 checkpoint, byte-compatible with TensorFlow's ``BundleWriter``.

Lifecycle: ``add``/``add_slice``/``add_raw``/``add_copy`` any number of times, then exactly
one of ``finish()`` or ``abandon()`` (a ``with`` block picks for you).

Destination: an existing checkpoint at ``prefix`` is refused (``CheckpointExistsError``)
unless ``overwrite=True``. ``prefix`` may be a local path, a ``file://`` URL or an fsspec
URL (``s3://``, ``memory://``): the bytes go through the storage seam (``storage.py``).

Atomicity: data shards are written as ``storage.Staged`` files (locally: temporaries next
to their final names; remotely: uploads that appear only when closed); ``finish()``
publishes them and then the ``.index`` through ``publish.publish_bundle``: data first,
the index last (a prefix "exists" when its index does), each file fsynced before its
rename and the directory after. A crash at any point leaves either the previous state
(no checkpoint, or the old one, whole) or the complete new checkpoint. Re-saving the
same prefix is atomic as a whole: the new data files are named with a shard count no
file on disk has, so the rename of the new index is the one switch (``publish.py``;
the count may then be one more than ``num_shards``, with empty shards).

Bytes are deterministic: the same adds in the same order give the same files,
and for the same tensors the same bytes as TensorFlow writes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import BinaryIO

import numpy as np

from ..errors import CheckpointExistsError, CorruptCheckpointError
from .coding import crc32c, mask_crc
from .dtypes import DType, dtype_from_numpy
from .entry import BundleEntry, Extent
from .fileio import COPY_BUFFER_BYTES, EarlyFlush, copy_range, file_crc32c, write_bytes_atomic
from .files import checkpoint_files
from .naming import data_path, index_path, temp_path
from .ordered_code import slice_key
from .protos import BundleHeaderProto
from .publish import RETIRE_GRACE_S, plan_count, publish_bundle, retire_previous
from .reader import BUNDLE_VERSION
from .storage import LOCAL, LocalStaged, Staged, Storage, storage_for
from .strings import encode_strings
from .table import TableBuilder


class BundleWriter:
    """Streams tensors into a new checkpoint at ``prefix``.

    Args:
        prefix: the checkpoint prefix (``dir/model.ckpt-100``).
        num_shards: number of ``.data`` shards; pick one per tensor with
            ``add(..., shard=i)``.
        fsync: make files durable before they are renamed into place (their
            writeback starts while they are written: ``fileio.EarlyFlush``).
        overwrite: replace a checkpoint already at ``prefix``. Without it, an
            existing one (a V2 ``.index``, or a V1 file or its shards under that
            name) is refused with ``CheckpointExistsError`` before anything is
            written.

    Raises:
        CheckpointExistsError: ``prefix`` holds a checkpoint and ``overwrite`` is False.
    """

    def __init__(
        self, prefix: str | os.PathLike[str], *, num_shards: int = 1, fsync: bool = True,
        overwrite: bool = False,
    ) -> None:  # fmt: skip
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards}")
        self._storage, self.prefix = storage_for(prefix)
        if not overwrite:
            refuse_existing(self.prefix, self._storage)
        self.num_shards = num_shards
        self.published_num_shards: int | None = None  # set by finish(): num_shards or more
        self._fsync = fsync
        self._local = self._storage.is_local
        self._entries: dict[str, BundleEntry] = {}
        self._sizes = [0] * num_shards
        self._copied_crcs: dict[str, int] = {}  # add_copy crcs, for storage without a fd
        self._early = EarlyFlush() if fsync and self._local else None
        self._state = "open"
        self._count: int | None = None  # the final shard count, fixed now for fsspec
        self._files: list[Staged] = []
        if self._local:
            directory = os.path.dirname(self.prefix)
            if directory:
                os.makedirs(directory, exist_ok=True)
        try:
            if overwrite:  # the generation before the one replaced: peak disk 2x
                retire_previous(self._storage, self.prefix, min_age_s=RETIRE_GRACE_S)
            if not self._local:
                self._count = plan_count(self._storage, self.prefix, num_shards)
            temp_prefix = temp_path(self.prefix)  # every local file first goes under this
            for shard in range(num_shards):
                if self._local:
                    final = data_path(self.prefix, shard, num_shards)
                    temp = data_path(temp_prefix, shard, num_shards)
                    self._files.append(LOCAL.create(final, temp=temp))
                else:
                    assert self._count is not None
                    self._files.append(
                        self._storage.create(data_path(self.prefix, shard, self._count))
                    )
        except BaseException:
            self.abandon()
            raise

    # -- adding ------------------------------------------------------------
    def _check_key(self, key: str) -> None:
        if self._state != "open":
            raise ValueError(f"writer for {self.prefix} is {self._state}")
        if not key:
            raise ValueError("the empty key is reserved for the bundle header")
        if key in self._entries:
            raise ValueError(f"duplicate key {key!r} in {self.prefix}")

    def add(self, key: str, value: object, *, shard: int = 0) -> None:
        """Append one tensor (anything ``np.asarray`` accepts)."""
        self._check_key(key)
        array = np.asarray(value)
        dtype = dtype_from_numpy(array.dtype, where=f"tensor {key!r}: ")
        self._add_array(key, array, dtype, shard)

    def _add_array(self, key: str, array: np.ndarray, dtype: DType, shard: int) -> None:
        if dtype is DType.STRING:
            data, masked = encode_strings(array)
            self._write(key, dtype, array.shape, shard, [memoryview(data)], masked)
            return
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        view = flat.data
        self._write(key, dtype, array.shape, shard, [view], mask_crc(crc32c(view)))

    def add_raw(
        self, key: str, dtype: DType | int, shape: tuple[int, ...],
        chunks: list[memoryview] | list[bytes], masked_crc32c: int, *, shard: int = 0,
    ) -> None:  # fmt: skip
        """Append already-encoded bytes with their (masked) checksum: the
        converters copy tensors this way without decoding them."""
        self._check_key(key)
        self._write(key, DType(int(dtype)), tuple(shape), shard, chunks, masked_crc32c)

    def add_copy(
        self, key: str, dtype: DType | int, shape: tuple[int, ...], source: BinaryIO,
        offset: int, size: int, masked_crc32c: int, *, shard: int = 0,
    ) -> BundleEntry:  # fmt: skip
        """Append ``size`` bytes of the open file ``source`` from ``offset``, with
        their (masked) checksum, copied inside the kernel (``copy_file_range``)
        where the OS allows it; returns the entry written. The bytes are not
        checked here: ``written_crc32c(entry)`` reads back what landed."""
        self._check_key(key)
        staged = self._shard_file(shard)
        if isinstance(staged, LocalStaged) and staged.file is not None:
            staged.file.flush()
            copied = copy_range(source, offset, size, staged.file)
        else:  # no file descriptor to copy into (fsspec): through a buffer, crc as it goes
            copied, crc = _copy_through(source, offset, size, staged)
            self._copied_crcs[key] = crc
        if copied != size:
            self._sizes[shard] += copied  # dead bytes, but later offsets stay right
            raise CorruptCheckpointError(
                f"{getattr(source, 'name', source)} ended {size - copied} bytes early "
                f"copying tensor {key!r}"
            )
        return self._record(key, dtype, shape, shard, size, masked_crc32c)

    def written_crc32c(self, entry: BundleEntry) -> int:
        """crc32c (unmasked) of the bytes an ``add_copy`` entry occupies in its
        temporary data shard, read back from the file. Safe from another thread
        while this writer appends (``add_copy`` bytes bypass the file's buffer, so
        they are in the file when it returns)."""
        if self._state != "open":
            raise ValueError(f"writer for {self.prefix} is {self._state}")
        staged = self._files[entry.shard_id]
        if not isinstance(staged, LocalStaged):
            return self._copied_crcs[entry.key]  # computed while copying (add_copy)
        path = staged.temp
        crc, read = file_crc32c(path, entry.offset, entry.size)
        if read != entry.size:
            raise CorruptCheckpointError(f"{path} is shorter than written")
        return crc

    def add_slice(
        self, key: str, full_shape: tuple[int, ...], extents: tuple[Extent, ...], value: object,
        *, shard: int = 0,
    ) -> None:  # fmt: skip
        """Append one slice of a partitioned tensor ``key``."""
        if self._state != "open":
            raise ValueError(f"writer for {self.prefix} is {self._state}")
        array = np.asarray(value)
        dtype = dtype_from_numpy(array.dtype, where=f"tensor {key!r}: ")
        full_shape = tuple(int(d) for d in full_shape)
        extents = tuple((int(s), int(n)) for s, n in extents)
        want = tuple(d if n == -1 else n for (_, n), d in zip(extents, full_shape, strict=True))
        if array.shape != want:
            raise ValueError(
                f"slice {list(extents)} of {key!r} needs shape {want}, got {array.shape}"
            )
        if all(s == 0 and n in (-1, d) for (s, n), d in zip(extents, full_shape, strict=True)):
            self.add(key, array, shard=shard)  # a full slice is a plain tensor, as in TF
            return
        full = self._entries.get(key)
        if full is not None and (
            not full.slices or full.shape != full_shape or full.dtype_enum != dtype
        ):
            raise ValueError(f"slice of {key!r} disagrees with earlier adds for that key")
        slices = (full.slices if full else ()) + (extents,)
        internal = slice_key(key, extents).decode("latin-1")
        self._check_key(internal)
        self._add_array(internal, array, dtype, shard)
        self._entries[key] = BundleEntry(key, int(dtype), full_shape, slices=slices)

    def _write(
        self, key: str, dtype: DType, shape: tuple[int, ...], shard: int,
        chunks: list[memoryview] | list[bytes], masked: int,
    ) -> None:  # fmt: skip
        out = self._shard_file(shard)
        size = 0
        for chunk in chunks:
            out.write(chunk)
            size += len(chunk)
        self._record(key, dtype, shape, shard, size, masked)

    def _shard_file(self, shard: int) -> Staged:
        if not 0 <= shard < self.num_shards:
            raise ValueError(f"shard {shard} out of range 0..{self.num_shards - 1}")
        return self._files[shard]

    def _record(
        self, key: str, dtype: DType | int, shape: tuple[int, ...], shard: int, size: int,
        masked: int,
    ) -> BundleEntry:  # fmt: skip
        """Enter ``size`` bytes just appended to ``shard`` as ``key``'s value."""
        offset = self._sizes[shard]
        self._sizes[shard] += size
        staged = self._files[shard]
        if self._early is not None and isinstance(staged, LocalStaged) and staged.file:
            self._early.wrote(staged.file.fileno(), self._sizes[shard])
        entry = BundleEntry(key, int(dtype), tuple(int(d) for d in shape), shard, offset, size,
                            masked)  # fmt: skip
        self._entries[key] = entry
        return entry

    # -- finishing ---------------------------------------------------------
    def finish(self) -> None:
        """Make the checkpoint visible under its final names, the index last, in one
        atomic switch (``publish.publish_bundle``)."""
        if self._state != "open":
            raise ValueError(f"writer for {self.prefix} is {self._state}")
        try:
            self._wait_early_flush()
            self.published_num_shards = publish_bundle(
                self._storage, self.prefix, self._files, self._index_file,
                fsync=self._fsync, count=self._count,
            )  # fmt: skip
        except BaseException:
            self.abandon()
            raise
        self._state = "finished"

    def _index_file(self, num_shards: int) -> Staged:
        staged = self._storage.create(index_path(self.prefix), whole=True)
        staged.write(encode_index(num_shards, self._entries))
        return staged

    def _wait_early_flush(self) -> None:
        if self._early is not None:
            self._early.wait()

    def abandon(self) -> None:
        """Discard everything written; no file of this checkpoint remains
        under a final name that was not there before."""
        if self._state == "finished":
            raise ValueError(f"writer for {self.prefix} is finished")
        self._state = "abandoned"
        self._wait_early_flush()
        for staged in self._files:
            staged.discard()

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self._state != "open":
            return
        if exc_type is None:
            self.finish()
        else:
            self.abandon()


def refuse_existing(prefix: str, storage: Storage = LOCAL) -> None:
    """Raise ``CheckpointExistsError`` when ``prefix`` already holds a checkpoint: its V2
    ``.index``, or a V1 file or V1 shards under that exact name (``files.checkpoint_files``;
    on fsspec storage the ``.index`` or a V1 file named ``prefix``)."""
    if storage.is_local:
        found = checkpoint_files(prefix)
    else:
        found = [p for p in (index_path(prefix), prefix) if storage.exists(p)]
    if found:
        raise CheckpointExistsError(
            f"{found[0]} already exists; pass overwrite=True (--overwrite on the command "
            "line) to replace it"
        )


def encode_index(num_shards: int, entries: Mapping[str, BundleEntry]) -> bytes:
    """The bytes of an ``.index`` over ``entries`` (which already point into the data
    shards): header first, then entries in byte order."""
    header = BundleHeaderProto(num_shards=num_shards)
    header.version.producer = BUNDLE_VERSION
    buf = io.BytesIO()
    table = TableBuilder(buf)
    table.add(b"", header.SerializeToString(deterministic=True))
    for key in sorted(entries, key=_key_bytes):
        table.add(_key_bytes(key), entries[key].encode())
    table.finish()
    return buf.getvalue()


def write_index(
    prefix: str, num_shards: int, entries: Mapping[str, BundleEntry], *, fsync: bool = True,
    temp: str | None = None,
) -> None:  # fmt: skip
    """Write ``prefix.index`` over ``entries`` atomically (local files)."""
    write_bytes_atomic(index_path(prefix), encode_index(num_shards, entries), fsync=fsync,
                       temp=temp)  # fmt: skip


def _copy_through(source: BinaryIO, offset: int, size: int, out: Staged) -> tuple[int, int]:
    """Copy ``size`` bytes of ``source`` from ``offset`` to ``out`` through a bounded buffer;
    return ``(bytes copied, crc32c of them)``."""
    source.seek(offset)
    done, crc = 0, 0
    while done < size:
        chunk = source.read(min(size - done, COPY_BUFFER_BYTES))
        if not chunk:
            break
        out.write(chunk)
        crc = crc32c(chunk, crc)
        done += len(chunk)
    return done, crc


def _key_bytes(key: str) -> bytes:
    """Tensor names are UTF-8; internal slice keys are binary, carried as latin-1."""
    return key.encode("latin-1") if key.startswith("\x00") else key.encode("utf-8")
