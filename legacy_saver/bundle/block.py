"""One LevelDB block: prefix-compressed entries plus restart points.

::

    block   := entry* restarts:fixed32[num_restarts] num_restarts:fixed32
    entry   := shared:varint32 non_shared:varint32 value_len:varint32
               key_delta:bytes[non_shared] value:bytes[value_len]

An entry's key is the previous key's first ``shared`` bytes plus ``key_delta``.
Every ``restart_interval``-th entry stores its full key (``shared == 0``) and
its offset is listed in ``restarts``. (LevelDB ``table/block{,_builder}.cc``.)
"""

from __future__ import annotations

from collections.abc import Iterator

from .coding import (
    MAX_VARINT32_BYTES,
    DecodeError,
    decode_fixed32,
    decode_varint,
    encode_fixed32,
    encode_varint,
)

RESTART_INTERVAL = 16  # tsl/lib/io/table_options.h block_restart_interval


def iter_block(block: bytes | memoryview) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(key, value)`` of every entry; raise ``DecodeError`` on any
    inconsistency (bounds, restart array, shared prefix longer than the key).

    Hot: a 10,000-variable index is 10,000 entries, read on every restore. The
    three lengths are almost always one-byte varints, read directly; restart
    points are checked against a sorted list as the entries go by."""
    if not isinstance(block, bytes):
        block = bytes(block)
    size = len(block)
    if size < 4:
        raise DecodeError(f"block of {size} bytes has no restart count")
    num_restarts = decode_fixed32(block, size - 4)
    if num_restarts == 0 or num_restarts > (size - 4) // 4:
        raise DecodeError(f"block of {size} bytes cannot hold {num_restarts} restart points")
    limit = size - 4 - 4 * num_restarts
    restarts = sorted({decode_fixed32(block, limit + 4 * i) for i in range(num_restarts)})
    if restarts[-1] > limit or (limit > 0 and restarts[0] != 0):
        raise DecodeError("restart array points outside the block")
    if limit == 0:
        return
    restarts.append(limit)  # a sentinel: no entry starts at the limit
    next_restart, pending = restarts[0], 1
    pos = 0
    key = b""
    while pos < limit:
        entry_at = pos
        shared, non_shared, value_len = block[pos], block[pos + 1], block[pos + 2]
        if (shared | non_shared | value_len) < 0x80:
            pos += 3
        else:
            shared, pos = decode_varint(block, pos, MAX_VARINT32_BYTES)
            non_shared, pos = decode_varint(block, pos, MAX_VARINT32_BYTES)
            value_len, pos = decode_varint(block, pos, MAX_VARINT32_BYTES)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise DecodeError(f"bad entry at block offset {entry_at}")
        if entry_at == next_restart:
            if shared:
                raise DecodeError(f"restart point at block offset {entry_at} shares a prefix")
            next_restart, pending = restarts[pending], pending + 1
        elif entry_at > next_restart:
            raise DecodeError("restart array points between entries")
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        yield key, block[pos : pos + value_len]
        pos += value_len
    if pending != len(restarts):
        raise DecodeError("restart array points between entries")


class BlockBuilder:
    """Accumulates sorted entries into one block's bytes."""

    def __init__(self, restart_interval: int = RESTART_INTERVAL) -> None:
        self._interval = restart_interval
        self.reset()

    def reset(self) -> None:
        self._buf = bytearray()
        self._restarts = [0]
        self._counter = 0
        self._last_key = b""
        self._empty = True

    @property
    def empty(self) -> bool:
        return self._empty

    def size_estimate(self) -> int:
        return len(self._buf) + 4 * len(self._restarts) + 4

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self._counter < self._interval:
            limit = min(len(key), len(self._last_key))
            while shared < limit and key[shared] == self._last_key[shared]:
                shared += 1
        else:
            self._restarts.append(len(self._buf))
            self._counter = 0
        self._buf += encode_varint(shared)
        self._buf += encode_varint(len(key) - shared)
        self._buf += encode_varint(len(value))
        self._buf += key[shared:]
        self._buf += value
        self._last_key = key
        self._counter += 1
        self._empty = False

    def finish(self) -> bytes:
        tail = b"".join(encode_fixed32(r) for r in self._restarts)
        return bytes(self._buf) + tail + encode_fixed32(len(self._restarts))
