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

from tests.helpers.safetensors_files import (  # noqa: E402
    leftovers,
    library_tensors,
    write_checkpoint,
)

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


@pytest.fixture
def every_dtype(tmp_path):
    values = _values()
    extra = {"strings": np.array([b"a", b"\xff"], dtype=object),
             "c128": np.array([1 + 2j], np.complex128)}  # fmt: skip
    prefix = str(tmp_path / "src" / "model.ckpt")
    write_checkpoint(prefix, {**values, **extra}, shards=2)
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
    write_checkpoint(prefix, values)
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
    lib = library_tensors(out)
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
    assert list(library_tensors(str(tmp_path / "q.safetensors"))) == ["ok"]


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
    write_checkpoint(prefix, values)
    out = str(tmp_path / "odd.safetensors")
    to_safetensors(prefix, out)
    lib = library_tensors(out)
    assert set(lib) == set(values)
    assert all(lib[k][2] == v.tobytes() for k, v in values.items())
    assert leftovers(tmp_path) == ["odd.safetensors"]  # no temporaries left
    reserved = str(tmp_path / "r.ckpt")
    write_checkpoint(reserved, {"__metadata__": np.ones(1, np.float32)})
    with pytest.raises(CheckpointError, match="'__metadata__', which safetensors reserves"):
        to_safetensors(reserved, str(tmp_path / "r.safetensors"))
    assert not (tmp_path / "r.safetensors").exists()


def test_two_keys_on_one_name_is_an_error():
    entries = {"a/kernel": (1, (2, 3)), "a.weight": (1, (3, 2))}
    with pytest.raises(CheckpointError, match="both be written as 'a.weight'"):
        plan_safetensors(entries, SafetensorsOptions(layout="torch"))
