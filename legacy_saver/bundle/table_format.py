"""LevelDB table framing as TensorFlow writes it (``tsl/lib/io/format.{h,cc}``).

::

    table    := block* metaindex_block trailer index_block trailer footer
    block    := contents (possibly snappy-compressed)
    trailer  := type:uint8 (0 none, 1 snappy) masked_crc32c(contents + type):fixed32
    footer   := metaindex_handle index_handle zero-padding to 40 bytes
                magic:fixed64 = 0xdb4775248b80fb57          (48 bytes in all)
    handle   := offset:varint64 size:varint64   (size excludes the trailer)
"""

from __future__ import annotations

from dataclasses import dataclass

from .coding import DecodeError, decode_fixed64, decode_varint, encode_fixed64, encode_varint

TABLE_MAGIC = 0xDB4775248B80FB57  # tsl/lib/io/format.h kTableMagicNumber
BLOCK_TRAILER_BYTES = 5  # 1 type byte + 4 crc bytes
MAX_HANDLE_BYTES = 20  # two varint64s
FOOTER_BYTES = 2 * MAX_HANDLE_BYTES + 8
NO_COMPRESSION = 0
SNAPPY_COMPRESSION = 1


@dataclass(frozen=True)
class BlockHandle:
    """Where a block lives in the file: ``offset`` and ``size`` in bytes."""

    offset: int
    size: int

    def encode(self) -> bytes:
        return encode_varint(self.offset) + encode_varint(self.size)

    @classmethod
    def decode(cls, buf: bytes | memoryview, pos: int = 0) -> tuple[BlockHandle, int]:
        offset, pos = decode_varint(buf, pos)
        size, pos = decode_varint(buf, pos)
        return cls(offset, size), pos


@dataclass(frozen=True)
class Footer:
    metaindex: BlockHandle
    index: BlockHandle

    def encode(self) -> bytes:
        handles = self.metaindex.encode() + self.index.encode()
        return handles.ljust(2 * MAX_HANDLE_BYTES, b"\x00") + encode_fixed64(TABLE_MAGIC)

    @classmethod
    def decode(cls, buf: bytes | memoryview) -> Footer:
        if len(buf) != FOOTER_BYTES:
            raise DecodeError(f"footer needs {FOOTER_BYTES} bytes, got {len(buf)}")
        if decode_fixed64(buf, FOOTER_BYTES - 8) != TABLE_MAGIC:
            raise DecodeError("bad magic number")
        metaindex, pos = BlockHandle.decode(buf, 0)
        index, _ = BlockHandle.decode(buf, pos)
        return cls(metaindex, index)
