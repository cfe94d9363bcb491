"""The storage seam's write side: ``BundleWriter`` on local paths, ``file://`` and fsspec
URLs goes through one atomic path (``storage.Staged`` + ``publish.publish_bundle``):
the same bytes everywhere, nothing under the final ``.index`` until the data are whole,
nothing left behind by a failed write."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest

from legacy_saver.bundle import BundleWriter, load_checkpoint
from legacy_saver.bundle import storage as storage_module
from legacy_saver.bundle.naming import is_temp
from legacy_saver.errors import CheckpointExistsError


def _values(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {f"v{i}": rng.standard_normal((i + 2, 3)).astype(np.float32) for i in range(3)}
    out["s"] = np.array([b"", b"\xff", b"abc"], dtype=object)
    return out


def _write(prefix: str, values: dict[str, np.ndarray], shards: int = 2, **kw: object) -> None:
    with BundleWriter(prefix, num_shards=shards, fsync=False, **kw) as w:  # type: ignore[arg-type]
        for i, (k, v) in enumerate(values.items()):
            w.add(k, v, shard=i % shards)


@pytest.fixture
def mem() -> tuple[object, str]:
    """A fresh directory in fsspec's in-memory filesystem."""
    fs = fsspec.filesystem("memory")
    root = f"/t-{uuid.uuid4().hex[:8]}"
    yield fs, f"memory://{root}"
    fs.rm(root, recursive=True) if fs.exists(root) else None


def _objects(fs: object, url: str) -> dict[str, bytes]:
    inner = url.removeprefix("memory://")
    names = fs.ls(inner, detail=False) if fs.exists(inner) else []  # type: ignore[attr-defined]
    return {os.path.basename(n): fs.cat_file(n) for n in names}  # type: ignore[attr-defined]


def test_memory_url_bytes_equal_local_bytes(mem, tmp_path: Path) -> None:
    fs, root = mem
    values = _values(0)
    _write(f"{root}/ckpt", values)
    _write(str(tmp_path / "ckpt"), values)
    local = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert _objects(fs, root) == local
    reader = load_checkpoint(f"{root}/ckpt")
    for k, v in values.items():
        assert np.array_equal(reader.get_tensor(k), v)


def test_memory_url_refuses_an_existing_checkpoint(mem) -> None:
    _fs, root = mem
    _write(f"{root}/ckpt", _values(0))
    with pytest.raises(CheckpointExistsError, match="ckpt.index already exists; pass overwrite"):
        BundleWriter(f"{root}/ckpt")
    _write(f"{root}/ckpt", _values(1), overwrite=True)
    assert np.array_equal(load_checkpoint(f"{root}/ckpt").get_tensor("v0"), _values(1)["v0"])


def test_memory_url_failed_write_leaves_nothing(mem) -> None:
    fs, root = mem
    with pytest.raises(RuntimeError):
        with BundleWriter(f"{root}/ckpt", num_shards=2, fsync=False) as w:
            w.add("a", np.zeros(3, np.float32))
            raise RuntimeError("boom")
    assert _objects(fs, root) == {}


def test_interrupted_index_upload_keeps_the_old_checkpoint(mem, monkeypatch) -> None:
    fs, root = mem
    _write(f"{root}/ckpt", _values(0))
    before = _objects(fs, root)
    publish = storage_module.FsspecStaged.publish

    def failing(self, **kw):  # the index upload dies; data uploads went through
        if self.path.endswith(".index"):
            raise ConnectionError("upload interrupted")
        return publish(self, **kw)

    monkeypatch.setattr(storage_module.FsspecStaged, "publish", failing)
    with pytest.raises(ConnectionError):
        _write(f"{root}/ckpt", _values(1), overwrite=True)
    assert _objects(fs, root) == before  # the new data objects were removed again
    assert np.array_equal(load_checkpoint(f"{root}/ckpt").get_tensor("v0"), _values(0)["v0"])


def test_add_copy_to_a_url_checks_what_it_copied(mem, tmp_path: Path) -> None:
    fs, root = mem
    src = tmp_path / "src"
    _write(str(src), {"w": np.arange(1000, dtype=np.float32)}, shards=1)
    reader = load_checkpoint(src)
    entry = reader.bundle.entry("w")
    with open(f"{src}.data-00000-of-00001", "rb") as f:
        with BundleWriter(f"{root}/dst", fsync=False) as w:
            written = w.add_copy("w", entry.dtype_enum, entry.shape, f, entry.offset,
                                 entry.size, entry.crc32c)  # fmt: skip
            from legacy_saver.bundle.coding import unmask_crc

            assert w.written_crc32c(written) == unmask_crc(entry.crc32c)
    assert np.array_equal(load_checkpoint(f"{root}/dst").get_tensor("w"), np.arange(1000))


def test_file_url_is_local_with_temporaries_and_renames(tmp_path: Path, monkeypatch) -> None:
    renamed: list[tuple[str, str]] = []
    real = storage_module.fileio.replace
    monkeypatch.setattr(storage_module.fileio, "replace",
                        lambda a, b: (renamed.append((a, b)), real(a, b))[1])  # fmt: skip
    _write(f"file://{tmp_path}/ckpt", _values(0))
    assert sorted(os.path.basename(b) for _, b in renamed) == [
        "ckpt.data-00000-of-00002", "ckpt.data-00001-of-00002", "ckpt.index"]  # fmt: skip
    assert all(is_temp(os.path.basename(a)) for a, _ in renamed)
    assert renamed[-1][1].endswith(".index")  # the index last
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt.data-00000-of-00002", "ckpt.data-00001-of-00002", "ckpt.index"]  # fmt: skip


@pytest.mark.slow
def test_s3_multipart_write_and_abort(tmp_path: Path) -> None:
    """Against moto's S3 server: a 20 MiB tensor goes up in 8 MiB parts and reads back; a
    write abandoned half-way leaves no object at all (the multipart upload is aborted)."""
    server_mod = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}  # fmt: skip
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        fs = s3fs.S3FileSystem()
        fs.mkdir("bucket")
        big = np.random.default_rng(0).standard_normal(5 << 20).astype(np.float32)  # 20 MiB
        with BundleWriter("s3://bucket/run/ckpt", fsync=False) as w:
            w.add("big", big)
        assert np.array_equal(load_checkpoint("s3://bucket/run/ckpt").get_tensor("big"), big)
        with pytest.raises(RuntimeError):
            with BundleWriter("s3://bucket/run2/ckpt", num_shards=2, fsync=False) as w:
                w.add("big", big)
                raise RuntimeError("killed")
        assert not fs.exists("bucket/run2") or fs.ls("bucket/run2") == []
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
