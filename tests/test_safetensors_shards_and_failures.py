"""converters.to_safetensors beyond one file: Hugging Face sharding, partitioned variables,
rules and TF2 names, and failures (typed, named, nothing left behind), without TensorFlow.
The file format itself and every dtype: ``test_safetensors_format.py``."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from converters.safetensors import plan_safetensors, to_safetensors
from converters.safetensors.planner import SafetensorsOptions
from converters.safetensors.spec import read_header
from legacy_saver.bundle import BundleWriter
from legacy_saver.errors import CheckpointError, CorruptCheckpointError, UnsupportedFeatureError

safetensors = pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402

from tests.helpers.safetensors_files import (  # noqa: E402
    leftovers,
    library_tensors,
    write_checkpoint,
)

RNG = np.random.default_rng(17)


# -- sharding ------------------------------------------------------------------------------


def test_shards_follow_the_hugging_face_convention(tmp_path):
    values = {f"layer_{i}/w": RNG.standard_normal((64, 16)).astype(np.float32) for i in range(7)}
    values["big"] = RNG.standard_normal((300, 16)).astype(np.float32)  # alone, over the limit
    prefix = str(tmp_path / "m.ckpt")
    write_checkpoint(prefix, values, shards=3)
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
        lib = library_tensors(str(out_dir / shard))
        assert sum(len(d) for _, _, d in lib.values()) <= max(3 * 64 * 16 * 4, values["big"].nbytes)
        for key, (_, _, data) in lib.items():
            assert index["weight_map"][key] == shard
            seen[key] = data
    assert seen == {k: v.tobytes() for k, v in values.items()}
    assert any(n.endswith("index.json") for n in report.notes)


def test_one_shard_is_one_file_and_overwrite_removes_the_earlier_shards(tmp_path):
    values = {f"w{i}": np.full((10,), i, np.float32) for i in range(4)}
    prefix = str(tmp_path / "m.ckpt")
    write_checkpoint(prefix, values)
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
    lib = library_tensors(out)
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
    write_checkpoint(prefix, {"k": k, "c": c, "h": k})
    rules = [Rule("^k$", transpose=(1, 0)), Rule("^c$", transpose=(3, 2, 0, 1), reshape=(11, 105)),
             Rule("^h$", to="half", cast="float16")]  # fmt: skip
    out = str(tmp_path / "r.safetensors")
    to_safetensors(prefix, out, rules=rules)
    lib = library_tensors(out)
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
    write_checkpoint(tf1, values)
    tf2 = str(tmp_path / "tf2" / "ckpt-1")
    tf1_to_tf2(tf1, tf2)
    out = str(tmp_path / "tf2.safetensors")
    report = to_safetensors(tf2, out, layout="torch")
    lib = library_tensors(out)
    assert set(lib) == {"dense.weight", "dense.bias", "dense.weight.m", "dense.weight.v",
                        "optimizer.beta1_power", "global_step"}  # fmt: skip
    assert lib["dense.weight.v"][2] == np.full((3, 4), 2, np.float32).tobytes()  # follows kernel
    assert lib["dense.weight"][2] == np.ascontiguousarray(values["dense/kernel"].T).tobytes()
    assert [d.src for d in report.dropped] == ["_CHECKPOINTABLE_OBJECT_GRAPH"]
    with safe_open(out, framework="np") as f:
        assert f.metadata()["source_format"] == "tf2-object-based"
    dropped = to_safetensors(tf2, str(tmp_path / "d.safetensors"), optimizer="drop")
    assert set(library_tensors(str(tmp_path / "d.safetensors"))) == {
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


@pytest.mark.parametrize("layout", ["tf", "torch"])
def test_a_flipped_source_bit_names_the_tensor_and_writes_nothing(tmp_path, layout):
    values = {"a/kernel": RNG.standard_normal((40, 30)).astype(np.float32),
              "b/kernel": RNG.standard_normal((30, 20)).astype(np.float32)}  # fmt: skip
    prefix = str(tmp_path / "m.ckpt")
    write_checkpoint(prefix, values)
    data = tmp_path / "m.ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[values["a/kernel"].nbytes + 17] ^= 0x10  # inside b/kernel
    data.write_bytes(bytes(raw))
    with pytest.raises(CorruptCheckpointError, match=r"checksum mismatch for tensor 'b/kernel'"):
        to_safetensors(prefix, str(tmp_path / "out.safetensors"), layout=layout)
    assert leftovers(tmp_path) == []


def test_a_truncated_shard_names_the_tensor_and_writes_nothing(tmp_path):
    values = {f"w{i}": np.full((100,), i, np.float32) for i in range(4)}
    prefix = str(tmp_path / "m.ckpt")
    write_checkpoint(prefix, values, shards=2)
    shard = tmp_path / "m.ckpt.data-00001-of-00002"
    shard.write_bytes(shard.read_bytes()[:500])
    with pytest.raises(CorruptCheckpointError, match=r"is truncated: tensor 'w3' needs bytes"):
        to_safetensors(prefix, str(tmp_path / "out.safetensors"), shard_bytes=400)
    assert leftovers(tmp_path) == []


def test_refuses_to_overwrite_and_to_write_over_the_source(tmp_path):
    prefix = str(tmp_path / "m.ckpt")
    write_checkpoint(prefix, {"w": np.ones(3, np.float32)})
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
    write_checkpoint(prefix, {"w": np.ones(3, np.float32)})
    report = to_safetensors(prefix, str(tmp_path / "o.safetensors"), dry_run=True)
    assert report.dry_run and [a.dst for a in report.actions] == ["w"]
    assert leftovers(tmp_path) == []


def test_only_regular_files_are_ever_replaced_and_urls_are_refused(tmp_path):
    prefix = str(tmp_path / "m.ckpt")
    write_checkpoint(prefix, {"w": np.ones(3, np.float32)})
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
    lib = library_tensors(out)
    assert lib["scope_7/v99907"][2] == np.full((2,), 99907, np.int32).tobytes()


def test_convert_with_conversion_options_and_rule_slices(tmp_path):
    from converters import ConversionOptions, Rule
    from converters.api import convert

    prefix = str(tmp_path / "m.ckpt")
    k = RNG.standard_normal((4, 6)).astype(np.float32)
    write_checkpoint(prefix, {"k": k, "k/Momentum": np.ones((4, 6), np.float32)})
    options = ConversionOptions(to="safetensors", rules=(Rule("^k$", slice="..., 1:"),),
                                optimizer="drop")  # fmt: skip
    report = convert(prefix, str(tmp_path / "o.safetensors"), options)
    assert report.kind == "to_safetensors" and [d.src for d in report.dropped] == ["k/Momentum"]
    assert library_tensors(str(tmp_path / "o.safetensors"))["k"] == (
        "F32", [4, 5], np.ascontiguousarray(k[..., 1:]).tobytes())  # fmt: skip
    with pytest.raises(ValueError, match="link do"):
        ConversionOptions(to="safetensors", link=True).check()


def test_pair_and_fill_tables_are_refused(tmp_path):
    rules = tmp_path / "r.toml"
    rules.write_text('[[fill]]\ntarget = "x$"\nvalue = 1.0\n')
    prefix = str(tmp_path / "m.ckpt")
    write_checkpoint(prefix, {"w": np.ones(2, np.float32)})
    with pytest.raises(UnsupportedFeatureError, match=r"\[\[fill\]\] tables need a target model"):
        to_safetensors(prefix, str(tmp_path / "o.safetensors"), rules=str(rules))


def test_a_failing_transform_leaves_no_map_and_nothing_behind(tmp_path, monkeypatch):
    from converters.safetensors import stream

    prefix = str(tmp_path / "m.ckpt")
    write_checkpoint(prefix, {"a/kernel": RNG.standard_normal((30, 20)).astype(np.float32)})
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
    assert leftovers(tmp_path) == []
