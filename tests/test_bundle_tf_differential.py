"""Differential tests against stock TensorFlow, both directions.

What we write, TensorFlow reads (``tf.train.load_checkpoint`` and a graph-mode
``tf.compat.v1.train.Saver.restore``); what TensorFlow writes (``SaveV2``, the
V2 Saver with several devices and partitioned variables, the V1 Saver), we
read. Everything is compared bitwise (``tobytes`` and dtype), and for the same
tensors our ``.index`` and ``.data`` files are byte-identical to SaveV2's.
"""

from __future__ import annotations

import os
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from legacy_saver.bundle import BundleReader, BundleWriter, load_checkpoint
from legacy_saver.bundle.ordered_code import slice_key

pytestmark = pytest.mark.tf

NUMERIC = [
    np.float32, np.float64, np.float16, ml_dtypes.bfloat16, np.int8, np.int16, np.int32,
    np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128,
]  # fmt: skip
ALL_DTYPES = [np.dtype(d) for d in NUMERIC] + [np.dtype(object)]
SHAPES = [(), (0,), (1,), (5,), (2, 3), (3, 0, 2), (2, 1, 2, 1), (17,)]
NUM_CASES = 20


def random_tensor(rng: np.random.Generator, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    if dtype.kind == "O":
        out = np.empty(count, dtype=object)
        lengths = rng.integers(0, 9, count)
        out[:] = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in lengths]
        return out.reshape(shape)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    # Arbitrary bit patterns: NaN payloads, infinities and denormals included.
    raw = rng.integers(0, 256, count * dtype.itemsize, dtype=np.uint8).tobytes()
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def edge_case() -> dict[str, np.ndarray]:
    """String and shape corners the random cases may miss."""

    def strings(items: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(shape)

    return {
        "edge/str_scalar": strings([b"\xff\xfe not utf-8"], ()),
        "edge/str_empty": strings([], (0,)),
        "edge/str_2x0": strings([], (2, 0)),
        "edge/str_mixed": strings([b"", b"a" * 200, b"\x00", "日本".encode(), b""], (5,)),
        "edge/f32_0x3": np.zeros((0, 3), np.float32),
        "edge/bool_scalar": np.array(True),
        "edge/u64_max": np.array([2**64 - 1, 0], np.uint64),
    }


def random_case(index: int | str) -> dict[str, np.ndarray]:
    """A few tensors; case ``i`` always includes dtype ``i`` so all are covered."""
    if index == "edges":
        return edge_case()
    rng = np.random.default_rng(1000 + int(index))
    chosen = [ALL_DTYPES[index % len(ALL_DTYPES)]]
    chosen += [ALL_DTYPES[i] for i in rng.integers(0, len(ALL_DTYPES), rng.integers(0, 5))]
    case = {}
    for j, dtype in enumerate(chosen):
        shape = SHAPES[rng.integers(0, len(SHAPES))]
        name = "str" if dtype.kind == "O" else dtype.name
        case[f"case{index}/t{j}_{name}"] = random_tensor(rng, dtype, shape)
    order = rng.permutation(len(case))  # add order decides the data layout, not name order
    return {key: case[key] for key in np.array(list(case))[order]}


def assert_bitwise(actual: object, expected: np.ndarray, key: str) -> None:
    actual = np.asarray(actual, dtype=object if expected.dtype == object else None)
    assert actual.shape == expected.shape, key
    if expected.dtype == object:
        assert [bytes(v) for v in actual.ravel()] == [bytes(v) for v in expected.ravel()], key
    else:
        assert actual.dtype == expected.dtype, key
        assert actual.tobytes() == expected.tobytes(), key


def _zeros_like(value: np.ndarray) -> np.ndarray:
    if value.dtype.kind == "O":
        return np.full(value.shape, b"", dtype=object)
    return np.zeros_like(value)


def write_ours(prefix: str, tensors: dict[str, np.ndarray]) -> None:
    # Data goes into the shard in add order (SaveV2: argument order); the index is sorted.
    with BundleWriter(prefix, fsync=False) as writer:
        for key in tensors:
            writer.add(key, tensors[key])


def save_v2(tf, prefix: str, tensors: dict[str, np.ndarray]) -> None:
    names = list(tensors)
    values = [tf.constant(tensors[k]) for k in names]
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=values)  # fmt: skip


@pytest.mark.parametrize("index", [*range(NUM_CASES), "edges"])
def test_both_directions_and_identical_bytes(tf, tmp_path: Path, index: int | str) -> None:
    tensors = random_case(index)
    ours, theirs = str(tmp_path / "ours" / "ckpt"), str(tmp_path / "tf" / "ckpt")
    write_ours(ours, tensors)
    os.makedirs(os.path.dirname(theirs))
    save_v2(tf, theirs, tensors)
    # TF reads what we wrote.
    tf_reader = tf.train.load_checkpoint(ours)
    assert sorted(tf_reader.get_variable_to_shape_map()) == sorted(tensors)
    for key, expected in tensors.items():
        assert_bitwise(tf_reader.get_tensor(key), expected, key)
    # We read what TF wrote.
    with load_checkpoint(theirs) as reader:
        assert reader.keys() == sorted(tensors)
        for key, expected in tensors.items():
            assert reader.dtype(key).numpy == expected.dtype
            assert_bitwise(reader.get_tensor(key), expected, key)
    for suffix in (".index", ".data-00000-of-00001"):
        assert Path(ours + suffix).read_bytes() == Path(theirs + suffix).read_bytes(), suffix


def test_saver_restores_what_we_write(tf, tmp_path: Path) -> None:
    tensors = {k: v for i in [*range(NUM_CASES), "edges"] for k, v in random_case(i).items()}
    prefix = str(tmp_path / "model.ckpt-3")
    write_ours(prefix, tensors)
    g = tf.Graph()
    with g.as_default():
        variables = {
            key: tf.compat.v1.Variable(_zeros_like(value), name=key)
            for key, value in tensors.items()
        }
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session(graph=g) as sess:
            saver.restore(sess, prefix)
            restored = sess.run(variables)
    for key, expected in tensors.items():
        assert_bitwise(restored[key], expected, key)


def test_we_read_sharded_and_partitioned_saver_output(tf, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    values = {
        "dev0/kernel": rng.standard_normal((4, 3)).astype(np.float32),
        "dev1/step": np.array(12345678901, np.int64),
        "dev1/words": np.array([b"", b"\x00\xff", "ñ".encode()], dtype=object),
        "dev0/half": rng.standard_normal(5).astype(np.float16),
        "dev1/bf": rng.standard_normal((2, 2)).astype(ml_dtypes.bfloat16),
    }
    g = tf.Graph()
    with g.as_default():
        variables = {}
        for key, value in values.items():
            with tf.device(f"/cpu:{key[3]}"):
                variables[key] = tf.compat.v1.Variable(value, name=key)
        with tf.device("/cpu:1"), tf.compat.v1.variable_scope("emb"):
            parts = tf.compat.v1.get_variable(
                "table", [11, 4], initializer=tf.compat.v1.random_normal_initializer(seed=3),
                partitioner=tf.compat.v1.fixed_size_partitioner(3),
            )  # fmt: skip
        saver = tf.compat.v1.train.Saver(sharded=True)
        config = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
        with tf.compat.v1.Session(graph=g, config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "model.ckpt"), write_meta_graph=False)
            expected = sess.run(variables)
            expected["emb/table"] = np.concatenate(sess.run(list(parts)))
    with load_checkpoint(prefix) as reader:
        assert reader.bundle is not None and reader.bundle.num_shards >= 2
        assert reader.keys() == sorted(expected)
        for key, value in expected.items():
            assert_bitwise(reader.get_tensor(key), value, key)
        slices = reader.bundle.get_slices("emb/table")
        assert [ext for ext, _ in slices] == [((0, 4), (0, 4)), ((4, 4), (0, 4)), ((8, 3), (0, 4))]
        # TF's internal slice keys are exactly what our OrderedCode builds.
        raw = set(reader.bundle.raw_keys())
        assert {slice_key("emb/table", ext).decode("latin-1") for ext, _ in slices} <= raw
    tf_reader = tf.train.load_checkpoint(prefix)
    assert_bitwise(tf_reader.get_tensor("emb/table"), expected["emb/table"], "emb/table")


def test_partitioned_bytes_match_savev2(tf, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    full = rng.standard_normal((5, 3)).astype(np.float64)
    pieces = [("5 3 0,2:-", ((0, 2), (0, -1))), ("5 3 2,3:-", ((2, 3), (0, -1)))]
    theirs = str(tmp_path / "tf" / "ckpt")
    os.makedirs(os.path.dirname(theirs))
    boxes = [full[s : s + n] for _, ((s, n), _) in pieces]
    tf.raw_ops.SaveV2(prefix=theirs, tensor_names=["p", "p", "q"],
                      shape_and_slices=[spec for spec, _ in pieces] + [""],
                      tensors=[tf.constant(b) for b in boxes] + [tf.constant(full[0])])  # fmt: skip
    ours = str(tmp_path / "ours" / "ckpt")
    with BundleWriter(ours, fsync=False) as writer:
        for (_, extents), box in zip(pieces, boxes, strict=True):
            writer.add_slice("p", full.shape, extents, box)
        writer.add("q", full[0])
    with BundleReader(theirs) as reader:
        assert_bitwise(reader.get_tensor("p"), full, "p")
    assert_bitwise(tf.train.load_checkpoint(ours).get_tensor("p"), full, "p")
    for suffix in (".index", ".data-00000-of-00001"):
        assert Path(ours + suffix).read_bytes() == Path(theirs + suffix).read_bytes(), suffix


def test_we_read_v1_saver_output(tf, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    # TF's V1 SaveSlices raises for uint32/uint64 ("not implemented") and bfloat16.
    unsupported = {np.dtype(np.uint32), np.dtype(np.uint64), np.dtype(ml_dtypes.bfloat16)}
    dtypes = [d for d in ALL_DTYPES if d not in unsupported]
    values = {f"v1/{d.name}": random_tensor(rng, d, (2, 3)) for d in dtypes}
    values["v1/scalar"] = np.array(2.5, np.float32)
    g = tf.Graph()
    with g.as_default():
        variables = {k: tf.compat.v1.Variable(v, name=k) for k, v in values.items()}
        with tf.compat.v1.variable_scope("v1"):
            parts = tf.compat.v1.get_variable(
                "part", [7, 2], partitioner=tf.compat.v1.fixed_size_partitioner(3)
            )
        var_list = {**variables, "v1/part": list(parts)}
        saver = tf.compat.v1.train.Saver(var_list, write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "v1.ckpt"), write_meta_graph=False)
            expected = sess.run(variables)
            expected["v1/part"] = np.concatenate(sess.run(list(parts)))
    with load_checkpoint(prefix) as reader:
        assert reader.format_version == 1
        assert reader.keys() == sorted(expected)
        for key, value in expected.items():
            assert reader.dtype(key).numpy == value.dtype, key
            assert_bitwise(reader.get_tensor(key), value, key)


def test_multi_block_index_matches_savev2(tf, tmp_path: Path) -> None:
    # ~3000 entries with long, unshared names make an index of several hundred KB:
    # more than one 256 KiB data block (TF's table block size), with restarts.
    rng = np.random.default_rng(3)
    tensors = {}
    for i in range(3000):
        tail = rng.integers(0, 26, 90).astype(np.uint8) + ord("a")
        tensors[f"{tail.tobytes().decode()}/{i}"] = np.array(i, np.int32 if i % 2 else np.float32)
    ours, theirs = str(tmp_path / "ours" / "ckpt"), str(tmp_path / "tf" / "ckpt")
    write_ours(ours, tensors)
    os.makedirs(os.path.dirname(theirs))
    save_v2(tf, theirs, tensors)
    index = Path(theirs + ".index").read_bytes()
    assert len(index) > 262144  # so at least two data blocks
    assert Path(ours + ".index").read_bytes() == index
    with BundleReader(theirs) as reader:
        assert len(reader.keys()) == 3000


def test_we_read_tf_slices_whose_keys_are_valid_utf8(tf, tmp_path: Path) -> None:
    # Offsets and lengths of 640 encode as c2 80: TF's slice key is valid UTF-8.
    full = np.arange(1280, dtype=np.float32)
    prefix = str(tmp_path / "ckpt")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=["w", "w"],
        shape_and_slices=["1280 0,640", "1280 640,640"],
        tensors=[tf.constant(full[:640]), tf.constant(full[640:])],
    )
    with BundleReader(prefix) as reader:
        assert_bitwise(reader.get_tensor("w"), full, "w")
