"""Carrying out a ``KerasPlan``: source tensors into a ``.weights.h5`` file.

Every group of the layout is created (with its ``name`` attribute), then each
action's tensor is written. A tensor whose bytes keep their stored order (no
slice, transpose or cast; a reshape is fine) and that lives in a local V2
shard is streamed: read ``ROW_CHUNK_BYTES`` at a time into one reused buffer,
its crc32c extended chunk by chunk and checked against the entry's before the
file is committed, so memory stays flat whatever the tensor's size. Anything
else is read whole (checksum verified by the reader), transformed and written.
The destination appears only when everything was written (``KerasWeightsWriter``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from legacy_saver.bundle import CheckpointReader
from legacy_saver.bundle.coding import crc32c, unmask_crc
from legacy_saver.errors import CorruptCheckpointError

from ..execute import ExecuteResult
from ..plan import Action
from ..transforms import apply_transform, keeps_byte_order, transformed_shape
from .keras_h5 import KerasWeightsWriter
from .keras_plan import KerasPlan

STREAM_MIN_BYTES = 16 << 20  # smaller tensors are read whole: one read beats many


def write_keras_weights(
    kplan: KerasPlan,
    reader: CheckpointReader,
    dst: str,
    *,
    overwrite: bool = False,
    fsync: bool = True,
) -> ExecuteResult:
    """Write ``dst`` (a ``.weights.h5``) as ``kplan`` says, reading from ``reader``."""
    result = ExecuteResult()
    where = {g.dataset(v.key): (g.path, v.key) for g in kplan.layout.groups for v in g.variables}
    with KerasWeightsWriter(dst, overwrite=overwrite, fsync=fsync) as writer:
        for group in kplan.layout.groups:
            writer.group(group.path, dict(group.metadata))
        for action in kplan.plan.actions:
            path, key = where[action.dst]
            if _stream(writer, reader, action, path, key):
                result.bytes_copied += _entry_size(reader, action.src)
                continue
            value = apply_transform(reader.get_tensor(action.src), action.transform)
            writer.add(path, key, value)
            result.bytes_reencoded += int(value.nbytes)
        for dataset, extra in kplan.plan.extra.items():
            path, key = where[dataset]
            writer.add(path, key, np.asarray(extra))
    return result


def _entry_size(reader: CheckpointReader, key: str) -> int:
    bundle = reader.bundle
    return bundle.entry(key).size if bundle is not None else 0


def _stream(
    writer: KerasWeightsWriter, reader: CheckpointReader, action: Action, path: str, key: str
) -> bool:
    """Stream ``action`` in row chunks when its bytes can go as stored; False if not."""
    bundle = reader.bundle
    if bundle is None or bundle.big_endian or not keeps_byte_order(action.transform):
        return False
    entry = bundle.entry(action.src)
    if entry.slices or entry.size < STREAM_MIN_BYTES:
        return False
    dtype = reader.dtype(action.src)
    if dtype.numpy is None or np.dtype(dtype.numpy).kind not in "biufc":
        return False
    shard = bundle.data_file(entry.shard_id)
    if not os.path.isfile(shard):  # a remote shard: read it whole through the reader
        return False
    bundle.open_data(entry)  # bounds-checked: a short shard names the tensor
    shape = transformed_shape(tuple(entry.shape), action.transform)
    if not shape:
        return False
    writer.add_rows(path, key, shape, np.dtype(dtype.numpy), _rows(shard, entry, shape, dtype))
    return True


def _rows(shard: str, entry: Any, shape: tuple[int, ...], dtype: Any) -> Iterator[np.ndarray]:
    np_dtype = np.dtype(dtype.numpy)
    per = KerasWeightsWriter.rows_per_chunk(shape, np_dtype.itemsize)
    row_bytes = entry.size // shape[0]
    buffer = bytearray(per * row_bytes)
    crc = 0
    with open(shard, "rb", buffering=0) as f:
        f.seek(entry.offset)
        for start in range(0, shape[0], per):
            n = min(per, shape[0] - start)
            view = memoryview(buffer)[: n * row_bytes]
            done = 0
            while done < len(view):
                got = f.readinto(view[done:])
                if not got:
                    raise CorruptCheckpointError(f"{shard} ended early reading {entry.key!r}")
                done += got
            crc = crc32c(view, crc)
            yield np.frombuffer(view, dtype=np_dtype).reshape((n, *shape[1:]))
    if crc != unmask_crc(entry.crc32c):
        raise CorruptCheckpointError(f"{shard}: checksum mismatch for tensor {entry.key!r}")
