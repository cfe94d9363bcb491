"""The V1 table writer (``bundle/v1_writer.py``) against stock TensorFlow: for every dtype
TensorFlow's V1 writer supports, whole tensors, scalars, empty tensors and partitioned
slices, our file is byte-for-byte the file ``tf.raw_ops.SaveSlices`` writes, and TF reads
it back bitwise (``RestoreV2``, ``tf.train.load_checkpoint`` for the types its Python
reader knows, and a V1 ``tf.compat.v1.train.Saver.restore``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from legacy_saver.bundle import DType, load_checkpoint
from legacy_saver.bundle.v1_writer import V1_DTYPES, V1Writer
from legacy_saver.errors import CheckpointExistsError, UnsupportedFeatureError

# What the tests feed each dtype: (numpy dtype of the values, dtype override or None).
CASES = {
    DType.FLOAT32: (np.float32, None), DType.FLOAT64: (np.float64, None),
    DType.COMPLEX64: (np.complex64, None), DType.COMPLEX128: (np.complex128, None),
    DType.INT32: (np.int32, None), DType.INT16: (np.int16, None), DType.INT8: (np.int8, None),
    DType.UINT8: (np.uint8, None), DType.UINT16: (np.uint16, None),
    DType.INT64: (np.int64, None), DType.BOOL: (np.bool_, None),
    DType.FLOAT16: (np.float16, None), DType.STRING: (object, None),
    DType.QINT8: (np.int8, DType.QINT8), DType.QUINT8: (np.uint8, DType.QUINT8),
    DType.QINT32: (np.int32, DType.QINT32),
}  # fmt: skip
TF_PY_READER = {
    DType.FLOAT32,
    DType.FLOAT64,
    DType.INT32,
    DType.UINT8,
    DType.INT16,
    DType.INT8,
    DType.STRING,
    DType.INT64,
    DType.BOOL,
}  # tf.train.load_checkpoint


def _random(rng: np.random.Generator, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
    np_dtype, _ = CASES[dtype]
    count = int(np.prod(shape))
    if dtype is DType.STRING:
        out = np.empty(count, dtype=object)
        out[:] = [bytes(rng.integers(0, 256, int(rng.integers(0, 9)), dtype=np.uint8))
                  for _ in range(count)]  # fmt: skip
        if count:
            out[0] = b""  # empty and non-UTF-8 strings
        return out.reshape(shape)
    if dtype is DType.BOOL:
        return rng.integers(0, 2, shape).astype(bool)
    raw = rng.integers(0, 256, count * np.dtype(np_dtype).itemsize, dtype=np.uint8)
    values = raw.view(np_dtype).reshape(shape)  # random bits: NaN payloads, negatives
    return values.copy()


def _tf_tensor(tf, dtype: DType, value: np.ndarray):
    if dtype in (DType.QINT8, DType.QUINT8, DType.QINT32):
        return tf.raw_ops.Bitcast(input=tf.constant(value), type=tf.dtypes.as_dtype(int(dtype)))
    return tf.constant(value)


def test_every_v1_dtype_is_covered() -> None:
    assert set(CASES) == set(V1_DTYPES)


@pytest.mark.parametrize("dtype", list(CASES), ids=lambda d: d.tf_name)
def test_bytes_identical_to_save_slices_and_read_back_by_tf(tf, tmp_path: Path, dtype) -> None:
    rng = np.random.default_rng(int(dtype))
    whole = {"w/matrix": _random(rng, dtype, (3, 4)), "a/scalar": _random(rng, dtype, ()),
             "z/empty": _random(rng, dtype, (0, 2))}  # fmt: skip
    full = _random(rng, dtype, (7, 2))
    parts = {"p/part": [("7 2 0,3:0,2", full[0:3]), ("7 2 3,4:0,2", full[3:7])]}
    names = list(whole) + ["p/part"] * 2
    specs = [""] * len(whole) + [spec for spec, _ in parts["p/part"]]
    tensors = list(whole.values()) + [v for _, v in parts["p/part"]]
    theirs = str(tmp_path / "tf.ckpt")
    tf.raw_ops.SaveSlices(filename=theirs, tensor_names=names, shapes_and_slices=specs,
                          data=[_tf_tensor(tf, dtype, t) for t in tensors])  # fmt: skip
    ours = str(tmp_path / "ours.ckpt")
    override = CASES[dtype][1]
    with V1Writer(ours, fsync=False) as w:
        for name, value in whole.items():
            w.add(name, value, dtype=override)
        w.add_slice("p/part", (7, 2), ((0, 3), (0, 2)), full[0:3], dtype=override)
        w.add_slice("p/part", (7, 2), ((3, 4), (0, 2)), full[3:7], dtype=override)
    assert Path(ours).read_bytes() == Path(theirs).read_bytes()
    expected = {**whole, "p/part": full}
    tf_dtype = tf.dtypes.as_dtype(int(dtype))
    restored = tf.raw_ops.RestoreV2(prefix=ours, tensor_names=list(expected),
                                    shape_and_slices=[""] * len(expected),
                                    dtypes=[tf_dtype] * len(expected))  # fmt: skip
    for (name, value), got in zip(expected.items(), restored, strict=True):
        got = got.numpy()
        if override is not None:  # quantized: compare the integer bits
            got = got.view(value.dtype) if got.dtype != value.dtype else got
        _assert_bitwise(got, value, name)
    if dtype in TF_PY_READER:  # its Python reader reads unsliced V1 tensors only
        reader = tf.train.load_checkpoint(ours)
        for name, value in whole.items():
            _assert_bitwise(reader.get_tensor(name), value, name)
    ours_reader = load_checkpoint(ours)  # and our own V1 reader
    for name, value in expected.items():
        assert ours_reader.dtype(name) is dtype
        _assert_bitwise(ours_reader.get_tensor(name), value, name)


def _assert_bitwise(got: np.ndarray, want: np.ndarray, name: str) -> None:
    got = np.asarray(got)
    assert got.shape == want.shape, name
    if want.dtype == object:
        assert [bytes(x) for x in got.reshape(-1)] == list(want.reshape(-1)), name
    else:
        assert got.astype(want.dtype).tobytes() == want.tobytes(), name


def test_a_v1_saver_restores_our_file(tf, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    values = {"dense/kernel": rng.standard_normal((4, 3)).astype(np.float32),
              "dense/bias": rng.standard_normal(3).astype(np.float32),
              "global_step": np.array(42, np.int64)}  # fmt: skip
    path = str(tmp_path / "model.ckpt")
    with V1Writer(path, fsync=False) as w:
        for name, value in values.items():
            w.add(name, value)
    graph = tf.Graph()
    with graph.as_default():
        variables = {k: tf.compat.v1.Variable(np.zeros_like(v), name=k) for k, v in values.items()}
        saver = tf.compat.v1.train.Saver(variables, write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, path)
            for name, got in sess.run(variables).items():
                _assert_bitwise(got, values[name], name)


@pytest.mark.parametrize("dtype", [DType.BFLOAT16, DType.UINT32, DType.UINT64,
                                   DType.FLOAT8_E4M3FN, DType.INT4])  # fmt: skip
def test_dtypes_tf_cannot_write_to_v1_are_refused(tmp_path: Path, dtype: DType) -> None:
    value = np.zeros(3, dtype.numpy)
    with V1Writer(tmp_path / "c", fsync=False) as w, pytest.raises(UnsupportedFeatureError,
                                                                  match="write V2"):  # fmt: skip
        w.add("x", value)


def test_existing_checkpoint_is_refused(tmp_path: Path) -> None:
    with V1Writer(tmp_path / "c", fsync=False) as w:
        w.add("x", np.ones(2, np.float32))
    with pytest.raises(CheckpointExistsError, match="c already exists; pass overwrite=True"):
        V1Writer(tmp_path / "c")
    with V1Writer(tmp_path / "c", fsync=False, overwrite=True) as w:
        w.add("x", np.zeros(2, np.float32))
    assert (load_checkpoint(tmp_path / "c").get_tensor("x") == 0).all()
    # a sharded V1 save writes its shards one by one: a shard name is checked alone
    for shard in range(2):
        with V1Writer(tmp_path / f"s-{shard:05d}-of-00002", fsync=False) as w:
            w.add(f"t{shard}", np.full(2, shard, np.int32))
    reader = load_checkpoint(tmp_path / "s-?????-of-00002")
    assert reader.keys() == ["t0", "t1"]


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), V1Writer(tmp_path / "c", fsync=False) as w:
        w.add("x", np.ones(2, np.float32))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
