"""Golden bytes for the format layer: every expected value here is derived by
hand from a published spec (RFC 3720, LevelDB's table_format.md, the comments
of TensorFlow's ordered_code.cc, protobuf's wire format), not from our code."""

from __future__ import annotations

import io

import pytest

from legacy_saver.bundle.coding import (
    DecodeError,
    crc32c,
    decode_fixed32,
    decode_fixed64,
    decode_varint,
    encode_fixed32,
    encode_fixed64,
    encode_varint,
    mask_crc,
    unmask_crc,
)
from legacy_saver.bundle.entry import BundleEntry
from legacy_saver.bundle.ordered_code import (
    decode_signed_num_increasing,
    num_increasing,
    signed_num_increasing,
    slice_key,
    string,
)
from legacy_saver.bundle.table import TableBuilder, TableReader

# -- crc32c (RFC 3720 appendix B.4) -------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (bytes(32), 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
        (b"123456789", 0xE3069283),  # the CRC catalogue's "check" value for CRC-32C
    ],
)
def test_crc32c_rfc3720_vectors(data: bytes, expected: int) -> None:
    assert crc32c(data) == expected
    assert crc32c(bytearray(data)) == expected
    assert crc32c(memoryview(data)) == expected
    # Extending in two pieces gives the crc of the whole.
    assert crc32c(data[7:], crc32c(data[:7])) == expected


def test_mask_is_rotate_right_15_plus_delta() -> None:
    # mask(0): rotating 0 is 0, so the result is the delta itself (LevelDB kMaskDelta).
    assert mask_crc(0) == 0xA282EAD8
    # 0x8a9136aa rotated right by 15: low 15 bits 0x36aa move to the top
    # (0x36aa << 17 = 0x6d540000), the rest shifts down (0x8a9136aa >> 15 = 0x11522);
    # 0x6d551522 + 0xa282ead8 = 0x1_0fd7_fffa, which wraps to 0x0fd7fffa.
    assert mask_crc(0x8A9136AA) == 0x0FD7FFFA
    assert unmask_crc(0x0FD7FFFA) == 0x8A9136AA
    for value in (0, 1, 0xFFFFFFFF, 0x80000000, 0x12345678):
        assert unmask_crc(mask_crc(value)) == value
        assert 0 <= mask_crc(value) <= 0xFFFFFFFF


# -- fixed-width and varint integers (LevelDB util/coding) --------------------------


def test_fixed_width_little_endian() -> None:
    assert encode_fixed32(0x04030201) == b"\x01\x02\x03\x04"
    assert encode_fixed64(0xDB4775248B80FB57) == bytes.fromhex("57fb808b247547db")
    assert decode_fixed32(b"\x00\x01\x02\x03\x04", 1) == 0x04030201
    assert decode_fixed64(bytes.fromhex("57fb808b247547db")) == 0xDB4775248B80FB57
    with pytest.raises(DecodeError, match="runs past the end"):
        decode_fixed32(b"\x01\x02\x03", 0)
    with pytest.raises(DecodeError, match="runs past the end"):
        decode_fixed64(bytes(8), 1)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),  # largest one-byte value
        (128, "8001"),  # low 7 bits 0 with the continuation bit, then 1
        (300, "ac02"),  # protobuf's documented example
        (16383, "ff7f"),
        (16384, "808001"),
        (2**32 - 1, "ffffffff0f"),  # largest varint32: five bytes
        (2**63, "80808080808080808001"),
        (2**64 - 1, "ffffffffffffffffff01"),  # largest varint64: ten bytes
    ],
)
def test_varint_golden(value: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert encode_varint(value) == raw
    assert decode_varint(raw, 0) == (value, len(raw))
    assert decode_varint(b"\xaa" + raw + b"\xbb", 1) == (value, len(raw) + 1)


def test_varint_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="negative"):
        encode_varint(-1)
    with pytest.raises(DecodeError, match="truncated"):
        decode_varint(b"\x80\x80", 0)  # continuation bit on the last byte
    with pytest.raises(DecodeError, match="truncated"):
        decode_varint(b"", 0)
    with pytest.raises(DecodeError):
        decode_varint(b"\x80" * 10 + b"\x01", 0)  # 11 bytes: longer than any varint64
    with pytest.raises(DecodeError, match="overflows"):
        decode_varint(b"\xff" * 9 + b"\x02", 0)  # 2**64: one bit too many
    with pytest.raises(DecodeError):
        decode_varint(b"\x80\x80\x80\x80\x80\x01", 0, max_bytes=5)  # six bytes for a varint32
    with pytest.raises(DecodeError, match="overflows"):
        decode_varint(b"\xff\xff\xff\xff\x1f", 0, max_bytes=5)  # 2**33 - 1 as a varint32


# -- OrderedCode (tensorflow/core/lib/strings/ordered_code.cc) -----------------------


def _signed_reference(value: int) -> bytes:
    """The spec in ordered_code.cc's comment, bit by bit: n bytes hold a sign
    bit (1 for >= 0), n-1 size bits equal to it, a delimiter bit of the other
    value, then the value in two's complement in the remaining 7n-1 bits."""
    n = next(n for n in range(1, 11) if -(2 ** (7 * n - 1)) <= value < 2 ** (7 * n - 1))
    sign = "1" if value >= 0 else "0"
    other = "0" if value >= 0 else "1"
    payload_bits = 7 * n - 1
    payload = format(value & (2**payload_bits - 1), f"0{payload_bits}b")
    bits = sign + sign * (n - 1) + other + payload
    assert len(bits) == 8 * n
    return int(bits, 2).to_bytes(n, "big")


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0x424242, "f0424242"),  # ordered_code.cc "Example 1"
        (-0x800, "3800"),  # ordered_code.cc "Example 2"
        (0, "80"),
        (-1, "7f"),
        (63, "bf"),  # largest one-byte value: [-64, 64)
        (-64, "40"),
        (64, "c040"),
        (-65, "3fbf"),
        (2**13 - 1, "dfff"),  # largest two-byte value: [-2**13, 2**13)
        (2**13, "e02000"),
        (2**63 - 1, "ffc07fffffffffffffff"),  # ten bytes: 11 header bits, 69 payload bits
        (-(2**63), "003f8000000000000000"),
    ],
)
def test_signed_num_increasing_golden(value: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert _signed_reference(value) == raw  # the bit-level reference agrees with the examples
    assert signed_num_increasing(value) == raw
    assert decode_signed_num_increasing(raw, 0) == (value, len(raw))


def _edge_values() -> list[int]:
    values = set(range(-300, 300))
    for bits in range(1, 64):
        for base in (2**bits, -(2**bits)):
            values.update({base - 1, base, base + 1})
    return sorted(v for v in values if -(2**63) <= v < 2**63)


def test_signed_num_increasing_round_trip_and_order() -> None:
    values = _edge_values()
    encoded = [signed_num_increasing(v) for v in values]
    for value, raw in zip(values, encoded, strict=True):
        assert raw == _signed_reference(value), value
        assert decode_signed_num_increasing(b"\x01" + raw + b"\x02", 1) == (value, len(raw) + 1)
    # The point of the encoding: byte order is numeric order.
    assert encoded == sorted(encoded)


def test_signed_num_increasing_truncated() -> None:
    with pytest.raises(DecodeError):
        decode_signed_num_increasing(bytes.fromhex("f04242"), 0)  # 4-byte header, 3 bytes
    with pytest.raises(DecodeError):
        decode_signed_num_increasing(b"", 0)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "00"), (1, "0101"), (255, "01ff"), (256, "020100"), (2**64 - 1, "08" + "ff" * 8)],
)
def test_num_increasing_golden(value: int, encoded: str) -> None:
    # A length byte, then the value's minimal big-endian bytes.
    assert num_increasing(value) == bytes.fromhex(encoded)


def test_string_escapes_and_terminates() -> None:
    # 0x00 -> 00 ff, 0xff -> ff 00, then the 00 01 separator.
    assert string(b"a\x00b\xffc") == bytes.fromhex("61 00ff 62 ff00 63 0001")
    assert string(b"") == b"\x00\x01"


def test_slice_key_golden() -> None:
    # num(0) | string("w") | num(rank 2) | start 0, length -1 (whole dim) | start 2, length 3
    expected = bytes.fromhex("00" "77 0001" "0102" "80 7f" "82 83")  # fmt: skip
    assert slice_key("w", [(0, -1), (2, 3)]) == expected
    # Names are UTF-8 before escaping: "é" is c3 a9.
    assert slice_key("é", [(0, 1)]) == bytes.fromhex("00 c3a9 0001 0101 80 81")


# -- tables (LevelDB doc/table_format.md; tsl/lib/io/format.cc) -----------------------

# One entry, key b"k", value b"v", no compression:
# fmt: off
ONE_ENTRY_TABLE = bytes.fromhex(
    # data block @0, 13 bytes: shared 0, non_shared 1, value_len 1, "k", "v",
    # restart array [0], restart count 1
    "00 01 01 6b 76" "00000000" "01000000"
    # trailer: type 0 (none), masked crc32c of the 13 block bytes + the type byte
    "00" "e4fc97b9"
    # metaindex block @18, 8 bytes: empty (restart array [0], count 1) + trailer
    "00000000" "01000000" "00" "c0f2a1b0"
    # index block @31, 14 bytes: one entry whose key is the successor of "k"
    # ("l") and whose value is the data block's handle (offset 0, size 13)
    "00 01 02 6c 00 0d" "00000000" "01000000" "00" "f0c412fc"
    # footer: metaindex handle (18, 8), index handle (31, 14), zero padding
    # to 40 bytes, then the magic 0xdb4775248b80fb57 little-endian
    "12 08 1f 0e" + "00" * 36 + "57fb808b247547db"
)
# fmt: on


def _table(entries: list[tuple[bytes, bytes]], **options: int) -> bytes:
    out = io.BytesIO()
    builder = TableBuilder(out, **options)
    for key, value in entries:
        builder.add(key, value)
    size = builder.finish()
    assert size == len(out.getvalue())
    return out.getvalue()


def test_one_entry_table_bytes() -> None:
    data = _table([(b"k", b"v")])
    assert data == ONE_ENTRY_TABLE
    assert len(data) == 13 + 5 + 8 + 5 + 14 + 5 + 48
    assert list(TableReader(data).items()) == [(b"k", b"v")]


def test_one_entry_table_checksums_are_masked_crc32c() -> None:
    # The three trailers' crcs, recomputed from the block bytes they cover.
    for start, size in ((0, 13), (18, 8), (31, 14)):
        covered = ONE_ENTRY_TABLE[start : start + size + 1]
        stored = decode_fixed32(ONE_ENTRY_TABLE, start + size + 1)
        assert stored == mask_crc(crc32c(covered))


def test_empty_table_bytes() -> None:
    # Only an empty metaindex block @0 and an empty index block @13, then the footer.
    empty_block = "00000000" "01000000" "00" "c0f2a1b0"  # fmt: skip
    expected = bytes.fromhex(empty_block * 2 + "00 08 0d 08" + "00" * 36 + "57fb808b247547db")
    assert _table([]) == expected
    assert list(TableReader(expected).items()) == []


def test_table_rejects_bad_magic_and_checksum() -> None:
    bad_magic = ONE_ENTRY_TABLE[:-1] + b"\x00"
    with pytest.raises(DecodeError, match="bad magic number"):
        TableReader(bad_magic)
    flipped = bytearray(ONE_ENTRY_TABLE)
    flipped[4] ^= 0x01  # the value byte "v"
    with pytest.raises(DecodeError, match="block checksum mismatch"):
        list(TableReader(bytes(flipped)).items())
    # Without verification the flipped byte comes through.
    assert list(TableReader(bytes(flipped), verify_checksums=False).items()) == [(b"k", b"w")]
    with pytest.raises(DecodeError, match="footer needs 48 bytes"):
        TableReader(ONE_ENTRY_TABLE[-17:])


# -- BundleEntryProto (tensor_bundle.proto; protobuf wire format) -----------------------


def test_bundle_entry_bytes() -> None:
    entry = BundleEntry("x", 1, (2, 3), shard_id=0, offset=0, size=24, crc32c=0x01020304)
    expected = bytes.fromhex(
        "08 01"  # field 1 dtype (varint) = DT_FLOAT
        "12 08 1202 0802 1202 0803"  # field 2 shape: two TensorShapeProto.dim {size}
        # shard_id (3) and offset (4) are 0: proto3 leaves them out
        "28 18"  # field 5 size (varint) = 24
        "35 04030201"  # field 6 crc32c (fixed32, little-endian)
    )
    assert entry.encode() == expected
    assert BundleEntry.decode("x", expected) == entry


def test_scalar_and_sliced_entry_bytes() -> None:
    # A scalar still carries an (empty) shape field, as TensorFlow writes it.
    assert BundleEntry("s", 1, (), size=4).encode() == bytes.fromhex("0801 1200 2804")
    sliced = BundleEntry("p", 1, (4, 3), slices=(((0, 2), (0, -1)),))
    # field 7 slices: TensorSliceProto{extent{start 0 (omitted), length 2}, extent{}}
    assert sliced.encode() == bytes.fromhex("0801 1208 12020804 12020803 3a06 0a021002 0a00")
    assert BundleEntry.decode("p", sliced.encode()) == sliced
