"""Integer encodings and checksums shared by every on-disk structure.

* varint32/varint64: little-endian base-128, 7 bits per byte, high bit set on
  every byte but the last (LevelDB ``util/coding``); at most 5 / 10 bytes.
* fixed32/fixed64: little-endian.
* masked crc32c: LevelDB/TensorFlow store ``rotr15(crc) + 0xa282ead8`` so that a
  crc computed over data that itself embeds crcs stays well distributed.
"""

from __future__ import annotations

import struct

import google_crc32c
import numpy as np

MASK_DELTA = 0xA282EAD8  # LevelDB util/crc32c.h kMaskDelta
MAX_VARINT32_BYTES = 5
MAX_VARINT64_BYTES = 10

_FIXED32 = struct.Struct("<I")
_FIXED64 = struct.Struct("<Q")


class DecodeError(ValueError):
    """Raised by the decoders here; callers translate it into a
    ``CorruptCheckpointError`` that names the file and the key."""


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """crc32c (Castagnoli) of ``data``, extending ``crc``. Zero-copy: the C
    codec rejects memoryviews but takes any numpy array over the same bytes."""
    view = data if isinstance(data, bytes) else np.frombuffer(data, dtype=np.uint8)
    return int(google_crc32c.extend(crc, view) if crc else google_crc32c.value(view))


def mask_crc(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    rot = (masked - MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def encode_fixed32(value: int) -> bytes:
    return _FIXED32.pack(value)


def encode_fixed64(value: int) -> bytes:
    return _FIXED64.pack(value)


def decode_fixed32(buf: bytes | memoryview, pos: int = 0) -> int:
    if pos < 0 or pos + 4 > len(buf):
        raise DecodeError(f"fixed32 at {pos} runs past the end ({len(buf)} bytes)")
    return int(_FIXED32.unpack_from(buf, pos)[0])


def decode_fixed64(buf: bytes | memoryview, pos: int = 0) -> int:
    if pos < 0 or pos + 8 > len(buf):
        raise DecodeError(f"fixed64 at {pos} runs past the end ({len(buf)} bytes)")
    return int(_FIXED64.unpack_from(buf, pos)[0])


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"varint cannot encode negative value {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(
    buf: bytes | memoryview, pos: int, max_bytes: int = MAX_VARINT64_BYTES
) -> tuple[int, int]:
    """Decode a varint at ``pos``; return ``(value, next_pos)``."""
    result = 0
    shift = 0
    end = min(len(buf), pos + max_bytes)
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            bits = 32 if max_bytes == MAX_VARINT32_BYTES else min(64, 7 * max_bytes)
            if result >> bits:
                raise DecodeError(f"varint overflows {bits} bits")
            return result, pos
        shift += 7
    raise DecodeError(f"truncated or overlong varint at byte {pos}")
