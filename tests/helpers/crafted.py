"""Crafted checkpoints with valid checksums, by name (``CASES``), and ``run_case``.

Every file is built with our own table framing and ``BundleEntryProto`` so every
block crc is valid; the reader must refuse each with a ``CheckpointError`` (or read
what it legitimately says, ``LEGITIMATE``) in bounded time and memory. Used by
``tests/test_reliability_crafted.py`` and ``scripts/crafted_vs_tf.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from legacy_saver import CheckpointError
from legacy_saver.bundle.coding import crc32c, encode_fixed32, encode_varint, mask_crc
from legacy_saver.bundle.ordered_code import slice_key
from legacy_saver.bundle.protos import BundleEntryProto
from legacy_saver.bundle.strings import encode_strings
from legacy_saver.bundle.table_format import TABLE_MAGIC, BlockHandle, Footer
from tests.helpers.cases import (
    block_of,
    guarded,
    header_bytes,
    read_everything,
    write_table,
)

FLOATS = np.arange(16, dtype="<f4")  # the valid data shard most cases point at
MEMORY_FACTOR = 64  # peak traced bytes allowed per byte of input files
MEMORY_SLACK = 4 << 20  # fixed allowance: protobuf classes, reader objects


def entry_bytes(
    dtype: int = 1,
    shape: tuple[int, ...] | None = (16,),
    shard_id: int = 0,
    offset: int = 0,
    size: int | None = None,
    crc: int | None = None,
    data: bytes | None = None,
    slices: list[list[tuple[int, int | None]]] = (),
    unknown_rank: bool = False,
) -> bytes:
    """A serialized ``BundleEntryProto``; size and crc default to ``data``'s."""
    data = FLOATS.tobytes() if data is None else data
    proto = BundleEntryProto(
        dtype=dtype,
        shard_id=shard_id,
        offset=offset,
        size=len(data) if size is None else size,
        crc32c=mask_crc(crc32c(data)) if crc is None else crc,
    )
    proto.shape.SetInParent()
    proto.shape.unknown_rank = unknown_rank
    for d in shape or ():
        proto.shape.dim.add(size=d)
    for extents in slices:
        sp = proto.slices.add()
        for start, length in extents:
            ext = sp.extent.add(start=start)
            if length is not None:
                ext.length = length
    return bytes(proto.SerializeToString())


def bundle(
    directory: str,
    entries: list[tuple[bytes, bytes]],
    *,
    header: bytes | None = None,
    shards: dict[int, bytes] | None = None,
    num_shards: int = 1,
    **table: object,
) -> str:
    """Write ``<dir>/ckpt.index`` (header first unless ``header`` is b"") and data shards."""
    prefix = os.path.join(directory, "ckpt")
    head = (
        [] if header == b"" else [(b"", header if header is not None else header_bytes(num_shards))]
    )
    write_table(prefix + ".index", head + entries, **table)  # type: ignore[arg-type]
    for shard, data in (shards if shards is not None else {0: FLOATS.tobytes()}).items():
        with open(f"{prefix}.data-{shard:05d}-of-{max(num_shards, 1):05d}", "wb") as f:
            f.write(data)
    return prefix


def strings_data(values: list[bytes]) -> tuple[bytes, int]:
    """String tensor bytes and their (masked) entry crc."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return encode_strings(arr)


def crafted_string_lengths(lengths: list[int], body: bytes) -> bytes:
    """String data whose length table (and its crc) claims ``lengths``."""
    crc = 0
    for n in lengths:
        crc = crc32c(n.to_bytes(4 if n <= 0xFFFFFFFF else 8, "little"), crc)
    return b"".join(encode_varint(n) for n in lengths) + encode_fixed32(mask_crc(crc)) + body


def _one(**kw: object) -> Callable[[str], str]:
    data = kw.pop("data_file", None)

    def build(d: str) -> str:
        shards = None if data is None else {0: data}
        return bundle(d, [(b"t", entry_bytes(**kw))], shards=shards)  # type: ignore[arg-type]

    return build


def _footer(meta: BlockHandle, index: BlockHandle) -> Callable[[str], str]:
    return lambda d: bundle(d, [(b"t", entry_bytes())], footer=Footer(meta, index).encode())


def _index_handle(handle_bytes: bytes) -> Callable[[str], str]:
    return lambda d: bundle(
        d, [(b"t", entry_bytes())], index_block=block_of([(b"u", handle_bytes)], 1)
    )


def _raw_block(block: bytes, kind: int = 0) -> Callable[[str], str]:
    return lambda d: bundle(d, [(b"t", entry_bytes())], data_block=block, data_kind=kind)


def _header(**kw: int | tuple[int, ...]) -> Callable[[str], str]:
    return lambda d: bundle(d, [(b"t", entry_bytes())], header=header_bytes(**kw))  # type: ignore[arg-type]


def _keys(keys: list[bytes]) -> Callable[[str], str]:
    return lambda d: bundle(d, [(k, entry_bytes()) for k in keys])


def _file(content: bytes) -> Callable[[str], str]:
    def build(d: str) -> str:
        prefix = os.path.join(d, "ckpt")
        with open(prefix + ".index", "wb") as f:
            f.write(content)
        return prefix

    return build


def _sliced(
    full: tuple[int, ...],
    pieces: list[tuple[list[tuple[int, int | None]], tuple[int, ...]]],
    data: bytes | None = None,
) -> Callable[[str], str]:
    def build(d: str) -> str:
        entries = [
            (b"t", entry_bytes(shape=full, size=0, crc=0, slices=[ext for ext, _ in pieces]))
        ]
        for extents, shape in pieces:
            key = slice_key("t", tuple((s, -1 if n is None else n) for s, n in extents))
            entries.append((key, entry_bytes(shape=shape, data=data)))
        return bundle(d, sorted(entries))

    return build


_BIG = 2**63 - 1
STR_SAMPLE, _STR_CRC = strings_data([b"ab", b"", b"\xff"])

CASES: dict[str, Callable[[str], str]] = {
    # shapes
    "negative dim": _one(shape=(-1,)),
    "negative dim, huge": _one(shape=(-(2**62), 4)),
    "dims overflow int64": _one(shape=(2**40, 2**40), size=64),
    "dims overflow int64 by itemsize": _one(shape=(2**62, 1), size=64),
    "dims 2**62 x 0": _one(shape=(2**62, 0), size=0, data=b""),
    "dims int64max x 0": _one(shape=(0, _BIG), size=0, data=b""),
    "huge valid shape, tiny file": _one(shape=(2**30, 4), size=2**34),
    "rank 255": _one(shape=(1,) * 255, size=4, data=FLOATS[:1].tobytes()),
    "rank 300": _one(shape=(1,) * 300, size=4, data=FLOATS[:1].tobytes()),
    "rank 100000": _one(shape=(1,) * 100_000, size=4, data=FLOATS[:1].tobytes()),
    "unknown rank": _one(unknown_rank=True),
    "shape field missing": _one(shape=None, size=4, data=FLOATS[:1].tobytes()),
    # dtypes
    "dtype 0 (invalid)": _one(dtype=0),
    "dtype 999 (unknown)": _one(dtype=999),
    "dtype -5": _one(dtype=-5),
    "dtype 34 (beyond enum)": _one(dtype=34),
    "dtype resource": _one(dtype=20),
    "dtype variant": _one(dtype=21),
    "dtype float_ref (101)": _one(dtype=101),
    "dtype int32_ref (103)": _one(dtype=103),
    "dtype string_ref (107)": _one(
        dtype=107, shape=(3,), data=STR_SAMPLE, crc=_STR_CRC, data_file=STR_SAMPLE
    ),
    "dtype bfloat16_ref (114)": _one(dtype=114, shape=(32,)),
    "dtype 200": _one(dtype=200),
    # placement
    "offset beyond shard": _one(offset=2**40),
    "offset int64 max": _one(offset=_BIG),
    "offset negative": _one(offset=-1),
    "size negative": _one(size=-64),
    "size int64 max, string": _one(dtype=7, shape=(1,), size=_BIG),
    "offset+size past end": _one(offset=32, data=FLOATS.tobytes()),
    "size mismatches shape": _one(size=60),
    "shard id beyond num_shards": _one(shard_id=5),
    "shard id 2**31-1": _one(shard_id=2**31 - 1),
    "shard id negative": _one(shard_id=-1),
    "data shard missing": lambda d: bundle(d, [(b"t", entry_bytes())], shards={}),
    # strings
    "string length 2**40": _one(
        dtype=7,
        shape=(1,),
        data=crafted_string_lengths([2**40], b"x"),
        data_file=crafted_string_lengths([2**40], b"x"),
    ),
    "string count 2**40, 10 bytes": _one(dtype=7, shape=(2**40,), size=10),
    "string lengths sum past value": _one(
        dtype=7,
        shape=(2,),
        data=crafted_string_lengths([3, 2**33], b"abc"),
        data_file=crafted_string_lengths([3, 2**33], b"abc"),
    ),
    "string overlong varint length": _one(
        dtype=7, shape=(1,), data=b"\xff" * 11 + b"\x00" * 8, data_file=b"\xff" * 11 + b"\x00" * 8
    ),
    # table framing
    "footer index handle size 2**63-1": _footer(BlockHandle(0, 0), BlockHandle(0, _BIG)),
    "footer index handle offset 2**63-1": _footer(BlockHandle(0, 0), BlockHandle(_BIG, 8)),
    "footer handle 2**64 (varint overflow)": lambda d: bundle(
        d,
        [(b"t", entry_bytes())],
        footer=(b"\x00\x00" + b"\xff" * 9 + b"\x7f" + b"\x00" * 28).ljust(40, b"\x00")
        + TABLE_MAGIC.to_bytes(8, "little"),
    ),
    "index entry handle 2**63-1": _index_handle(BlockHandle(0, _BIG).encode()),
    "index entry handle offset 2**63-1": _index_handle(BlockHandle(_BIG, 10).encode()),
    "index entry handle trailing bytes": _index_handle(BlockHandle(0, 10).encode() + b"zz"),
    "index handle points at itself": lambda d: bundle(
        d, [(b"t", entry_bytes())], footer=Footer(BlockHandle(0, 0), BlockHandle(0, 60)).encode()
    ),
    "restart count 2**32-1": _raw_block(
        block_of([(b"", header_bytes())])[:-4] + b"\xff\xff\xff\xff"
    ),
    "restart count 0": _raw_block(block_of([(b"", header_bytes())])[:-8] + encode_fixed32(0)),
    "restart offset past block": _raw_block(
        block_of([(b"", header_bytes())])[:-8] + encode_fixed32(10_000) + encode_fixed32(1)
    ),
    "restart offset mid-entry": _raw_block(
        block_of([(b"", header_bytes())])[:-8] + encode_fixed32(1) + encode_fixed32(1)
    ),
    "entry shared prefix beyond key": _raw_block(
        encode_varint(5)
        + encode_varint(1)
        + encode_varint(0)
        + b"k"
        + encode_fixed32(0)
        + encode_fixed32(1)
    ),
    "entry value length 2**32": _raw_block(
        encode_varint(0)
        + encode_varint(0)
        + b"\xff\xff\xff\xff\x0f"
        + encode_fixed32(0)
        + encode_fixed32(1)
    ),
    "snappy block claims 2**40": _raw_block(encode_varint(2**40) + b"\x00" * 16, kind=1),
    "snappy block claims 2**32": _raw_block(encode_varint(2**32) + b"\x00" * 16, kind=1),
    "snappy block garbage": _raw_block(encode_varint(20) + b"\xfe" * 16, kind=1),
    "block type 7": _raw_block(block_of([(b"", header_bytes())]), kind=7),
    "empty index file": _file(b""),
    "footer only": _file(Footer(BlockHandle(0, 0), BlockHandle(0, 0)).encode()),
    "bad magic": _file(b"\x00" * 48),
    # keys and header
    "missing header": lambda d: bundle(d, [(b"t", entry_bytes())], header=b""),
    "header not a proto": lambda d: bundle(d, [(b"t", entry_bytes())], header=b"\xff\xff\xff"),
    "entry not a proto": lambda d: bundle(d, [(b"t", b"\x0a\xff\xff\xff\xff\x0f")]),
    "unsorted keys": _keys([b"b", b"a"]),
    "duplicate keys": _keys([b"a", b"a"]),
    "duplicate header": lambda d: bundle(d, [(b"", header_bytes()), (b"t", entry_bytes())]),
    "non-UTF-8 key": _keys([b"\xff\xfe"]),
    "big-endian header, little-endian floats": _header(endianness=1),
    "big-endian header, little-endian strings": lambda d: bundle(
        d,
        [(b"t", entry_bytes(dtype=7, shape=(3,), data=STR_SAMPLE, crc=_STR_CRC))],
        header=header_bytes(endianness=1),
        shards={0: STR_SAMPLE},
    ),
    "endianness 7": _header(endianness=7),
    "min_consumer 2": _header(min_consumer=2),
    "bad_consumers [1]": _header(bad_consumers=(1,)),
    "producer 0": _header(producer=0),
    "num_shards 0": _header(num_shards=0),
    "num_shards 2**31-1": _header(num_shards=2**31 - 1),
    "num_shards negative": _header(num_shards=-1),
    # partitioned variables
    "slice outside shape": _sliced((4, 4), [([(2, 4), (0, None)], (4, 4))]),
    "slice rank differs": _sliced((16,), [([(0, 8), (0, 2)], (8, 2))]),
    "slices overlap": _sliced(
        (16,), [([(0, 8)], (8,)), ([(4, 8)], (8,))], data=FLOATS[:8].tobytes()
    ),
    "slices cover too little": _sliced((32,), [([(0, 16)], (16,))]),
    "huge full shape, small slice": _sliced((2**31, 2**31), [([(0, 1), (0, 16)], (1, 16))]),
    "slice entry missing": lambda d: bundle(
        d, [(b"t", entry_bytes(shape=(32,), size=0, crc=0, slices=[[(0, 16)]]))]
    ),
    "slice entry shape wrong": _sliced((32,), [([(0, 16)], (16,)), ([(16, 16)], (4, 4))]),
}


# Odd but valid: TF reads these too (reference dtypes, byte-swapped data, a
# scalar with an empty shape, binary keys, zero-element shapes).
LEGITIMATE = {
    "dtype float_ref (101)",
    "dtype int32_ref (103)",
    "dtype string_ref (107)",
    "dtype bfloat16_ref (114)",
    "big-endian header, little-endian floats",
    "producer 0",
    "non-UTF-8 key",
    "dims 2**62 x 0",
    "dims int64max x 0",
    "shape field missing",
}


def input_bytes(prefix: str) -> int:
    directory, base = os.path.split(prefix)
    return sum(
        os.path.getsize(os.path.join(directory, n))
        for n in os.listdir(directory)
        if n.startswith(base)
    )


def run_case(prefix: str, timeout_s: int = 10) -> tuple[str, int, int]:
    """Read everything under the guard; return (outcome, peak bytes, input bytes).
    Raises ``AssertionError`` for a foreign exception or memory beyond the bound."""
    result = guarded(lambda: read_everything(prefix), timeout_s)
    size = input_bytes(prefix)
    if result.error is not None and not isinstance(result.error, CheckpointError):
        raise AssertionError(f"{prefix}: foreign exception {result.error!r}") from result.error
    bound = MEMORY_FACTOR * size + MEMORY_SLACK
    assert result.peak_bytes <= bound, f"{prefix}: peak {result.peak_bytes} B > {bound} B"
    return result.outcome, result.peak_bytes, size
