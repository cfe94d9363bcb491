"""Writing V1 checkpoints: one LevelDB table of ``SavedTensorSlices``, byte-identical to
what TensorFlow's ``SaveSlices`` op (``TensorSliceWriter``) writes.

The layout is FORMAT.md section 4; what this writer reproduces of TensorFlow's
(``tensorflow/core/util/tensor_slice_writer.{h,cc}``, ``saved_tensor_slice_util.h``,
``kernels/save_restore_tensor.cc``, checked byte for byte by
``tests/test_bundle_v1_writer.py``):

* key ``""``: the metadata, one ``SavedSliceMeta`` per tensor **sorted by name** (the op
  sorts its inputs), each with its slices in the order they were added, and
  ``versions {producer: 1}``;
* one entry per slice under ``slice_key(name, extents)``, in key order: a ``SavedSlice``
  (name, slice, data) whose ``TensorProto`` holds only the dtype's repeated field, packed
  (``float_val``, ``int_val`` for the small integer types, ``half_val`` for float16 bit
  patterns, ``scomplex_val`` as real/imaginary pairs, ...), no ``dtype`` or shape;
* a whole tensor is one slice whose extents are all "full" (empty ``Extent`` messages);
  a scalar has a slice with no extents;
* an uncompressed table with TensorFlow's block size and restart interval
  (``table.TableBuilder``).

Only the dtypes TensorFlow's V1 writer can save are accepted (``V1_DTYPES``: no
bfloat16, float8, uint32/uint64, qint16/quint16); quantized types share numpy types
with their integer twins, so they are written with ``dtype=``. A slice is one protobuf
message, so it holds at most 2 GiB. The file is assembled in memory (as TensorFlow
does) and published atomically through the storage seam: a temporary renamed over
``path`` locally, one PUT on fsspec URLs.
"""

from __future__ import annotations

import io
import os

import numpy as np

from ..errors import CheckpointExistsError, UnsupportedFeatureError
from .coding import encode_varint
from .dtypes import DType, dtype_from_numpy
from .entry import Extent
from .naming import parse_v1_shard
from .ordered_code import slice_key
from .protos import SavedTensorSlices, TensorSliceProto
from .storage import Storage, storage_for
from .table import TableBuilder
from .writer import refuse_existing

__all__ = ["V1_DTYPES", "V1Writer"]

CHECKPOINT_VERSION = 1  # tensorflow/core/public/version.h TF_CHECKPOINT_VERSION
MAX_SLICE_BYTES = (1 << 31) - 1  # one protobuf message (tensor_slice_writer.h kMaxMessageBytes)

# The TensorProto field of each dtype TensorFlow's V1 writer saves: (field number, kind).
V1_DTYPES: dict[DType, tuple[int, str]] = {
    DType.FLOAT32: (5, "<f4"), DType.FLOAT64: (6, "<f8"), DType.COMPLEX64: (9, "<f4"),
    DType.COMPLEX128: (12, "<f8"), DType.INT32: (7, "varint"), DType.INT16: (7, "varint"),
    DType.INT8: (7, "varint"), DType.UINT8: (7, "varint"), DType.UINT16: (7, "varint"),
    DType.QINT8: (7, "varint"), DType.QUINT8: (7, "varint"), DType.QINT32: (7, "varint"),
    DType.INT64: (10, "varint"), DType.BOOL: (11, "varint"), DType.FLOAT16: (13, "half"),
    DType.STRING: (8, "bytes"),
}  # fmt: skip
_QUANTIZED_BASE = {DType.QINT8: DType.INT8, DType.QUINT8: DType.UINT8,
                   DType.QINT32: DType.INT32}  # fmt: skip


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def _varints(values: np.ndarray) -> bytes:
    """Protobuf varints of ``values`` (int64 two's complement, as int32/int64 fields encode
    negatives in ten bytes), with numpy: no Python loop per element."""
    v = values.astype(np.int64).view(np.uint64).reshape(-1)
    sizes = np.ones(v.shape, np.int64)
    for k in range(1, 10):
        sizes += v >= np.uint64(1) << np.uint64(7 * k)
    ends = np.cumsum(sizes)
    out = np.empty(int(ends[-1]) if v.size else 0, np.uint8)
    starts = ends - sizes
    for k in range(10):
        sel = sizes > k
        byte = (v[sel] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (sizes[sel] > k + 1).astype(np.uint64) << np.uint64(7)
        out[starts[sel] + k] = (byte | more).astype(np.uint8)
    return out.tobytes()


def tensor_proto_bytes(dtype: DType, values: np.ndarray) -> bytes:
    """The ``TensorProto`` TensorFlow's V1 writer stores for ``values`` (C order)."""
    number, kind = V1_DTYPES[dtype]
    flat = values.reshape(-1)
    if not flat.size:
        return b""  # the repeated field is simply absent
    if kind == "bytes":
        items = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in flat]
        return b"".join(_field(number, item) for item in items)
    if kind == "half":
        payload = _varints(flat.astype("<f2").view("<u2"))
    elif kind == "varint":
        payload = _varints(flat)
    elif dtype in (DType.COMPLEX64, DType.COMPLEX128):
        payload = flat.astype("<c8" if kind == "<f4" else "<c16").view(kind).tobytes()
    else:
        payload = flat.astype(kind).tobytes()
    return _field(number, payload)


def _slice_proto(extents: tuple[Extent, ...]) -> object:
    """``TensorSlice::AsProto``: a full extent is an empty message; otherwise start (zero
    omitted, proto3) and length (always, it has presence)."""
    proto = TensorSliceProto()
    for start, length in extents:
        extent = proto.extent.add()
        if length != -1:
            extent.start = start
            extent.length = length
    return proto


class V1Writer:
    """Collects tensors (whole or as slices) and writes one V1 checkpoint file at
    ``path`` on ``finish()`` (then exactly one of ``finish``/``abandon``; a ``with``
    block picks). ``path`` is the file itself: a prefix, or one shard's name
    (``naming.v1_shard_path``) of a sharded V1 save.

    Raises:
        CheckpointExistsError: ``path`` holds a checkpoint (for a prefix: a V2 index or
            V1 file or shards of it; for a shard name: that file) and ``overwrite`` is
            False.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, fsync: bool = True, overwrite: bool = False
    ) -> None:
        self._storage: Storage
        self._storage, self.path = storage_for(path)
        if not overwrite:
            if parse_v1_shard(os.path.basename(self.path)) is None:
                refuse_existing(self.path, self._storage)
            elif self._storage.exists(self.path):
                raise CheckpointExistsError(
                    f"{self.path} already exists; pass overwrite=True (--overwrite on the "
                    "command line) to replace it"
                )
        self._fsync = fsync
        self._meta: dict[str, tuple[DType, tuple[int, ...], list[tuple[Extent, ...]]]] = {}
        self._data: dict[bytes, bytes] = {}
        self._state = "open"

    def add(self, name: str, value: object, *, dtype: DType | None = None) -> None:
        """Add a whole tensor (``dtype`` overrides the one numpy implies: the quantized
        types)."""
        array = np.asarray(value)
        self.add_slice(name, array.shape, ((0, -1),) * array.ndim, array, dtype=dtype)

    def add_slice(
        self, name: str, full_shape: tuple[int, ...], extents: tuple[Extent, ...],
        value: object, *, dtype: DType | None = None,
    ) -> None:  # fmt: skip
        """Add one slice of tensor ``name`` (``extents``: ``(start, length)`` per
        dimension, length ``-1`` for the whole dimension)."""
        if self._state != "open":
            raise ValueError(f"writer for {self.path} is {self._state}")
        if not name:
            raise ValueError("a V1 tensor needs a name")
        array = np.asarray(value)
        stored = dtype if dtype is not None else dtype_from_numpy(array.dtype, where=f"{name!r}: ")
        if stored not in V1_DTYPES:
            raise UnsupportedFeatureError(
                f"tensor {name!r}: a V1 checkpoint cannot hold {stored.tf_name} (TensorFlow's "
                "V1 format has no field for it); write V2"
            )
        base = _QUANTIZED_BASE.get(stored, stored)
        if dtype is not None and dtype_from_numpy(array.dtype) not in (base, stored):
            raise ValueError(f"tensor {name!r}: values of {array.dtype} cannot be {stored.tf_name}")
        full_shape = tuple(int(d) for d in full_shape)
        extents = tuple((int(s), int(n)) for s, n in extents)
        want = tuple(d if n == -1 else n for (_, n), d in zip(extents, full_shape, strict=True))
        if len(extents) != len(full_shape) or array.shape != want:
            raise ValueError(f"slice {list(extents)} of {name!r} needs shape {want}, got "
                             f"{array.shape}")  # fmt: skip
        known = self._meta.get(name)
        if known is not None and (known[0] != stored or known[1] != full_shape):
            raise ValueError(f"slice of {name!r} disagrees with earlier adds for that name")
        key = slice_key(name, extents)
        if key in self._data:
            raise ValueError(f"duplicate slice {list(extents)} of {name!r} in {self.path}")
        proto = _slice_proto(extents)
        saved = (_field(1, name.encode("utf-8"))
                 + _field(2, proto.SerializeToString(deterministic=True))  # type: ignore[attr-defined]
                 + _field(3, tensor_proto_bytes(stored, array)))  # fmt: skip
        entry = _field(2, saved)  # SavedTensorSlices.data
        if len(entry) > MAX_SLICE_BYTES:
            raise UnsupportedFeatureError(
                f"slice {list(extents)} of {name!r} is {len(entry)} bytes: a V1 checkpoint holds "
                "at most 2 GiB per slice; write V2"
            )
        self._meta.setdefault(name, (stored, full_shape, []))[2].append(extents)
        self._data[key] = entry

    def _meta_bytes(self) -> bytes:
        proto = SavedTensorSlices()
        for name in sorted(self._meta):
            dtype, shape, slices = self._meta[name]
            tensor = proto.meta.tensor.add()
            tensor.name = name
            tensor.shape.SetInParent()
            for dim in shape:
                tensor.shape.dim.add(size=dim)
            tensor.type = int(dtype)
            for extents in slices:
                tensor.slice.append(_slice_proto(extents))
        proto.meta.versions.producer = CHECKPOINT_VERSION
        return bytes(proto.SerializeToString(deterministic=True))

    def finish(self) -> None:
        """Write the table and publish it at ``path`` atomically."""
        if self._state != "open":
            raise ValueError(f"writer for {self.path} is {self._state}")
        buf = io.BytesIO()
        table = TableBuilder(buf)
        table.add(b"", self._meta_bytes())
        for key in sorted(self._data):
            table.add(key, self._data[key])
        table.finish()
        self._data.clear()
        staged = self._storage.create(self.path, whole=True)
        try:
            staged.write(buf.getvalue())
            staged.publish(fsync=self._fsync)
        except BaseException:
            staged.discard()
            self._state = "abandoned"
            raise
        self._storage.sync_dir(os.path.dirname(self.path))
        self._state = "finished"

    def abandon(self) -> None:
        """Discard everything added; nothing was written."""
        if self._state == "finished":
            raise ValueError(f"writer for {self.path} is finished")
        self._state = "abandoned"
        self._data.clear()

    def __enter__(self) -> V1Writer:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self._state != "open":
            return
        if exc_type is None:
            self.finish()
        else:
            self.abandon()
