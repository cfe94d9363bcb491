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
from collections.abc import Iterator

import numpy as np

from .coding import MAX_VARINT64_BYTES, DecodeError, crc32c, encode_fixed32, encode_varint, mask_crc
from .coding import unmask_crc as _unmask

_U32 = 0xFFFFFFFF
CHUNK_ELEMENTS = 1 << 14  # strings decoded at a time: bounds the temporaries of a decode


def _length_bytes(length: int, big_endian: bool) -> bytes:
    order = ">" if big_endian else "<"
    return struct.pack(order + ("I" if length <= _U32 else "Q"), length)


def encode_strings(values: np.ndarray) -> tuple[bytes, int]:
    """Encode an array of ``bytes``/``str``; return ``(data, masked_crc)``."""
    items = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values.ravel()]
    lengths = b"".join(encode_varint(len(v)) for v in items)
    crc = _length_crc(np.fromiter(map(len, items), np.uint64, len(items)), 0, False)
    length_crc = encode_fixed32(mask_crc(crc))
    crc = crc32c(length_crc, crc)
    body = b"".join(items)
    if body:
        crc = crc32c(body, crc)
    return lengths + length_crc + body, mask_crc(crc)


def _length_crc(lengths: np.ndarray, crc: int, big_endian: bool) -> int:
    """Extend ``crc`` over ``lengths`` as TensorFlow feeds them: each as a uint32 when it
    fits, else as a uint64 (in the file's byte order)."""
    order = ">" if big_endian else "<"
    if lengths.size and int(lengths.max()) > _U32:  # rare: strings of 4 GiB and more
        for length in lengths.tolist():
            crc = crc32c(_length_bytes(length, big_endian), crc)
        return crc
    return crc32c(lengths.astype(order + "u4").tobytes(), crc) if lengths.size else crc


def _decode_lengths(u8: np.ndarray, pos: int, count: int) -> tuple[np.ndarray, int]:
    """``count`` varint64s from ``u8[pos:]``, decoded with numpy (no Python loop per
    element); return ``(lengths as uint64, position after them)``."""
    for width in (2, MAX_VARINT64_BYTES):  # most lengths take one byte: look there first
        window = u8[pos : min(len(u8), pos + width * count)]
        ends = np.flatnonzero(window < 0x80)[:count]  # each varint ends at a byte < 0x80
        if len(ends) == count:
            break
    else:
        raise DecodeError(f"string lengths run past the value ({len(u8)} bytes)")
    starts = np.empty(count, np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    nbytes = ends - starts + 1
    longest = int(nbytes.max())
    if longest > MAX_VARINT64_BYTES:
        raise DecodeError(f"truncated or overlong varint at byte {pos + int(starts[0])}")
    if longest == MAX_VARINT64_BYTES and (window[ends[nbytes == longest]] > 1).any():
        raise DecodeError("varint overflows 64 bits")
    lengths = np.zeros(count, np.uint64)
    for k in range(longest):
        sel = nbytes > k
        part = (window[starts[sel] + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        lengths[sel] |= part
    return lengths, pos + int(ends[-1]) + 1


class StringLayout:
    """A stored string tensor (``data``, ``count`` strings), checked once, its strings
    decoded on demand, a chunk at a time.

    Checking reads the lengths in chunks of ``CHUNK_ELEMENTS`` with numpy: their crc, that
    they add up to the bytes that follow, and (``verify``) the stored length checksum;
    ``crc`` is then the unmasked crc32c of the whole value, for the caller to compare
    with the entry's. Nothing per string is kept: ``chunks`` decodes the lengths again,
    so a tensor of many short strings costs its stored bytes plus one chunk, not a
    Python object per string.
    """

    def __init__(
        self, data: bytes, count: int, *, big_endian: bool = False, verify: bool = True
    ) -> None:
        self.data, self.count, self._u8 = data, count, np.frombuffer(data, np.uint8)
        self.body, self.crc = len(data), 0
        if count == 0 and not data:
            return  # nothing stored at all (TensorFlow itself writes the 4 crc bytes)
        pos, crc, total = 0, 0, 0
        for start in range(0, count, CHUNK_ELEMENTS):
            lengths, pos = _decode_lengths(self._u8, pos, min(CHUNK_ELEMENTS, count - start))
            if lengths.size and int(lengths.max()) > len(data):
                raise DecodeError(f"a string length exceeds the value ({len(data)} bytes)")
            total += int(lengths.sum())
            if verify:
                crc = _length_crc(lengths, crc, big_endian)
        if pos + 4 > len(data):
            raise DecodeError(f"string lengths run past the value ({len(data)} bytes)")
        stored = data[pos : pos + 4]
        self.body = pos + 4
        if total != len(data) - self.body:
            raise DecodeError(
                f"string lengths add up to {total} bytes, value holds {len(data) - self.body}"
            )
        if verify:
            if _unmask(int.from_bytes(stored, "big" if big_endian else "little")) != crc:
                raise DecodeError("string length checksum mismatch")
            crc = crc32c(stored, crc)
            if total:
                crc = crc32c(memoryview(data)[self.body :], crc)
        self.crc = crc

    def chunks(self, elements: int = CHUNK_ELEMENTS) -> Iterator[tuple[int, np.ndarray]]:
        """``(first, offsets)`` per chunk: string ``first + j`` is
        ``data[offsets[j]:offsets[j + 1]]``."""
        pos, offset = 0, self.body
        for start in range(0, self.count, elements):
            lengths, pos = _decode_lengths(self._u8, pos, min(elements, self.count - start))
            offsets = np.empty(len(lengths) + 1, np.int64)
            offsets[0] = offset
            np.cumsum(lengths.astype(np.int64), out=offsets[1:])
            offsets[1:] += offset
            offset = int(offsets[-1])
            yield start, offsets

    def values(self, elements: int = CHUNK_ELEMENTS) -> Iterator[list[bytes]]:
        """The strings, one list of ``bytes`` per chunk."""
        data = self.data
        for _, offsets in self.chunks(elements):
            bounds = offsets.tolist()
            yield [data[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def take(self, indices: np.ndarray) -> list[bytes]:
        """The strings at the sorted flat ``indices`` (one pass over the lengths)."""
        out: list[bytes] = []
        for first, offsets in self.chunks():
            lo, hi = np.searchsorted(indices, [first, first + len(offsets) - 1])
            for i in indices[lo:hi].tolist():
                out.append(self.data[int(offsets[i - first]) : int(offsets[i - first + 1])])
        return out


def decode_strings(
    data: bytes, count: int, *, big_endian: bool = False, verify: bool = True
) -> tuple[list[bytes], int]:
    """Decode ``count`` strings from ``data``; return ``(values, crc)`` where
    ``crc`` is the unmasked crc32c to compare with the entry's."""
    layout = StringLayout(data, count, big_endian=big_endian, verify=verify)
    values: list[bytes] = []
    for chunk in layout.values():
        values.extend(chunk)
    return values, layout.crc
