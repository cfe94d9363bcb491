"""String tensors in a data shard (``tensor_bundle.cc`` Write/ReadStringTensor).

::

    value := len[0]:varint64 ... len[n-1]:varint64
             masked_crc32c(lengths):fixed32
             bytes[0] ... bytes[n-1]

The length checksum is a crc32c over the lengths as fixed-width integers
(uint32 when a length fits, uint64 otherwise), not over their varint bytes.
The entry's own crc32c covers those same integers, then the 4 stored
checksum bytes, then the string bytes.
"""

from __future__ import annotations

import struct

import numpy as np

from .coding import DecodeError, crc32c, decode_varint, encode_fixed32, encode_varint, mask_crc
from .coding import unmask_crc as _unmask

_U32 = 0xFFFFFFFF


def _length_bytes(length: int, big_endian: bool) -> bytes:
    order = ">" if big_endian else "<"
    return struct.pack(order + ("I" if length <= _U32 else "Q"), length)


def encode_strings(values: np.ndarray) -> tuple[bytes, int]:
    """Encode an array of ``bytes``/``str``; return ``(data, masked_crc)``."""
    items = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values.ravel()]
    lengths = b"".join(encode_varint(len(v)) for v in items)
    crc = 0
    for v in items:
        crc = crc32c(_length_bytes(len(v), False), crc)
    length_crc = encode_fixed32(mask_crc(crc))
    crc = crc32c(length_crc, crc)
    body = b"".join(items)
    if body:
        crc = crc32c(body, crc)
    return lengths + length_crc + body, mask_crc(crc)


def decode_strings(
    data: bytes, count: int, *, big_endian: bool = False, verify: bool = True
) -> tuple[list[bytes], int]:
    """Decode ``count`` strings from ``data``; return ``(values, crc)`` where
    ``crc`` is the unmasked crc32c to compare with the entry's."""
    if count == 0 and not data:
        return [], 0  # nothing stored at all (TensorFlow itself writes the 4 crc bytes)
    lengths = []
    pos = 0
    crc = 0
    for _ in range(count):
        length, pos = decode_varint(data, pos)
        lengths.append(length)
        if verify:
            crc = crc32c(_length_bytes(length, big_endian), crc)
    if pos + 4 > len(data):
        raise DecodeError(f"string lengths run past the value ({len(data)} bytes)")
    stored = data[pos : pos + 4]
    pos += 4
    total = sum(lengths)
    if total != len(data) - pos:
        raise DecodeError(f"string lengths add up to {total} bytes, value holds {len(data) - pos}")
    stored_crc = int.from_bytes(stored, "big" if big_endian else "little")
    if verify:
        if _unmask(stored_crc) != crc:
            raise DecodeError("string length checksum mismatch")
        crc = crc32c(stored, crc)
    values = []
    for length in lengths:
        values.append(data[pos : pos + length])
        pos += length
    if verify and total:
        crc = crc32c(data[len(data) - total :], crc)
    return values, crc
