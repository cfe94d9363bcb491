"""TensorFlow's OrderedCode, as used for the keys of tensor slices.

A slice of a partitioned variable is stored under an internal key::

    num_increasing(0) string(name) num_increasing(rank)
    { signed_num_increasing(start) signed_num_increasing(length) } * rank

(``tensorflow/core/util/saved_tensor_slice_util.cc``; a full extent is written
as start 0, length -1). Encodings (``tensorflow/core/lib/strings/ordered_code.cc``):

* num_increasing(v): one length byte n, then v in n big-endian bytes (0 -> b"\\x00").
* string(s): s with ``\\x00`` -> ``\\x00\\xff`` and ``\\xff`` -> ``\\xff\\x00``,
  then the separator ``\\x00\\x01``.
* signed_num_increasing(v): sign bit, then as many length bits as extra bytes,
  a delimiter bit, then v's two's-complement payload, big-endian; 1-10 bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

from .coding import DecodeError

# Header bits of the first two bytes for an encoding of each length (1..10).
_HEADER_BITS = [
    (0x00, 0x00), (0x80, 0x00), (0xC0, 0x00), (0xE0, 0x00), (0xF0, 0x00), (0xF8, 0x00),
    (0xFC, 0x00), (0xFE, 0x00), (0xFF, 0x00), (0xFF, 0x80), (0xFF, 0xC0),
]  # fmt: skip


def _signed_length(x: int) -> int:
    """Encoded length of a value whose magnitude bits are ``x`` (x >= 0)."""
    bits = x.bit_length()  # 1 + floor(log2 x), 0 for 0
    return min(10, bits // 7 + 1)


def num_increasing(value: int) -> bytes:
    if value < 0:
        raise ValueError("num_increasing takes non-negative values")
    payload = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return bytes([len(payload)]) + payload


def string(value: bytes) -> bytes:
    return _escape(value) + b"\x00\x01"


def _escape(value: bytes) -> bytes:
    out = bytearray()
    for byte in value:
        if byte == 0x00:
            out += b"\x00\xff"
        elif byte == 0xFF:
            out += b"\xff\x00"
        else:
            out.append(byte)
    return bytes(out)


def signed_num_increasing(value: int) -> bytes:
    x = ~value if value < 0 else value
    if x < 64:
        return bytes([(0x80 ^ value) & 0xFF])
    length = _signed_length(x)
    raw = bytearray((value & ((1 << 80) - 1)).to_bytes(10, "big"))  # sign-extended
    begin = raw[10 - length :]
    begin[0] ^= _HEADER_BITS[length][0]
    begin[1] ^= _HEADER_BITS[length][1]
    return bytes(begin)


def slice_key(name: str, extents: Sequence[tuple[int, int]]) -> bytes:
    """Internal key of one slice: ``extents`` are ``(start, length)`` per
    dimension, ``length == -1`` meaning the whole dimension."""
    out = bytearray(num_increasing(0))
    out += string(name.encode("utf-8"))
    out += num_increasing(len(extents))
    for start, length in extents:
        out += signed_num_increasing(start)
        out += signed_num_increasing(length)
    return bytes(out)


def decode_signed_num_increasing(buf: bytes, pos: int) -> tuple[int, int]:
    """Inverse of :func:`signed_num_increasing` (used by tests and V1 keys)."""
    if pos >= len(buf):
        raise DecodeError("signed number runs past the end")
    negative = not buf[pos] & 0x80
    flip = 0xFF if negative else 0x00
    first = buf[pos] ^ flip
    if first != 0xFF:
        length = 1
        while first & (0x80 >> length):
            length += 1
    else:
        second = buf[pos + 1] ^ flip if pos + 1 < len(buf) else 0
        length = 8 if second < 0x80 else (9 if second < 0xC0 else 10)
    if pos + length > len(buf):
        raise DecodeError("signed number runs past the end")
    raw = int.from_bytes(bytes(b ^ flip for b in buf[pos : pos + length]), "big")
    header = int.from_bytes(bytes(_HEADER_BITS[length][: min(2, length)]), "big") << (
        8 * (length - min(2, length))
    )
    magnitude = raw ^ header
    value = ~magnitude if negative else magnitude
    return value, pos + length
