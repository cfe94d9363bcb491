"""converters.to_safetensors: the file format, byte by byte, and every dtype read
back by the safetensors library (the oracle), without TensorFlow."""

from __future__ import annotations

import json
import math
import os
import struct

import numpy as np
import pytest

from converters.safetensors import plan_safetensors, to_safetensors
from converters.safetensors.planner import SafetensorsOptions
from converters.safetensors.spec import (
    ITEMSIZE,
    SAFETENSORS_DTYPES,
    TensorInfo,
    decode_header,
    encode_header,
    read_header,
)
from legacy_saver.bundle import BundleWriter, DType
from legacy_saver.errors import CheckpointError, CorruptCheckpointError, UnsupportedFeatureError

safetensors = pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

RNG = np.random.default_rng(16)


def _values() -> dict[str, np.ndarray]:
    """One tensor of every dtype safetensors holds, random bits, odd shapes."""
    out: dict[str, np.ndarray] = {}
    for dtype in SAFETENSORS_DTYPES:
        np_dtype = dtype.numpy
        raw = RNG.integers(0, 256, size=2 * 3 * 5 * np_dtype.itemsize, dtype=np.uint8)
        value = raw.view(np_dtype).reshape(2, 3, 5)
        if dtype is DType.BOOL:
            value = RNG.integers(0, 2, size=(2, 3, 5)).astype(bool)
        out[f"t/{dtype.tf_name}"] = value
    out["t/scalar"] = np.array(2.5, np.float32)
    out["t/empty"] = np.zeros((0, 4), np.float64)
    out["t/big_rank"] = RNG.standard_normal((1, 2, 1, 3, 1, 2)).astype(np.float16)
    return out


def _write(prefix: str, values: dict[str, object], shards: int = 1) -> None:
    with BundleWriter(prefix, num_shards=shards, fsync=False) as w:
        for i, (k, v) in enumerate(values.items()):
            w.add(k, v, shard=i % shards)


def _library_tensors(path: str) -> dict[str, tuple[str, list[int], bytes]]:
    """Every tensor as the library itself parses it: (dtype code, shape, raw bytes)."""
    with open(path, "rb") as f:
        return {k: (v["dtype"], v["shape"], bytes(v["data"]))
                for k, v in safetensors.deserialize(f.read())}  # fmt: skip


@pytest.fixture
def every_dtype(tmp_path):
    values = _values()
    extra = {"strings": np.array([b"a", b"\xff"], dtype=object),
             "c128": np.array([1 + 2j], np.complex128)}  # fmt: skip
    prefix = str(tmp_path / "src" / "model.ckpt")
    _write(prefix, {**values, **extra}, shards=2)
    return prefix, values


# -- golden bytes ----------------------------------------------------------------------------


def test_header_matches_the_reference_implementations_golden_bytes():
    # safetensors/src/tensor.rs test_serialization, test_serialization_forced_alignement,
    # test_empty: the same bytes from our encoder.
    one = encode_header([TensorInfo("attn.0", "F32", (1, 2, 3), 0, 24)], {})
    assert one == bytes([64, 0, 0, 0, 0, 0, 0, 0]) + (
        b'{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'
    )
    padded = encode_header([TensorInfo("attn0", "F32", (1, 1, 2, 3), 0, 24)], {})
    assert padded[:8] == bytes([72, 0, 0, 0, 0, 0, 0, 0])
    assert padded.endswith(b"}}" + b" " * 7)
    assert encode_header([], {}) == bytes([8, 0, 0, 0, 0, 0, 0, 0]) + b"{}      "
    meta = encode_header([], {"framework": "pt"})
    assert meta == bytes([40, 0, 0, 0, 0, 0, 0, 0]) + b'{"__metadata__":{"framework":"pt"}}     '


def test_same_bytes_as_the_librarys_save_file(tmp_path):
    values = {f"w{i}": RNG.standard_normal((3, i + 1)).astype(np.float32) for i in range(5)}
    prefix = str(tmp_path / "m.ckpt")
    _write(prefix, values)
    ours = str(tmp_path / "ours.safetensors")
    to_safetensors(prefix, ours)
    _, metadata, start = read_header(ours)
    theirs = str(tmp_path / "theirs.safetensors")
    save_file(values, theirs, metadata={"format": metadata["format"]})
    with open(ours, "rb") as a, open(theirs, "rb") as b:
        mine, lib = a.read(), b.read()
    lib_start = 8 + struct.unpack("<Q", lib[:8])[0]
    assert mine[start:] == lib[lib_start:]  # same order, same bytes
    header = json.loads(mine[8:start])
    reference = json.loads(lib[8:lib_start])
    assert {k: v for k, v in header.items() if k != "__metadata__"} == {
        k: v for k, v in reference.items() if k != "__metadata__"
    }


# -- every dtype, read back by the library ---------------------------------------------------


def test_every_dtype_reads_back_bitwise(every_dtype, tmp_path):
    prefix, values = every_dtype
    out = str(tmp_path / "out" / "model.safetensors")
    report = to_safetensors(prefix, out)
    lib = _library_tensors(out)
    assert set(lib) == set(values)
    for key, value in values.items():
        code, shape, data = lib[key]
        assert code == SAFETENSORS_DTYPES[_dtype_of(value)][0], key
        assert shape == list(value.shape), key
        assert data == np.ascontiguousarray(value).tobytes(), key
    with safe_open(out, framework="np") as f:  # numpy has no float8 types: the rest
        for key in f.keys():
            if "float8" in key:
                continue
            got = f.get_tensor(key)
            assert got.dtype == values[key].dtype and got.shape == values[key].shape, key
            assert got.tobytes() == values[key].tobytes(), key
    assert {d.src: d.reason for d in report.dropped} == {
        "strings": "string tensors have no safetensors dtype",
        "c128": "complex128 has no safetensors dtype (only C64)",
    }
    assert report.bytes_copied == sum(v.nbytes for v in values.values())
    assert report.bytes_reencoded == 0


def _dtype_of(value: np.ndarray) -> DType:
    from legacy_saver.bundle.dtypes import dtype_from_numpy

    return dtype_from_numpy(value.dtype)


def test_metadata_records_source_format_and_what_was_dropped(every_dtype, tmp_path):
    prefix, _ = every_dtype
    out = str(tmp_path / "m.safetensors")
    to_safetensors(prefix, out)
    with safe_open(out, framework="np") as f:
        metadata = f.metadata()
    assert metadata["format"] == "tf" and metadata["layout"] == "tf"
    assert metadata["source"] == "model.ckpt" and metadata["source_format"] == "tf1-name-based"
    assert metadata["converter"].startswith("legacy-saver ")
    assert json.loads(metadata["dropped"]) == [
        {"key": "c128", "reason": "complex128 has no safetensors dtype (only C64)"},
        {"key": "strings", "reason": "string tensors have no safetensors dtype"},
    ]


def test_strict_refuses_what_it_would_drop_and_writes_nothing(every_dtype, tmp_path):
    prefix, _ = every_dtype
    out = tmp_path / "strict.safetensors"
    with pytest.raises(UnsupportedFeatureError, match=r"strict: 2 tensors .*'c128'.*'strings'"):
        to_safetensors(prefix, str(out), strict=True)
    assert not out.exists() and os.listdir(tmp_path) == ["src"]


def test_tf_only_dtypes_are_listed_never_lost(tmp_path):
    prefix = str(tmp_path / "q.ckpt")
    with BundleWriter(prefix, fsync=False) as w:
        w.add("ok", np.ones(2, np.float32))
        for dtype in (DType.QINT8, DType.QUINT16, DType.QINT32, DType.FLOAT8_E4M3B11FNUZ):
            w.add_raw(f"x/{dtype.tf_name}", dtype, (2,), [b"\0" * 2 * dtype.itemsize], 0)
        w.add_raw("x/resource", DType.RESOURCE, (), [b""], 0)
        w.add_raw("x/variant", DType.VARIANT, (), [b""], 0)
    report = to_safetensors(prefix, str(tmp_path / "q.safetensors"))
    reasons = {d.src: d.reason for d in report.dropped}
    assert set(reasons) == {"x/qint8", "x/quint16", "x/qint32", "x/float8_e4m3b11fnuz",
                            "x/resource", "x/variant"}  # fmt: skip
    assert reasons["x/qint8"] == "quantized qint8 is TensorFlow-only (no safetensors dtype)"
    unknown = plan_safetensors({"x": (99, (1,))}, SafetensorsOptions())
    assert [(d.src, d.reason) for d in unknown.dropped] == [
        ("x", "unknown TensorFlow dtype enum 99")
    ]
    assert list(_library_tensors(str(tmp_path / "q.safetensors"))) == ["ok"]


# -- the header, byte by byte ------------------------------------------------------------------


def test_header_is_valid_byte_by_byte(every_dtype, tmp_path):
    prefix, values = every_dtype
    out = str(tmp_path / "h.safetensors")
    to_safetensors(prefix, out)
    with open(out, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0
    text = raw[8 : 8 + n].decode("utf-8")
    assert text.startswith('{"__metadata__":') and text.rstrip(" ").endswith("}")
    assert len(text) - len(text.rstrip(" ")) < 8 and "\n" not in text
    body = json.loads(text)
    assert json.dumps(body, separators=(",", ":"), ensure_ascii=False) == text.rstrip(" ")
    entries = [(k, v) for k, v in body.items() if k != "__metadata__"]
    position = 0
    for name, info in entries:  # buffer order, no holes, aligned, sizes right
        assert list(info) == ["dtype", "shape", "data_offsets"]
        begin, end = info["data_offsets"]
        assert begin == position and begin % ITEMSIZE[info["dtype"]] == 0, name
        assert end - begin == math.prod(info["shape"]) * ITEMSIZE[info["dtype"]], name
        position = end
    assert 8 + n + position == len(raw)
    order = [(-ITEMSIZE[v["dtype"]], k) for k, v in entries]
    assert order == sorted(order)
    tensors, metadata = decode_header(raw, len(raw), out)
    assert [t.name for t in tensors] == [k for k, _ in entries] and metadata == body["__metadata__"]


def test_output_is_deterministic(every_dtype, tmp_path):
    prefix, _ = every_dtype
    a, b = str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors")
    to_safetensors(prefix, a)
    to_safetensors(prefix, b)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        assert fa.read() == fb.read()


@pytest.mark.parametrize(
    "bad, message",
    [
        (b"\x01\x00", "the header length alone needs 8"),
        (struct.pack("<Q", 10**9) + b"{}", "does not fit the file"),
        (struct.pack("<Q", 2) + b"\xff\xfe", "not UTF-8 JSON"),
        (struct.pack("<Q", 8) + b"[]      ", "not a JSON object"),
        (struct.pack("<Q", 8) + b'{"a":1}', "does not fit"),
    ],
)
def test_decode_header_rejects_broken_files(bad, message):
    with pytest.raises(CorruptCheckpointError, match=message):
        decode_header(bad, len(bad), "x.safetensors")


def test_decode_header_rejects_holes_and_truncation():
    info = TensorInfo("a", "F32", (2,), 0, 8)
    head = encode_header([info], {})
    with pytest.raises(CorruptCheckpointError, match="cover 8 bytes, the buffer holds 4"):
        decode_header(head + b"\0" * 4, len(head) + 4, "x")
    holed = head.replace(b"[0,8]", b"[4,12]")
    with pytest.raises(CorruptCheckpointError, match="starts at 4, expected 0"):
        decode_header(holed + b"\0" * 12, len(holed) + 12, "x")


# -- names ---------------------------------------------------------------------------------


def test_odd_names_survive_and_the_metadata_key_is_refused(tmp_path):
    names = ["*", "a[0]", "../up", "new\nline", "ünï/cødé", 'quote"d', " "]
    values = {name: np.full(2, i, np.int32) for i, name in enumerate(names)}
    prefix = str(tmp_path / "odd.ckpt")
    _write(prefix, values)
    out = str(tmp_path / "odd.safetensors")
    to_safetensors(prefix, out)
    lib = _library_tensors(out)
    assert set(lib) == set(values)
    assert all(lib[k][2] == v.tobytes() for k, v in values.items())
    assert _leftovers(tmp_path) == ["odd.safetensors"]  # no temporaries left
    reserved = str(tmp_path / "r.ckpt")
    _write(reserved, {"__metadata__": np.ones(1, np.float32)})
    with pytest.raises(CheckpointError, match="'__metadata__', which safetensors reserves"):
        to_safetensors(reserved, str(tmp_path / "r.safetensors"))
    assert not (tmp_path / "r.safetensors").exists()


def test_two_keys_on_one_name_is_an_error():
    entries = {"a/kernel": (1, (2, 3)), "a.weight": (1, (3, 2))}
    with pytest.raises(CheckpointError, match="both be written as 'a.weight'"):
        plan_safetensors(entries, SafetensorsOptions(layout="torch"))


# -- sharding ------------------------------------------------------------------------------


def test_shards_follow_the_hugging_face_convention(tmp_path):
    values = {f"layer_{i}/w": RNG.standard_normal((64, 16)).astype(np.float32) for i in range(7)}
    values["big"] = RNG.standard_normal((300, 16)).astype(np.float32)  # alone, over the limit
    prefix = str(tmp_path / "m.ckpt")
    _write(prefix, values, shards=3)
    out_dir = tmp_path / "hf"
    report = to_safetensors(prefix, str(out_dir) + "/", shard_bytes=3 * 64 * 16 * 4)
    names = sorted(os.listdir(out_dir))
    assert names == ["model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                     "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
                     "model.safetensors.index.json"]  # fmt: skip
    index = json.loads((out_dir / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == sum(v.nbytes for v in values.values())
    assert set(index["weight_map"]) == set(values)
    seen = {}
    for shard in names[:-1]:
        lib = _library_tensors(str(out_dir / shard))
        assert sum(len(d) for _, _, d in lib.values()) <= max(3 * 64 * 16 * 4, values["big"].nbytes)
        for key, (_, _, data) in lib.items():
            assert index["weight_map"][key] == shard
            seen[key] = data
    assert seen == {k: v.tobytes() for k, v in values.items()}
    assert any(n.endswith("index.json") for n in report.notes)


def test_one_shard_is_one_file_and_overwrite_removes_the_earlier_shards(tmp_path):
    values = {f"w{i}": np.full((10,), i, np.float32) for i in range(4)}
    prefix = str(tmp_path / "m.ckpt")
    _write(prefix, values)
    out = tmp_path / "o" / "model.safetensors"
    to_safetensors(prefix, str(out), shard_bytes=80)
    assert len(os.listdir(out.parent)) == 3
    with pytest.raises(CheckpointError, match="already exists"):
        to_safetensors(prefix, str(out))
    (out.parent / "model-00009-of-00009.safetensors").write_bytes(b"not ours")  # never listed
    to_safetensors(prefix, str(out), overwrite=True)
    assert sorted(os.listdir(out.parent)) == ["model-00009-of-00009.safetensors",
                                              "model.safetensors"]  # fmt: skip
    to_safetensors(prefix, str(out), shard_bytes=80, overwrite=True)
    assert "model.safetensors" not in os.listdir(out.parent)  # loaders would prefer it


# -- partitioned variables, transforms, TF2 --------------------------------------------------


def test_partitioned_variables_are_assembled(tmp_path):
    rows = RNG.standard_normal((6, 3)).astype(np.float32)
    cols = RNG.standard_normal((2, 6)).astype(np.float64)
    prefix = str(tmp_path / "p.ckpt")
    with BundleWriter(prefix, num_shards=2, fsync=False) as w:
        w.add_slice("rows", (6, 3), ((4, 2), (0, -1)), rows[4:], shard=1)
        w.add_slice("rows", (6, 3), ((0, 4), (0, -1)), rows[:4])
        w.add_slice("cols", (2, 6), ((0, -1), (0, 3)), cols[:, :3])
        w.add_slice("cols", (2, 6), ((0, -1), (3, 3)), cols[:, 3:], shard=1)
    out = str(tmp_path / "p.safetensors")
    report = to_safetensors(prefix, out)
    lib = _library_tensors(out)
    assert lib["rows"] == ("F32", [6, 3], rows.tobytes())
    assert lib["cols"] == ("F64", [2, 6], cols.tobytes())
    assert report.bytes_copied == rows.nbytes  # row slices copied in the kernel
    assert report.bytes_reencoded == cols.nbytes


def test_rules_transpose_reshape_and_cast(tmp_path, monkeypatch):
    from converters import Rule
    from converters.safetensors import stream

    monkeypatch.setattr(stream, "BLOCK_BYTES", 256)  # many blocks and sub-blocks
    k = RNG.standard_normal((37, 23)).astype(np.float32)
    c = RNG.standard_normal((3, 5, 7, 11)).astype(np.float32)
    prefix = str(tmp_path / "r.ckpt")
    _write(prefix, {"k": k, "c": c, "h": k})
    rules = [Rule("^k$", transpose=(1, 0)), Rule("^c$", transpose=(3, 2, 0, 1), reshape=(11, 105)),
             Rule("^h$", to="half", cast="float16")]  # fmt: skip
    out = str(tmp_path / "r.safetensors")
    to_safetensors(prefix, out, rules=rules)
    lib = _library_tensors(out)
    assert lib["k"] == ("F32", [23, 37], np.ascontiguousarray(k.T).tobytes())
    want = np.ascontiguousarray(c.transpose(3, 2, 0, 1)).reshape(11, 105)
    assert lib["c"] == ("F32", [11, 105], want.tobytes())
    assert lib["half"] == ("F16", [37, 23], k.astype(np.float16).tobytes())


def test_object_based_checkpoints_get_readable_names(tmp_path):
    from converters import tf1_to_tf2

    values = {"dense/kernel": RNG.standard_normal((4, 3)).astype(np.float32),
              "dense/bias": np.zeros(3, np.float32),
              "dense/kernel/Adam": np.ones((4, 3), np.float32),
              "dense/kernel/Adam_1": np.full((4, 3), 2, np.float32),
              "beta1_power": np.float32(0.9), "global_step": np.int64(7)}  # fmt: skip
    tf1 = str(tmp_path / "tf1" / "m.ckpt")
    _write(tf1, values)
    tf2 = str(tmp_path / "tf2" / "ckpt-1")
    tf1_to_tf2(tf1, tf2)
    out = str(tmp_path / "tf2.safetensors")
    report = to_safetensors(tf2, out, layout="torch")
    lib = _library_tensors(out)
    assert set(lib) == {"dense.weight", "dense.bias", "dense.weight.m", "dense.weight.v",
                        "optimizer.beta1_power", "global_step"}  # fmt: skip
    assert lib["dense.weight.v"][2] == np.full((3, 4), 2, np.float32).tobytes()  # follows kernel
    assert lib["dense.weight"][2] == np.ascontiguousarray(values["dense/kernel"].T).tobytes()
    assert [d.src for d in report.dropped] == ["_CHECKPOINTABLE_OBJECT_GRAPH"]
    with safe_open(out, framework="np") as f:
        assert f.metadata()["source_format"] == "tf2-object-based"
    dropped = to_safetensors(tf2, str(tmp_path / "d.safetensors"), optimizer="drop")
    assert set(_library_tensors(str(tmp_path / "d.safetensors"))) == {
        "dense/kernel", "dense/bias", "global_step"}  # fmt: skip
    assert len(dropped.dropped) == 4


def test_tf1_optimizer_slots_follow_their_variable(tmp_path):
    entries = {"fc/weights": (1, (5, 2)), "fc/weights/Momentum": (1, (5, 2)),
               "bert/x/kernel": (1, (2, 2)), "bert/x/kernel/adam_m": (1, (2, 2))}  # fmt: skip
    plan = plan_safetensors(entries, SafetensorsOptions(layout="torch"))
    by_name = {t.name: t for t in plan.tensors}  # two optimizers: their names tell them apart
    assert by_name["fc.weight.Momentum.momentum"].shape == (2, 5)
    assert by_name["bert.x.weight.adam.m"].transform.transpose == (1, 0)
    del entries["fc/weights/Momentum"]
    tf = plan_safetensors(entries, SafetensorsOptions())
    assert {t.name for t in tf.tensors} == {"fc/weights", "bert/x/kernel", "bert/x/kernel/m"}


# -- failures: typed, named, nothing left behind ----------------------------------------------


def _leftovers(directory) -> list[str]:
    return sorted(p for p in os.listdir(directory) if "safetensors" in p)


@pytest.mark.parametrize("layout", ["tf", "torch"])
def test_a_flipped_source_bit_names_the_tensor_and_writes_nothing(tmp_path, layout):
    values = {"a/kernel": RNG.standard_normal((40, 30)).astype(np.float32),
              "b/kernel": RNG.standard_normal((30, 20)).astype(np.float32)}  # fmt: skip
    prefix = str(tmp_path / "m.ckpt")
    _write(prefix, values)
    data = tmp_path / "m.ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[values["a/kernel"].nbytes + 17] ^= 0x10  # inside b/kernel
    data.write_bytes(bytes(raw))
    with pytest.raises(CorruptCheckpointError, match=r"checksum mismatch for tensor 'b/kernel'"):
        to_safetensors(prefix, str(tmp_path / "out.safetensors"), layout=layout)
    assert _leftovers(tmp_path) == []


def test_a_truncated_shard_names_the_tensor_and_writes_nothing(tmp_path):
    values = {f"w{i}": np.full((100,), i, np.float32) for i in range(4)}
    prefix = str(tmp_path / "m.ckpt")
    _write(prefix, values, shards=2)
    shard = tmp_path / "m.ckpt.data-00001-of-00002"
    shard.write_bytes(shard.read_bytes()[:500])
    with pytest.raises(CorruptCheckpointError, match=r"is truncated: tensor 'w3' needs bytes"):
        to_safetensors(prefix, str(tmp_path / "out.safetensors"), shard_bytes=400)
    assert _leftovers(tmp_path) == []


def test_refuses_to_overwrite_and_to_write_over_the_source(tmp_path):
    prefix = str(tmp_path / "m.ckpt")
    _write(prefix, {"w": np.ones(3, np.float32)})
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"precious")
    with pytest.raises(CheckpointError, match="already exists; pass overwrite=True"):
        to_safetensors(prefix, str(out))
    assert out.read_bytes() == b"precious"
    link = tmp_path / "alias.safetensors"
    os.link(tmp_path / "m.ckpt.data-00000-of-00001", link)  # the source under another name
    with pytest.raises(CheckpointError, match="is a file of the source checkpoint"):
        to_safetensors(prefix, str(link), overwrite=True)
    assert link.stat().st_size > 0


def test_dry_run_writes_nothing(tmp_path):
    prefix = str(tmp_path / "m.ckpt")
    _write(prefix, {"w": np.ones(3, np.float32)})
    report = to_safetensors(prefix, str(tmp_path / "o.safetensors"), dry_run=True)
    assert report.dry_run and [a.dst for a in report.actions] == ["w"]
    assert _leftovers(tmp_path) == []


def test_only_regular_files_are_ever_replaced_and_urls_are_refused(tmp_path):
    prefix = str(tmp_path / "m.ckpt")
    _write(prefix, {"w": np.ones(3, np.float32)})
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="is not a regular file; it is never replaced"):
        to_safetensors(prefix, str(fifo), overwrite=True)
    assert fifo.is_fifo()
    target = tmp_path / "kept.bin"
    target.write_bytes(b"kept")
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    to_safetensors(prefix, str(link), overwrite=True)  # the link is replaced, not its target
    assert target.read_bytes() == b"kept" and not link.is_symlink()
    with pytest.raises(UnsupportedFeatureError, match="reads and writes local files"):
        to_safetensors("s3://bucket/model.ckpt", str(tmp_path / "x.safetensors"))
    with pytest.raises(UnsupportedFeatureError, match="memory://x/y.safetensors is a URL"):
        to_safetensors(prefix, "memory://x/y.safetensors")


def test_separable_convolutions_and_keras3_names():
    entries = {"sep/depthwise_kernel": (1, (3, 3, 4, 1)), "sep/pointwise_kernel": (1, (1, 1, 4, 8)),
               "dw/depthwise_kernel": (1, (3, 3, 4, 2)), "model/_dense/_kernel": (1, (5, 6)),
               "emb/embeddings": (1, (10, 4))}  # fmt: skip
    plan = plan_safetensors(entries, SafetensorsOptions(layout="torch"))
    got = {t.src: (t.name, t.shape) for t in plan.tensors}
    assert got == {"sep/depthwise_kernel": ("sep.depthwise.weight", (4, 1, 3, 3)),
                   "sep/pointwise_kernel": ("sep.pointwise.weight", (8, 4, 1, 1)),
                   "dw/depthwise_kernel": ("dw.weight", (8, 1, 3, 3)),
                   "model/_dense/_kernel": ("model._dense.weight", (6, 5)),
                   "emb/embeddings": ("emb.weight", (10, 4))}  # fmt: skip


@pytest.mark.slow
def test_a_hundred_thousand_variables(tmp_path):
    prefix = str(tmp_path / "many.ckpt")
    with BundleWriter(prefix, fsync=False) as w:
        for i in range(100_000):
            w.add(f"scope_{i % 100}/v{i}", np.full((2,), i, np.int32))
    out = str(tmp_path / "many.safetensors")
    report = to_safetensors(prefix, out, fsync=False)
    assert len(report.actions) == 100_000
    tensors, _, _ = read_header(out)
    assert len(tensors) == 100_000
    lib = _library_tensors(out)
    assert lib["scope_7/v99907"][2] == np.full((2,), 99907, np.int32).tobytes()


def test_convert_with_conversion_options_and_rule_slices(tmp_path):
    from converters import ConversionOptions, Rule
    from converters.api import convert

    prefix = str(tmp_path / "m.ckpt")
    k = RNG.standard_normal((4, 6)).astype(np.float32)
    _write(prefix, {"k": k, "k/Momentum": np.ones((4, 6), np.float32)})
    options = ConversionOptions(to="safetensors", rules=(Rule("^k$", slice="..., 1:"),),
                                optimizer="drop")  # fmt: skip
    report = convert(prefix, str(tmp_path / "o.safetensors"), options)
    assert report.kind == "to_safetensors" and [d.src for d in report.dropped] == ["k/Momentum"]
    assert _library_tensors(str(tmp_path / "o.safetensors"))["k"] == (
        "F32", [4, 5], np.ascontiguousarray(k[..., 1:]).tobytes())  # fmt: skip
    with pytest.raises(ValueError, match="link do"):
        ConversionOptions(to="safetensors", link=True).check()


def test_pair_and_fill_tables_are_refused(tmp_path):
    rules = tmp_path / "r.toml"
    rules.write_text('[[fill]]\ntarget = "x$"\nvalue = 1.0\n')
    prefix = str(tmp_path / "m.ckpt")
    _write(prefix, {"w": np.ones(2, np.float32)})
    with pytest.raises(UnsupportedFeatureError, match=r"\[\[fill\]\] tables need a target model"):
        to_safetensors(prefix, str(tmp_path / "o.safetensors"), rules=str(rules))


def test_a_failing_transform_leaves_no_map_and_nothing_behind(tmp_path, monkeypatch):
    from converters.safetensors import stream

    prefix = str(tmp_path / "m.ckpt")
    _write(prefix, {"a/kernel": RNG.standard_normal((30, 20)).astype(np.float32)})
    monkeypatch.setattr(stream, "BLOCK_BYTES", 256)
    calls = {"n": 0}
    real = stream.crc32c

    def flaky(data, crc=0):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk went away")
        return real(data, crc)

    monkeypatch.setattr(stream, "crc32c", flaky)
    with pytest.raises(OSError, match="disk went away"):
        to_safetensors(prefix, str(tmp_path / "o.safetensors"), layout="torch")
    assert _leftovers(tmp_path) == []
