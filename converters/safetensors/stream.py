"""Writing a tensor's bytes into an output file, in bounded memory, every byte checked.

* **Copy** (the value's bytes do not change: no transform, or a reshape only; a
  V2 little-endian source): ``copy_file_range`` in the kernel straight from the
  source shard into the output, at the tensor's offset. A partitioned variable
  split along its first axis is the same: each slice is copied in order. A
  worker thread reads each copy back from the new file through ``mmap`` and
  checks it against the source's own crc32c while the next tensor copies
  (``check.Checker``).
* **Transform** (a transpose, a cast): a tensor of at most ``BLOCK_BYTES`` is
  read once into a reused buffer and checked there; a larger one is checked over
  ``mmap`` windows and the output produced in blocks of ``BLOCK_BYTES`` from a
  read-only map of the source (pages released after each sub-block, so resident
  memory stays bounded). Either way the output is written in order in ``TILE``
  tiles, and its crc32c computed on the way is checked against the file by the
  same worker thread.
* **Decode** (V1 and big-endian sources, strided partitions, transforms of
  partitioned tensors): the value is read whole by the bundle reader (checked),
  transformed and written; one tensor at a time.

Nothing here decides names or layouts (``planner``) or files (``files``).
"""

from __future__ import annotations

import math
import mmap
import os
from collections.abc import Callable, Generator, Iterator
from typing import BinaryIO

import numpy as np

from legacy_saver.bundle import CheckpointReader
from legacy_saver.bundle.coding import crc32c, unmask_crc
from legacy_saver.bundle.entry import BundleEntry
from legacy_saver.bundle.fileio import copy_range
from legacy_saver.errors import CorruptCheckpointError

from ..rules import apply_transform, dtype_named
from .check import Checker, range_crc32c
from .files import OutputFile
from .planner import PlannedTensor

BLOCK_BYTES = 16 << 20  # transform path: output block, and source pages mapped at once
TILE = 256  # transposes copy TILE x TILE tiles: 2.3x faster than one strided copy (cache)
FAULT_AROUND_BYTES = 64 << 10  # Linux maps up to this much around a page fault (fault_around_bytes)
PAGE = mmap.PAGESIZE


class TensorStreamer:
    """Writes planned tensors from ``reader`` into ``OutputFile``s; ``wait()``
    raises the first failed check. Counts copied and re-encoded bytes."""

    def __init__(self, reader: CheckpointReader) -> None:
        self.reader = reader
        self.bundle = reader.bundle
        self._sources: dict[int, BinaryIO] = {}
        self._checker = Checker()
        self._input = bytearray()
        self._out: np.ndarray | None = None
        self.bytes_copied = 0
        self.bytes_reencoded = 0

    def close(self) -> None:
        self._checker.close()
        for f in self._sources.values():
            f.close()

    def wait(self) -> None:
        """Every submitted check done; raises the first failure."""
        self._checker.finish()

    # -- choosing a path ---------------------------------------------------------------
    def write(self, out: OutputFile, tensor: PlannedTensor, expected_offset: int) -> None:
        at = out.position - out.data_start
        if at != expected_offset:
            raise RuntimeError(
                f"{out.temp}: tensor {tensor.name!r} would start at {at}, planned {expected_offset}"
            )
        if tensor.src is None:
            self._write_checked(out, tensor, [memoryview(tensor.value or b"")])
            return
        entry = self.bundle.entry(tensor.src) if self.bundle is not None else None
        t = tensor.transform
        keeps_bytes = t.transpose is None and t.cast is None and getattr(t, "slice", None) is None
        mappable = getattr(t, "slice", None) is None  # a slice is applied by the decode path
        stored = entry is not None and self.bundle is not None and not self.bundle.big_endian
        if stored and keeps_bytes and not entry.slices:  # type: ignore[union-attr]
            self._copy(out, tensor, entry)  # type: ignore[arg-type]
        elif stored and keeps_bytes and (pieces := row_slices(self.reader, entry)) is not None:  # type: ignore[arg-type]
            for piece in pieces:
                self._copy(out, tensor, piece)
        elif stored and mappable and not entry.slices:  # type: ignore[union-attr]
            self._transform_mapped(out, tensor, entry)  # type: ignore[arg-type]
        else:
            self._decode(out, tensor)

    # -- copy ----------------------------------------------------------------------------
    def _copy(self, out: OutputFile, tensor: PlannedTensor, entry: BundleEntry) -> None:
        path = self._bounded(entry)
        source = self._source(entry.shard_id, path)
        start = out.position
        out.file.flush()
        copied = copy_range(source, entry.offset, entry.size, out.file)
        out.wrote(copied)
        if copied != entry.size:
            raise CorruptCheckpointError(f"{path} ended {entry.size - copied} bytes early "
                                         f"copying tensor {tensor.src!r}")  # fmt: skip
        self.bytes_copied += entry.size
        name = repr(entry.key) if not entry.key.startswith("\x00") else f"{tensor.src!r} (a slice)"
        self._check(out, start, entry.size, unmask_crc(entry.crc32c),
                    f"{path}: checksum mismatch for tensor {name}")  # fmt: skip

    def _bounded(self, entry: BundleEntry) -> str:
        """The local shard file holding ``entry``, after the reader checked that it exists,
        is a regular file and is long enough (its errors name the shard and the tensor)."""
        assert self.bundle is not None  # the callers checked: only bundle entries get here
        self.bundle.open_data(entry)
        return self.bundle.data_file(entry.shard_id)

    def _source(self, shard: int, path: str) -> BinaryIO:
        f = self._sources.get(shard)
        if f is None:
            f = self._sources[shard] = open(path, "rb", buffering=0)  # noqa: SIM115
        return f

    def _check(self, out: OutputFile, start: int, size: int, crc: int, message: str) -> None:
        self._checker.submit(out.temp, start, size, crc, message)

    # -- transform over a map of the source --------------------------------------------
    def _transform_mapped(self, out: OutputFile, tensor: PlannedTensor, entry: BundleEntry) -> None:
        path = self._bounded(entry)
        src_dtype = self.reader.dtype(entry.key).numpy
        out_dtype = dtype_named(tensor.transform.cast).numpy if tensor.transform.cast else src_dtype
        if entry.size <= BLOCK_BYTES:  # one read into a reused buffer: no page faults
            self._transform_read(out, tensor, entry, path, src_dtype, out_dtype)
            return
        crc, read = range_crc32c(path, entry.offset, entry.size)
        if read != entry.size or crc != unmask_crc(entry.crc32c):
            raise CorruptCheckpointError(f"{path}: checksum mismatch for tensor {entry.key!r}")
        start = entry.offset - entry.offset % mmap.ALLOCATIONGRANULARITY
        length = entry.offset + entry.size - start
        with open(path, "rb") as f, mmap.mmap(f.fileno(), length, access=mmap.ACCESS_READ,
                                              offset=start) as m:  # fmt: skip
            source = np.frombuffer(m, src_dtype, math.prod(entry.shape), entry.offset - start)
            source = source.reshape(entry.shape)
            row = source.strides[0] if source.ndim else 0

            def release(first: int, stop: int) -> None:
                lo = entry.offset - start + first * row
                hi = entry.offset - start + stop * row
                lo -= lo % PAGE
                if hasattr(m, "madvise") and hi > lo:
                    m.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

            blocks = transformed_blocks(source, tensor.transform.transpose, out_dtype, release,
                                        self._scratch())  # fmt: skip
            try:
                self._write_checked(out, tensor, blocks)
            finally:  # no view of the map may outlive it (mmap.close would refuse)
                blocks.close()
                del blocks, source
        self.bytes_reencoded += tensor.nbytes

    def _transform_read(
        self, out: OutputFile, tensor: PlannedTensor, entry: BundleEntry, path: str,
        src_dtype: np.dtype, out_dtype: np.dtype,
    ) -> None:  # fmt: skip
        """A tensor of at most ``BLOCK_BYTES``: read whole into a reused buffer, checked."""
        if len(self._input) < entry.size:
            self._input = bytearray(entry.size)
        view = memoryview(self._input)[: entry.size]
        source_file = self._source(entry.shard_id, path)
        done = 0
        while done < entry.size:
            n = os.preadv(source_file.fileno(), [view[done:]], entry.offset + done)
            if n == 0:
                break
            done += n
        if done != entry.size or crc32c(view) != unmask_crc(entry.crc32c):
            raise CorruptCheckpointError(f"{path}: checksum mismatch for tensor {entry.key!r}")
        source = np.frombuffer(self._input, src_dtype, math.prod(entry.shape)).reshape(entry.shape)
        blocks = transformed_blocks(source, tensor.transform.transpose, out_dtype,
                                    lambda first, stop: None, self._scratch())  # fmt: skip
        try:
            self._write_checked(out, tensor, blocks)
        finally:
            blocks.close()
            del blocks, source, view
        self.bytes_reencoded += tensor.nbytes

    def _scratch(self) -> np.ndarray:
        """The output blocks' buffer, reused (fresh memory costs a page fault per page)."""
        if self._out is None:
            self._out = np.empty(BLOCK_BYTES, np.uint8)
        return self._out

    # -- decode --------------------------------------------------------------------------
    def _decode(self, out: OutputFile, tensor: PlannedTensor) -> None:
        value = apply_transform(self.reader.get_tensor(tensor.src or ""), tensor.transform)
        value = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
        chunks = [value.reshape(-1).view(np.uint8).data] if value.size else []
        self._write_checked(out, tensor, chunks)
        self.bytes_reencoded += tensor.nbytes

    def _write_checked(
        self, out: OutputFile, tensor: PlannedTensor,
        chunks: Iterator[memoryview] | list[memoryview],
    ) -> None:  # fmt: skip
        start, crc, size = out.position, 0, 0
        for chunk in chunks:
            crc = crc32c(chunk, crc)
            out.write(chunk)
            size += len(chunk)
        if size != tensor.nbytes:
            raise RuntimeError(
                f"tensor {tensor.name!r}: wrote {size} bytes, planned {tensor.nbytes}"
            )
        self._check(out, start, size, crc, f"{out.temp}: tensor {tensor.name!r} reads back "
                    "differently from what was written")  # fmt: skip


def row_slices(reader: CheckpointReader, entry: BundleEntry) -> list[BundleEntry] | None:
    """The slice entries of a tensor partitioned along axis 0 only, in order (then
    together they are its bytes, back to back), else None."""
    bundle = reader.bundle
    if bundle is None or not entry.slices or not entry.shape:
        return None
    pieces = []
    for extents, piece in bundle.slice_entries(entry.key):
        rest = zip(extents[1:], entry.shape[1:], strict=True)
        if not all(s == 0 and n in (-1, d) for (s, n), d in rest):
            return None
        start, length = extents[0]
        pieces.append((start, entry.shape[0] if length == -1 else length, piece))
    pieces.sort(key=lambda p: p[0])
    position = 0
    for start, length, _ in pieces:
        if start != position:
            return None  # a gap or an overlap: let the reader's assembly report it
        position += length
    return [p for _, _, p in pieces] if position == entry.shape[0] else None


def transformed_blocks(
    source: np.ndarray, transpose: tuple[int, ...] | None, out_dtype: np.dtype,
    release: Callable[[int, int], None], scratch: np.ndarray | None = None,
) -> Generator[memoryview, None, None]:  # fmt: skip
    """``source.transpose(transpose).astype(out_dtype)`` as C-order bytes, in blocks
    of about ``BLOCK_BYTES`` along the output's first axis; the same buffer is
    reused (``scratch``, when it is large enough, across calls too), so each block
    must be consumed before the next is asked for.
    ``release(first, stop)`` is called once source rows ``first:stop`` (along its
    axis 0) are no longer needed for the block being built."""
    view = source.transpose(transpose) if transpose is not None else source
    if view.ndim == 0:
        yield np.ascontiguousarray(view, out_dtype).reshape(-1).view(np.uint8).data
        return
    inner = math.prod(view.shape[1:])
    row_bytes = max(1, inner * max(out_dtype.itemsize, source.dtype.itemsize))
    rows = max(1, min(view.shape[0], BLOCK_BYTES // row_bytes))
    need = rows * inner * out_dtype.itemsize
    if scratch is not None and need <= scratch.nbytes:  # reused across tensors
        buffer = scratch[:need].view(out_dtype).reshape(rows, *view.shape[1:])
    else:
        buffer = np.empty((rows, *view.shape[1:]), out_dtype)
    axis = transpose.index(0) if transpose is not None else 0  # where source axis 0 went
    src_row = source.strides[0] if source.ndim else 0
    for first in range(0, view.shape[0], rows):
        n = min(rows, view.shape[0] - first)
        block, part = buffer[:n], view[first : first + n]
        if axis == 0:
            np.copyto(block, part, casting="unsafe")
            release(first, first + n)
        else:
            touched = min(src_row, FAULT_AROUND_BYTES + n * source.dtype.itemsize * inner
                          // max(1, view.shape[axis]))  # fmt: skip
            step = max(1, min(TILE, BLOCK_BYTES // max(1, touched)))
            for lo in range(0, source.shape[0], step):
                index: list[slice] = [slice(None)] * view.ndim
                index[axis] = slice(lo, lo + step)
                for row in range(0, n, TILE):
                    index[0] = slice(row, row + TILE)
                    np.copyto(block[tuple(index)], part[tuple(index)], casting="unsafe")
                release(lo, min(lo + step, source.shape[0]))
        yield block.reshape(-1).view(np.uint8).data
