"""Shared material for the reliability tests and scripts (see RELIABILITY.md).

* ``write_every_dtype``: a 2-shard checkpoint holding every dtype the format
  stores, empty and scalar tensors, strings (empty, non-UTF-8) and a
  partitioned variable; returns the oracle values.
* ``check_outcome``: opens a (possibly mutated) checkpoint, reads every tensor
  and classifies the result as ``"detected"`` (a ``CheckpointError`` naming the
  file and, for tensor reads, the key) or ``"benign"`` (bitwise-identical
  values); anything else raises ``AssertionError``.
* ``guarded``: runs a callable under a ``signal.alarm`` timeout and a
  ``tracemalloc`` peak measurement, in-process.
* ``write_table``: a LevelDB table framed by hand with valid checksums, in any
  key order, so that crafted indexes get past the block crc.

"""

from __future__ import annotations

import os
import signal
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from legacy_saver import BundleWriter, CheckpointError, load_checkpoint
from legacy_saver.bundle.block import BlockBuilder
from legacy_saver.bundle.coding import crc32c, encode_fixed32, mask_crc
from legacy_saver.bundle.protos import BundleHeaderProto
from legacy_saver.bundle.table_format import BlockHandle, Footer

# -- the every-dtype checkpoint ---------------------------------------------


def every_dtype_values(seed: int = 0) -> dict[str, np.ndarray]:
    """One tensor per stored dtype plus the edge shapes (oracle values)."""
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    for name, dt in [
        ("f32", np.float32),
        ("f64", np.float64),
        ("f16", np.float16),
        ("bf16", ml_dtypes.bfloat16),
        ("f8", ml_dtypes.float8_e4m3fn),
        ("i8", np.int8),
        ("i16", np.int16),
        ("i32", np.int32),
        ("i64", np.int64),
        ("u8", np.uint8),
        ("u16", np.uint16),
        ("u32", np.uint32),
        ("u64", np.uint64),
    ]:
        shape = (3, 5) if name != "f64" else (7,)
        raw = rng.integers(0, 256, size=int(np.prod(shape)) * np.dtype(dt).itemsize, dtype=np.uint8)
        values[f"num/{name}"] = raw.view(dt).reshape(shape)  # random bits: NaN payloads too
    values["num/c64"] = (rng.standard_normal(6) + 1j * rng.standard_normal(6)).astype(np.complex64)
    values["num/c128"] = rng.standard_normal((2, 2)) + 1j * rng.standard_normal((2, 2))
    values["num/bool"] = rng.integers(0, 2, size=(4, 3)).astype(bool)
    values["edge/scalar_f32"] = np.array(3.5, np.float32)
    values["edge/scalar_str"] = np.array(b"scalar", dtype=object)
    values["edge/empty_f32"] = np.zeros((0, 3), np.float32)
    values["edge/empty_str"] = np.empty((2, 0), dtype=object)
    strings = np.empty((2, 3), dtype=object)
    strings[:] = [[b"", b"\xff\xfe\x00not utf-8", "unicodé".encode()], [b"x" * 200, b"", b"\x00"]]
    values["str/mixed"] = strings
    values["part/w"] = rng.standard_normal((6, 4)).astype(np.float32)
    return values


PARTITIONED = {"part/w": [((0, 2), (0, -1)), ((2, 4), (0, -1))]}  # (start, length) per dim


def write_every_dtype(prefix: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the every-dtype checkpoint (2 shards); return its oracle."""
    values = every_dtype_values(seed)
    with BundleWriter(prefix, num_shards=2, fsync=False) as w:
        for i, (key, value) in enumerate(values.items()):
            if key in PARTITIONED:
                for j, extents in enumerate(PARTITIONED[key]):
                    box = tuple(slice(s, s + n if n != -1 else None) for s, n in extents)
                    w.add_slice(key, value.shape, extents, value[box], shard=j % 2)
            else:
                w.add(key, value, shard=i % 2)
    return values


# -- classifying one (mutated) checkpoint -----------------------------------


def same_value(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equality, dtype and shape included (NaN payloads too)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == object:
        return [bytes(x) for x in a.ravel()] == [bytes(x) for x in b.ravel()]
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def check_outcome(prefix: str, oracle: dict[str, np.ndarray], mutated_file: str) -> str:
    """Open ``prefix`` and read every tensor; return ``"detected"`` or
    ``"benign"``. Raises ``AssertionError`` for a silent wrong value, a
    ``CheckpointError`` whose message does not name ``mutated_file`` (and the
    key, for tensor reads), or any other exception (which propagates)."""
    name = os.path.basename(mutated_file)
    try:
        reader = load_checkpoint(prefix)
    except CheckpointError as exc:
        assert name in str(exc), f"error does not name {name}: {exc}"
        return "detected"
    with reader:
        keys = reader.keys()
        if sorted(keys) != sorted(oracle):
            raise AssertionError(f"silent wrong key list after mutating {name}: {keys}")
        for key in keys:
            try:
                got = reader.get_tensor(key)
            except CheckpointError as exc:
                assert name in str(exc), f"error does not name {name}: {exc}"
                assert repr(key) in str(exc) or key in str(exc), f"error does not name {key}: {exc}"
                return "detected"
            if not same_value(got, oracle[key]):
                raise AssertionError(f"silent wrong value for {key!r} after mutating {name}")
    return "benign"


def flip_bit(path: str, bit: int) -> None:
    with open(path, "r+b") as f:
        f.seek(bit // 8)
        byte = f.read(1)[0]
        f.seek(bit // 8)
        f.write(bytes([byte ^ (1 << (bit % 8))]))


# -- in-process guard: timeout + peak memory --------------------------------


class Hang(BaseException):
    """Raised by the alarm handler; a BaseException so no ``except
    Exception`` in the code under test can swallow it."""


@dataclass(frozen=True)
class Guarded:
    outcome: str  # "ok", or the exception class name
    error: BaseException | None
    peak_bytes: int


def guarded(fn: Callable[[], Any], timeout_s: int = 10) -> Guarded:
    """Run ``fn`` with a SIGALRM timeout (raising ``Hang``) and tracemalloc."""

    def on_alarm(signum: int, frame: object) -> None:
        raise Hang(f"no answer within {timeout_s} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    signal.alarm(timeout_s)
    error: BaseException | None = None
    try:
        fn()
    except Hang:
        raise
    except BaseException as exc:  # classified by the caller
        error = exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        peak = tracemalloc.get_traced_memory()[1] - base
        if not tracing:
            tracemalloc.stop()
    return Guarded("ok" if error is None else type(error).__name__, error, max(peak, 0))


def read_everything(prefix: str) -> None:
    """What a user does: open, list, ask shapes and dtypes, read every tensor."""
    with load_checkpoint(prefix) as reader:
        for key in reader.keys():
            reader.shape(key)
            reader.dtype(key)
            reader.get_tensor(key)


# -- tables framed by hand (valid checksums, any key order) -----------------


def frame_block(contents: bytes, kind: int = 0) -> bytes:
    trailer = bytes([kind])
    return contents + trailer + encode_fixed32(mask_crc(crc32c(contents + trailer)))


def block_of(entries: Iterable[tuple[bytes, bytes]], restart_interval: int = 16) -> bytes:
    builder = BlockBuilder(restart_interval)
    for key, value in entries:
        builder.add(key, value)
    return builder.finish()


def write_table(
    path: str,
    entries: list[tuple[bytes, bytes]],
    *,
    data_block: bytes | None = None,
    data_kind: int = 0,
    index_block: bytes | None = None,
    footer: bytes | None = None,
) -> int:
    """Write a one-data-block table of ``entries`` in the order given, with
    valid block checksums; any piece may be replaced by crafted bytes."""
    data = data_block if data_block is not None else block_of(entries)
    out = frame_block(data, data_kind)
    data_handle = BlockHandle(0, len(data))
    meta = block_of([])
    meta_handle = BlockHandle(len(out), len(meta))
    out += frame_block(meta)
    last = entries[-1][0] if entries else b""
    index = (
        index_block
        if index_block is not None
        else block_of([(last + b"\xff", data_handle.encode())], 1)
    )
    index_handle = BlockHandle(len(out), len(index))
    out += frame_block(index)
    out += footer if footer is not None else Footer(meta_handle, index_handle).encode()
    with open(path, "wb") as f:
        f.write(out)
    return len(out)


def header_bytes(
    num_shards: int = 1,
    endianness: int = 0,
    producer: int = 1,
    min_consumer: int = 0,
    bad_consumers: tuple[int, ...] = (),
) -> bytes:
    header = BundleHeaderProto(num_shards=num_shards, endianness=endianness)
    header.version.producer = producer
    header.version.min_consumer = min_consumer
    header.version.bad_consumers.extend(bad_consumers)
    return bytes(header.SerializeToString())
