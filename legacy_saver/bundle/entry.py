"""One index entry (``BundleEntryProto``) as a validated, frozen record.

Validation happens once, when an entry is decoded, so that everything after it
(reading, copying, assembling slices) can trust shapes and sizes: dimensions
are non-negative, the rank is at most 254, the element count fits in int64,
and a numeric entry's byte size is exactly ``elements * itemsize``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .coding import DecodeError
from .dtypes import DType, dtype_from_enum
from .protos import BundleEntryProto

MAX_RANK = 254  # tensorflow/core/framework/tensor_shape.h TensorShape::MaxDimensions()
MAX_ELEMENTS = 2**63 - 1

Extent = tuple[int, int]  # (start, length); length -1 means the whole dimension


def decode_shape(proto: object, where: str) -> tuple[int, ...]:
    if getattr(proto, "unknown_rank", False):
        raise DecodeError(f"{where}shape has unknown rank")
    dims = tuple(int(d.size) for d in proto.dim)  # type: ignore[attr-defined]
    if len(dims) > MAX_RANK:
        raise DecodeError(f"{where}rank {len(dims)} exceeds {MAX_RANK}")
    if any(d < 0 for d in dims):
        raise DecodeError(f"{where}negative dimension in shape {list(dims)}")
    if math.prod(dims) > MAX_ELEMENTS:
        raise DecodeError(f"{where}shape {list(dims)} overflows int64 elements")
    return dims


def encode_shape(shape: tuple[int, ...], proto: object) -> None:
    for d in shape:
        proto.dim.add(size=int(d))  # type: ignore[attr-defined]


def decode_extents(slice_proto: object, shape: tuple[int, ...], where: str) -> tuple[Extent, ...]:
    extents = []
    for i, ext in enumerate(slice_proto.extent):  # type: ignore[attr-defined]
        start = int(ext.start)
        length = int(ext.length) if ext.HasField("length") else -1
        if i >= len(shape):
            raise DecodeError(f"{where}slice has more dimensions than shape {list(shape)}")
        full = shape[i]
        if length == -1 and start == 0:
            extents.append((0, -1))
            continue
        if start < 0 or length < 0 or start + length > full:
            raise DecodeError(f"{where}slice extent {start}:{length} outside dimension {full}")
        extents.append((start, length))
    if len(extents) not in (0, len(shape)):
        raise DecodeError(f"{where}slice rank {len(extents)} differs from shape rank {len(shape)}")
    return tuple(extents)


@dataclass(frozen=True)
class BundleEntry:
    """Where and what one tensor (or one slice, or a sliced tensor's header) is."""

    key: str
    dtype_enum: int
    shape: tuple[int, ...]
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int = 0  # masked
    slices: tuple[tuple[Extent, ...], ...] = ()

    @property
    def dtype(self) -> DType:
        return dtype_from_enum(self.dtype_enum, where=f"tensor {self.key!r}: ")

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the stored value (the data size; for sliced entries, the
        sum is only known from the slice entries)."""
        return self.size

    def encode(self) -> bytes:
        proto = BundleEntryProto(
            dtype=self.dtype_enum,
            shard_id=self.shard_id,
            offset=self.offset,
            size=self.size,
            crc32c=self.crc32c,
        )
        proto.shape.SetInParent()  # TF always writes the shape, even a scalar's empty one
        encode_shape(self.shape, proto.shape)
        for extents in self.slices:
            sp = proto.slices.add()
            for start, length in extents:
                ext = sp.extent.add(start=start)
                if length != -1:
                    ext.length = length
        return bytes(proto.SerializeToString(deterministic=True))

    @classmethod
    def decode(cls, key: str, value: bytes) -> BundleEntry:
        where = f"entry {key!r}: "
        proto = BundleEntryProto()
        try:
            proto.ParseFromString(value)
        except Exception as exc:  # protobuf's DecodeError
            raise DecodeError(f"{where}not a valid BundleEntryProto ({exc})") from None
        shape = decode_shape(proto.shape, where)
        if proto.offset < 0 or proto.size < 0 or proto.shard_id < 0:
            raise DecodeError(
                f"{where}negative shard/offset/size "
                f"({proto.shard_id}, {proto.offset}, {proto.size})"
            )
        slices = tuple(decode_extents(s, shape, where) for s in proto.slices)
        entry = cls(key, int(proto.dtype), shape, int(proto.shard_id), int(proto.offset),
                    int(proto.size), int(proto.crc32c), slices)  # fmt: skip
        entry.check_size()
        return entry

    def check_size(self) -> None:
        """Raise ``DecodeError`` when ``size`` cannot hold the shape's values."""
        if self.slices:
            return
        where = f"entry {self.key!r}: "
        try:
            dtype = self.dtype
        except Exception:
            return  # unknown dtypes are reported when the value is read
        if dtype in (DType.VARIANT, DType.RESOURCE):
            return
        if dtype is DType.STRING:
            n = self.num_elements
            if n and self.size < n + 4:
                raise DecodeError(f"{where}{n} strings cannot fit in {self.size} bytes")
            return
        expected = self.num_elements * dtype.itemsize
        if self.size != expected:
            raise DecodeError(
                f"{where}size is {self.size} bytes, shape {list(self.shape)} of "
                f"{dtype.tf_name} needs {expected}"
            )
