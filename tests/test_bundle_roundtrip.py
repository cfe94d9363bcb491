"""Round trips through our writer and reader against a plain-dict oracle
(Hypothesis), the table layer under small blocks and snappy, and the writer's
lifecycle (duplicate keys, finish/abandon, atomicity, determinism)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from legacy_saver.bundle import BundleReader, BundleWriter, DType, load_checkpoint
from legacy_saver.bundle.coding import crc32c, mask_crc
from legacy_saver.bundle.table import TableBuilder, TableReader
from legacy_saver.bundle.table_format import NO_COMPRESSION, SNAPPY_COMPRESSION
from legacy_saver.errors import TensorNotFoundError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FLOAT8 = [d for d in DType if d.name.startswith("FLOAT8")]
QUANTIZED = [d for d in DType if d.name.startswith(("QINT", "QUINT"))]
COMMON = [
    d for d in DType
    if d not in FLOAT8 and d not in QUANTIZED and d not in (DType.RESOURCE, DType.VARIANT)
]  # fmt: skip

names = st.text(
    alphabet=st.sampled_from(list("abcXYZ019_-/.:") + ["é", "ß", "中", "🙂", " "]),
    min_size=1,
    max_size=12,
)
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
# float8 types are sampled sparsely: one draw in ~ten.
dtypes = st.one_of(st.sampled_from(COMMON), st.sampled_from(COMMON), st.sampled_from(FLOAT8))


@st.composite
def tensors(draw: st.DrawFn, dtype: DType | None = None, shape: tuple[int, ...] | None = None):
    dtype = draw(dtypes) if dtype is None else dtype
    shape = draw(shapes) if shape is None else shape
    count = int(np.prod(shape, dtype=np.int64))
    if dtype is DType.STRING:
        items = draw(st.lists(st.binary(max_size=6), min_size=count, max_size=count))
        out = np.empty(count, dtype=object)
        out[:] = items
        return out.reshape(shape)
    raw = draw(st.binary(min_size=count * dtype.itemsize, max_size=count * dtype.itemsize))
    if dtype is DType.BOOL:
        raw = bytes(b & 1 for b in raw)
    return np.frombuffer(raw, dtype=dtype.numpy).reshape(shape).copy()


def assert_same(actual: np.ndarray, expected: np.ndarray, key: str = "") -> None:
    assert actual.dtype == expected.dtype, key
    assert actual.shape == expected.shape, key
    if expected.dtype == object:
        assert [bytes(v) for v in actual.ravel()] == [bytes(v) for v in expected.ravel()], key
    else:
        assert actual.tobytes() == expected.tobytes(), key  # bitwise, NaN payloads included


@st.composite
def partitionings(draw: st.DrawFn):
    """A full tensor and a partitioning of it into boxes along one or two axes."""
    dtype = draw(st.sampled_from([DType.FLOAT32, DType.INT64, DType.STRING]))
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple))
    full = draw(tensors(dtype=dtype, shape=shape))
    axes = draw(st.lists(st.integers(0, full.ndim - 1), min_size=1, max_size=2, unique=True))
    cuts = {}
    for axis in axes:
        dim = full.shape[axis]
        cuts[axis] = sorted(draw(st.sets(st.integers(1, max(1, dim - 1)), max_size=3)) | {0, dim})
    boxes: list[list[tuple[int, int]]] = [[]]
    for axis in range(full.ndim):
        bounds = cuts.get(axis, [0, full.shape[axis]])
        spans = [(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
        boxes = [box + [span] for box in boxes for span in spans]
    return full, [tuple(box) for box in boxes]


@SETTINGS
@given(
    data=st.dictionaries(names, tensors(), min_size=0, max_size=8),
    num_shards=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_bundle_round_trip_matches_dict(data: dict[str, np.ndarray], num_shards: int, seed: int):
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "sub dir", "model.ckpt-7")
        with BundleWriter(prefix, num_shards=num_shards, fsync=False) as writer:
            for key, value in data.items():
                writer.add(key, value, shard=int(rng.integers(num_shards)))
        with load_checkpoint(prefix) as reader:
            assert reader.keys() == sorted(data)
            assert reader.bundle is not None and reader.bundle.num_shards == num_shards
            for key, expected in data.items():
                assert reader.shape(key) == expected.shape
                assert reader.dtype(key).numpy == expected.dtype
                assert_same(reader.get_tensor(key), expected, key)
        assert sorted(os.listdir(os.path.dirname(prefix))) == sorted(
            ["model.ckpt-7.index"]
            + [f"model.ckpt-7.data-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]
        )


@SETTINGS
@given(parts=st.lists(partitionings(), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_partitioned_round_trip(parts, seed: int) -> None:
    rng = np.random.default_rng(seed)
    oracle = {f"part/var_{i}": full for i, (full, _) in enumerate(parts)}
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "ckpt")
        with BundleWriter(prefix, num_shards=2, fsync=False) as writer:
            writer.add("plain", np.arange(3, dtype=np.int32))
            for i, (full, boxes) in enumerate(parts):
                for j in rng.permutation(len(boxes)):
                    box = boxes[j]
                    piece = full[tuple(slice(s, s + n) for s, n in box)]
                    writer.add_slice(f"part/var_{i}", full.shape, box, piece, shard=int(j % 2))
        with BundleReader(prefix) as reader:
            assert sorted(reader.keys()) == sorted([*oracle, "plain"])
            for key, full in oracle.items():
                assert_same(reader.get_tensor(key), full, key)
                for extents, piece in reader.get_slices(key) if reader.entry(key).slices else []:
                    box = tuple(slice(s, s + n) if n != -1 else slice(None) for s, n in extents)
                    assert_same(piece, full[box], key)


@SETTINGS
@given(
    table=st.dictionaries(
        st.binary(max_size=24),
        st.one_of(st.binary(max_size=64), st.binary(max_size=4).map(lambda b: b * 40)),
        max_size=60,
    ),
    block_size=st.integers(1, 300),
    restart_interval=st.integers(1, 16),
    compression=st.sampled_from([NO_COMPRESSION, SNAPPY_COMPRESSION]),
)
def test_table_round_trip_matches_dict(table, block_size, restart_interval, compression) -> None:
    out = io.BytesIO()
    builder = TableBuilder(out, block_size=block_size, compression=compression,
                           restart_interval=restart_interval)  # fmt: skip
    for key in sorted(table):
        builder.add(key, table[key])
    builder.finish()
    assert list(TableReader(out.getvalue()).items()) == sorted(table.items())


def test_snappy_blocks_are_used_and_read() -> None:
    out = io.BytesIO()
    builder = TableBuilder(out, block_size=64, compression=SNAPPY_COMPRESSION)
    entries = [(b"key%03d" % i, b"abc" * 30) for i in range(50)]
    for key, value in entries:
        builder.add(key, value)
    builder.finish()
    reader = TableReader(out.getvalue())
    assert list(reader.items()) == entries
    assert reader.saw_compression
    assert len(out.getvalue()) < sum(len(k) + len(v) for k, v in entries) // 2


def test_table_builder_rejects_unsorted_keys() -> None:
    builder = TableBuilder(io.BytesIO())
    builder.add(b"b", b"")
    with pytest.raises(ValueError, match="increasing order"):
        builder.add(b"a", b"")
    with pytest.raises(ValueError, match="increasing order"):
        builder.add(b"b", b"")


# -- writer lifecycle -------------------------------------------------------------------


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_duplicate_key_raises(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "ckpt", fsync=False)
    writer.add("w", np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="duplicate key 'w'"):
        writer.add("w", np.ones(2, np.float32))
    writer.add_slice("p", (4,), ((0, 2),), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="duplicate key"):
        writer.add_slice("p", (4,), ((0, 2),), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="reserved for the bundle header"):
        writer.add("", np.zeros(1))
    writer.abandon()


def test_finish_twice_and_add_after_finish_raise(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "ckpt", fsync=False)
    writer.add("w", np.zeros(2, np.float32))
    writer.finish()
    with pytest.raises(ValueError, match="finished"):
        writer.finish()
    with pytest.raises(ValueError, match="finished"):
        writer.add("v", np.zeros(1))
    with pytest.raises(ValueError, match="finished"):
        writer.abandon()


def test_abandon_leaves_no_files(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "ckpt", num_shards=3, fsync=False)
    writer.add("w", np.zeros(1000, np.float32), shard=2)
    assert len(_files(tmp_path)) == 3  # temporary shard files while open
    writer.abandon()
    assert _files(tmp_path) == []
    with pytest.raises(ValueError, match="abandoned"):
        writer.add("v", np.zeros(1))


def test_exception_in_with_abandons(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with BundleWriter(tmp_path / "ckpt", num_shards=2) as writer:
            writer.add("w", np.zeros(10, np.float32))
            raise RuntimeError("boom")
    assert _files(tmp_path) == []


def test_exception_keeps_previous_checkpoint_at_prefix(tmp_path: Path) -> None:
    with BundleWriter(tmp_path / "ckpt", fsync=False) as writer:
        writer.add("w", np.arange(4, dtype=np.float32))
    before = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)}
    with pytest.raises(RuntimeError):
        with BundleWriter(tmp_path / "ckpt", fsync=False, overwrite=True) as writer:
            writer.add("w", np.zeros(4, np.float32))
            raise RuntimeError("boom")
    assert {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)} == before


def test_bytes_are_deterministic(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = {f"v{i}": rng.standard_normal((3, i + 1)).astype(np.float32) for i in range(5)}
    values["s"] = np.array([b"", b"\xff\xfe", "ü".encode()], dtype=object)
    for name in ("a", "b"):
        with BundleWriter(tmp_path / name / "ckpt", num_shards=2, fsync=False) as writer:
            for i, (key, value) in enumerate(values.items()):
                writer.add(key, value, shard=i % 2)
    for name in _files(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_empty_checkpoint(tmp_path: Path) -> None:
    with BundleWriter(tmp_path / "ckpt", fsync=False):
        pass
    with load_checkpoint(tmp_path / "ckpt") as reader:
        assert reader.keys() == []
        with pytest.raises(TensorNotFoundError, match="'nope' not found"):
            reader.get_tensor("nope")


def test_add_slice_checks_shape_and_consistency(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "ckpt", fsync=False)
    with pytest.raises(ValueError, match=r"needs shape \(2, 3\)"):
        writer.add_slice("p", (4, 3), ((0, 2), (0, -1)), np.zeros((3, 3), np.float32))
    writer.add_slice("p", (4, 3), ((0, 2), (0, -1)), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="disagrees"):
        writer.add_slice("p", (4, 3), ((2, 2), (0, -1)), np.zeros((2, 3), np.int32))
    writer.abandon()


def test_slice_key_that_is_valid_utf8(tmp_path: Path) -> None:
    # start 640 and length 640 encode as c2 80 each: the whole slice key is valid
    # UTF-8, yet it must still be matched as the binary key it is.
    full = np.arange(1280, dtype=np.float32)
    with BundleWriter(tmp_path / "ckpt", fsync=False) as writer:
        writer.add_slice("w", (1280,), ((0, 640),), full[:640])
        writer.add_slice("w", (1280,), ((640, 640),), full[640:])
    with BundleReader(tmp_path / "ckpt") as reader:
        assert reader.keys() == ["w"]
        assert_same(reader.get_tensor("w"), full)


@pytest.mark.parametrize("dtype", QUANTIZED)
def test_quantized_dtypes_via_add_raw(tmp_path: Path, dtype: DType) -> None:
    # Quantized tensors have no numpy type of their own: they are written from
    # raw bytes and read back as their integer twins, under their own DType.
    values = np.arange(-3, 3).astype(dtype.numpy)
    raw = values.tobytes()
    with BundleWriter(tmp_path / "ckpt", fsync=False) as writer:
        writer.add_raw("q", dtype, values.shape, [raw], mask_crc(crc32c(raw)))
    with load_checkpoint(tmp_path / "ckpt") as reader:
        assert reader.dtype("q") is dtype
        assert_same(reader.get_tensor("q"), values)


def test_early_flush_syncs_in_the_background_every_n_bytes(tmp_path: Path, monkeypatch) -> None:
    """A writer with fsync starts fdatasync after each EARLY_FLUSH_BYTES of data
    (never two at once) and joins it before the final fsync; the result is
    unchanged."""
    import threading

    from legacy_saver.bundle import fileio

    synced: list[tuple[int, int]] = []
    release = threading.Event()

    def slow_fdatasync(fd: int) -> None:
        synced.append((fd, os.fstat(fd).st_size))
        release.wait(5)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    early = fileio.EarlyFlush(4096)
    with open(tmp_path / "f", "wb") as f:
        early.wrote(f.fileno(), 100)  # not due
        assert synced == []
        f.write(b"x" * 5000)
        f.flush()
        early.wrote(f.fileno(), 5000)  # due: starts a sync
        early.wrote(f.fileno(), 9500)  # due, but one is still running: skipped
        release.set()
        early.wait()
        early.wrote(f.fileno(), 9500)  # due again once the first finished
        early.wait()
    assert [size for _, size in synced] == [5000, 5000]

    values = {f"t{i}": np.full(3000, i, np.float32) for i in range(4)}  # 12 KB each
    writer = BundleWriter(tmp_path / "ckpt")
    writer._early = fileio.EarlyFlush(4096)  # what fsync=True sets up, smaller steps
    synced.clear()
    with writer:
        for key, value in values.items():
            writer.add(key, value)  # 12 KB each: every add is due for a flush
            writer._early.wait()  # let it end, so that the next one may start
        assert len(synced) == len(values)  # flushed while writing, before finish()
    with load_checkpoint(str(tmp_path / "ckpt")) as r:
        for key, value in values.items():
            np.testing.assert_array_equal(r.get_tensor(key), value)
    unsynced = BundleWriter(tmp_path / "nofsync", fsync=False)
    assert unsynced._early is None
    unsynced.abandon()
