"""Reading and writing a whole LevelDB table (the ``.index`` file, and V1
checkpoints). See ``table_format.py`` for the framing and ``block.py`` for the
block layout.

The reader takes the table's bytes (index files are small: KB to a few MB) and
checks everything before it trusts it: footer magic, handles inside the file,
block checksums, snappy lengths bounded by the compressed size, keys strictly
increasing. Any failure is a ``DecodeError`` whose message the bundle reader
wraps with the file name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from .block import RESTART_INTERVAL, BlockBuilder, iter_block
from .coding import DecodeError, crc32c, decode_fixed32, decode_varint, encode_fixed32, mask_crc
from .coding import unmask_crc as _unmask
from .table_format import (
    BLOCK_TRAILER_BYTES,
    FOOTER_BYTES,
    NO_COMPRESSION,
    SNAPPY_COMPRESSION,
    BlockHandle,
    Footer,
)

BLOCK_SIZE = 262144  # tsl/lib/io/table_options.h block_size (uncompressed bytes)
OVERLY_LARGE_BLOCK_RATIO = 2  # tsl table_builder.cc: flush before an entry this many blocks big
SNAPPY_MAX_EXPANSION = 32  # a snappy copy op expands at most ~21x; bound allocations by this


def read_block(data: bytes | memoryview, handle: BlockHandle, verify: bool = True) -> bytes:
    """Return the uncompressed contents of the block at ``handle``."""
    end = handle.offset + handle.size + BLOCK_TRAILER_BYTES
    if end > len(data):
        raise DecodeError(
            f"block handle (offset {handle.offset}, size {handle.size}) "
            f"points past the end of the file ({len(data)} bytes)"
        )
    contents = data[handle.offset : handle.offset + handle.size]
    kind = data[handle.offset + handle.size]
    if verify:
        stored = decode_fixed32(data, handle.offset + handle.size + 1)
        actual = crc32c(data[handle.offset : handle.offset + handle.size + 1])
        if _unmask(stored) != actual:
            raise DecodeError(f"block checksum mismatch at offset {handle.offset}")
    if kind == NO_COMPRESSION:
        return bytes(contents)
    if kind == SNAPPY_COMPRESSION:
        length, _ = decode_varint(contents, 0)
        if length > SNAPPY_MAX_EXPANSION * len(contents) + 64:
            raise DecodeError(
                f"snappy block at offset {handle.offset} claims {length} bytes "
                f"from {len(contents)} compressed"
            )
        import cramjam  # only snappy blocks need it (imported once, on the first)

        try:
            out = bytes(cramjam.snappy.decompress_raw(bytes(contents)))
        except Exception as exc:  # cramjam raises its own DecompressionError
            raise DecodeError(f"corrupted snappy block at offset {handle.offset}: {exc}") from exc
        if len(out) != length:
            raise DecodeError(f"snappy block at offset {handle.offset} has the wrong length")
        return out
    raise DecodeError(f"unknown block compression type {kind} at offset {handle.offset}")


class TableReader:
    """All entries of one table, in key order."""

    def __init__(self, data: bytes | memoryview, verify_checksums: bool = True) -> None:
        if len(data) < FOOTER_BYTES:
            raise DecodeError(f"truncated: footer needs {FOOTER_BYTES} bytes, file has {len(data)}")
        self._data = data
        self._verify = verify_checksums
        footer = Footer.decode(data[len(data) - FOOTER_BYTES :])
        self._index_end = len(data) - FOOTER_BYTES
        self._index = read_block(data, footer.index, verify_checksums)
        self.saw_compression = data[footer.index.offset + footer.index.size] != NO_COMPRESSION

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        previous: bytes | None = None
        for _, handle_bytes in iter_block(self._index):
            handle, used = BlockHandle.decode(handle_bytes)
            if used != len(handle_bytes):
                raise DecodeError("index entry has trailing bytes after its block handle")
            if handle.offset + handle.size + BLOCK_TRAILER_BYTES > self._index_end:
                raise DecodeError(
                    f"block handle (offset {handle.offset}, size {handle.size}) "
                    f"points past the data area ({self._index_end} bytes)"
                )
            if self._data[handle.offset + handle.size] != NO_COMPRESSION:
                self.saw_compression = True
            for key, value in iter_block(read_block(self._data, handle, self._verify)):
                if previous is not None and key <= previous:
                    what = "duplicate" if key == previous else "out of order"
                    raise DecodeError(f"keys {what}: {key!r} after {previous!r}")
                previous = key
                yield key, value


def shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key >= ``start`` and < ``limit`` (LevelDB bytewise comparator)."""
    n = min(len(start), len(limit))
    i = 0
    while i < n and start[i] == limit[i]:
        i += 1
    if i < n and start[i] < 0xFF and start[i] + 1 < limit[i]:
        return start[:i] + bytes([start[i] + 1])
    return start


def short_successor(key: bytes) -> bytes:
    """A short key >= ``key``."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes([byte + 1])
    return key


class TableBuilder:
    """Writes sorted ``(key, value)`` pairs as a table, byte-for-byte as
    TensorFlow's ``tsl::table::TableBuilder`` does for the same options."""

    def __init__(
        self,
        out: BinaryIO,
        block_size: int = BLOCK_SIZE,
        compression: int = NO_COMPRESSION,
        restart_interval: int = RESTART_INTERVAL,
    ) -> None:
        self._out = out
        self._block_size = block_size
        self._compression = compression
        self._data_block = BlockBuilder(restart_interval)
        self._index_block = BlockBuilder(1)
        self._offset = 0
        self._last_key: bytes | None = None
        self._pending: BlockHandle | None = None
        self._closed = False

    def add(self, key: bytes, value: bytes) -> None:
        if self._closed:
            raise ValueError("table builder is finished")
        if self._last_key is not None:
            if key <= self._last_key:
                raise ValueError(f"keys must be added in increasing order: {key!r}")
            if len(key) + len(value) >= OVERLY_LARGE_BLOCK_RATIO * self._block_size:
                self._flush()
        if self._pending is not None:
            assert self._last_key is not None
            self._index_block.add(shortest_separator(self._last_key, key), self._pending.encode())
            self._pending = None
        self._last_key = key
        self._data_block.add(key, value)
        if self._data_block.size_estimate() >= self._block_size:
            self._flush()

    def _flush(self) -> None:
        if self._data_block.empty:
            return
        self._pending = self._write_block(self._data_block)

    def _write_block(self, block: BlockBuilder) -> BlockHandle:
        raw = block.finish()
        kind, contents = NO_COMPRESSION, raw
        if self._compression == SNAPPY_COMPRESSION:
            import cramjam

            packed = bytes(cramjam.snappy.compress_raw(raw))
            if len(packed) < len(raw) - len(raw) // 8:
                kind, contents = SNAPPY_COMPRESSION, packed
        handle = BlockHandle(self._offset, len(contents))
        trailer = bytes([kind])
        self._out.write(contents)
        self._out.write(trailer + encode_fixed32(mask_crc(crc32c(contents + trailer))))
        self._offset += len(contents) + BLOCK_TRAILER_BYTES
        block.reset()
        return handle

    def finish(self) -> int:
        """Write the metaindex, index and footer; return the file size."""
        self._flush()
        self._closed = True
        metaindex = self._write_block(BlockBuilder())
        if self._pending is not None:
            assert self._last_key is not None
            self._index_block.add(short_successor(self._last_key), self._pending.encode())
            self._pending = None
        index = self._write_block(self._index_block)
        footer = Footer(metaindex, index).encode()
        self._out.write(footer)
        self._offset += len(footer)
        return self._offset
