"""Bucket to bucket without a local copy (#17.3): ``memory://`` to ``memory://``
gives the bytes a local batch writes; a bad crc32c or an interrupted upload
publishes no ``.index``; shards are read in bounded ranged reads."""

from __future__ import annotations

import json
import shutil

import fsspec
import numpy as np
import pytest

from converters.batch import stream
from converters.cli import main
from legacy_saver.bundle import BundleWriter
from tests.test_cli_batch import tree_files


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    yield fs
    fs.store.clear()


def _upload(fs, local, url_root):
    for p in sorted(local.rglob("*")):
        if p.is_file():
            fs.pipe_file(f"{url_root}/{p.relative_to(local)}", p.read_bytes())


def _remote_files(fs, root):
    ours = (".legacy", "legacy-ckpt-manifest")  # the batch's lock and manifest
    return {p[len(root) + 1 :]: fs.cat_file(p) for p in fs.find(root)
            if not p.rsplit("/", 1)[-1].startswith(ours)}  # fmt: skip


def _tree(realdata, root):
    shutil.copytree(realdata / "t2t_transformer_test_ckpt", root / "sharded")
    shutil.copytree(realdata / "tfr_bert_lite_tf2_ckpt", root / "tf2")
    with BundleWriter(str(root / "strings" / "model.ckpt-1")) as w:
        w.add("s", np.array([b"a", b"", b"\xff" * 300], dtype=object))
        w.add("w", np.arange(6, dtype=np.float32).reshape(2, 3))
    return root


def test_memory_to_memory_streams_the_local_bytes(realdata, tmp_path, memfs, capsys, monkeypatch):
    local_src = _tree(realdata, tmp_path / "src")
    _upload(memfs, local_src, "/src")
    monkeypatch.setattr(stream, "STREAM_CHUNK_BYTES", 64 << 10)
    reads: list[int] = []
    opened = stream._open

    def counting(src_url, path):
        f = opened(src_url, path)
        read = f.read

        def bounded(n=-1):
            data = read(n)
            reads.append(len(data))
            return data

        f.read = bounded
        return f

    monkeypatch.setattr(stream, "_open", counting)
    for to in ("tf2", "tf1"):
        assert main(["batch", "memory://src", f"memory://dst-{to}", "--to", to, "-j", "1",
                     "--quiet"]) == 0  # fmt: skip
        assert main(["batch", str(local_src), str(tmp_path / f"local-{to}"), "--to", to, "-j",
                     "1", "--quiet"]) == 0  # fmt: skip
        assert _remote_files(memfs, f"/dst-{to}") == tree_files(tmp_path / f"local-{to}")
    assert reads and max(reads) <= 64 << 10 < sum(reads)
    entries = json.loads(memfs.cat_file("/dst-tf2/legacy-ckpt-manifest.json"))["items"]
    assert all(e["report"]["streamed"] for e in entries.values())


def test_bad_crc_or_broken_upload_publishes_no_index(realdata, tmp_path, memfs, capsys,
                                                     monkeypatch):  # fmt: skip
    local_src = _tree(realdata, tmp_path / "src")
    shard = local_src / "tf2" / "bert_lite_tf2.ckpt.data-00000-of-00001"
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 1
    shard.write_bytes(bytes(raw))
    _upload(memfs, local_src, "/src")
    from legacy_saver.bundle import storage

    write = storage.FsspecStaged.write

    def breaking(self, data):  # the sharded item's data upload breaks mid-way
        if "/sharded/" in self.path and ".data-" in self.path:
            raise OSError("connection reset")
        return write(self, data)

    monkeypatch.setattr(storage.FsspecStaged, "write", breaking)
    code = main(["batch", "memory://src", "memory://dst", "-j", "1", "--json", "--quiet"])
    out = json.loads(capsys.readouterr().out)
    rows = {i["rel"]: i for i in out["items"]}
    assert code == 1
    assert rows["tf2/bert_lite_tf2.ckpt"]["status"] == "failed"
    assert "checksum mismatch" in rows["tf2/bert_lite_tf2.ckpt"]["reason"]
    assert rows["sharded/model.ckpt-1"]["status"] == "failed"
    assert "connection reset" in rows["sharded/model.ckpt-1"]["reason"]
    assert rows["strings/model.ckpt-1"]["status"] == "converted"
    assert not memfs.exists("/dst/tf2/bert_lite_tf2.ckpt.index")
    assert not memfs.exists("/dst/sharded/model.ckpt-1.index")
    leftovers = [p for p in memfs.find("/dst") if "/tf2/" in p or "/sharded/" in p]
    assert not leftovers, leftovers


def test_convert_url_to_url_streams_too(realdata, tmp_path, memfs, capsys):
    local_src = _tree(realdata, tmp_path / "src")
    _upload(memfs, local_src, "/src")
    src = "memory://src/sharded/model.ckpt-1"
    assert main(["convert", src, "memory://out/model.ckpt-1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    assert "streamed between the stores (no local copy)" in report["notes"]
    local = tmp_path / "local" / "model.ckpt-1"
    assert main(["convert", str(local_src / "sharded" / "model.ckpt-1"), str(local)]) == 0
    for f in sorted((tmp_path / "local").iterdir()):
        assert memfs.cat_file(f"/out/{f.name}") == f.read_bytes(), f.name
    assert main(["convert", src, "memory://out/model.ckpt-1"]) == 1  # never without --overwrite
    assert "already exists" in capsys.readouterr().err
