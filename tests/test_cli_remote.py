"""Remote storage against a real S3-compatible server (moto's server mode,
started here on loopback): inspect fetching only the index, convert and
verify between buckets, and a batch from one bucket to another that ends the
same as the same batch on local disk."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from converters.batch.discover import LOCK_NAME, MANIFEST_NAME
from converters.cli import main
from legacy_saver.bundle import storage

pytestmark = pytest.mark.slow
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


@pytest.fixture(scope="module")
def s3():
    """An S3 server on 127.0.0.1 and an s3fs filesystem talking to it."""
    server_mod = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    saved = {k: os.environ.get(k) for k in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(ENV, AWS_ENDPOINT_URL=f"http://{host}:{port}")  # workers inherit it
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    try:
        yield fs
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


@pytest.fixture(scope="module")
def tree(realdata, s3, tmp_path_factory):
    """A small mixed tree, locally and in bucket ``src``."""
    root = tmp_path_factory.mktemp("remote") / "tree"
    shutil.copytree(realdata / "t2t_transformer_test_ckpt", root / "sharded")
    shutil.copytree(realdata / "serving_bad_half_plus_two" / "00000123", root / "v1")
    shutil.copytree(realdata / "tfr_bert_lite_tf2_ckpt", root / "tf2")
    s3.mkdir("src")
    s3.put(str(root), "src/tree", recursive=True)
    return root


class _Counting:
    """Counts the bytes fetched through ``FsspecStorage``."""

    def __init__(self, monkeypatch) -> None:
        self.reads: list[tuple[str, int]] = []
        read, open_read = storage.FsspecStorage.read, storage.FsspecStorage.open_read
        counter = self

        def counted_read(self, path):
            data = read(self, path)
            counter.reads.append((path, len(data)))
            return data

        def counted_open(self, path):
            f = open_read(self, path)
            raw_read = f.read

            def read_some(n=-1):
                data = raw_read(n)
                counter.reads.append((path, len(data)))
                return data

            f.read = read_some
            return f

        monkeypatch.setattr(storage.FsspecStorage, "read", counted_read)
        monkeypatch.setattr(storage.FsspecStorage, "open_read", counted_open)

    @property
    def total(self) -> int:
        return sum(n for _, n in self.reads)


def run_json(capsys, argv: list[str]) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_inspect_remote_fetches_only_the_index(tree, capsys, monkeypatch):
    counting = _Counting(monkeypatch)
    code, remote = run_json(capsys, ["inspect", "s3://src/tree/sharded/model.ckpt-1"])
    assert code == 0
    _, local = run_json(capsys, ["inspect", str(tree / "sharded" / "model.ckpt-1")])
    assert remote["variables"] == local["variables"] and remote["shards"] == 2
    assert remote["totals"] == local["totals"]
    index_size = (tree / "sharded" / "model.ckpt-1.index").stat().st_size
    assert counting.reads == [("src/tree/sharded/model.ckpt-1.index", index_size)]
    assert counting.total * 100 < remote["totals"]["files_bytes"]
    code, value = run_json(capsys, ["inspect", "s3://src/tree/sharded/model.ckpt-1",
                                    "--tensor", "global_step"])  # fmt: skip
    assert code == 0 and value["tensor"]["value"] == 1  # the index, then 8 bytes


def test_convert_and_verify_between_buckets(tree, s3, capsys):
    s3.mkdir("converted")
    src, dst = "s3://src/tree/v1/export", "s3://converted/v1/ckpt"
    code, out = run_json(capsys, ["convert", src, dst])
    assert code == 0 and out["dst"] == dst and out["report"]["kind"] == "tf1_to_tf2", out
    s3.invalidate_cache()
    assert sorted(s3.ls("converted/v1")) == ["converted/v1/ckpt.data-00000-of-00001",
                                             "converted/v1/ckpt.index",
                                             "converted/v1/ckpt.plan.json"]  # fmt: skip
    assert main(["convert", src, dst]) == 1
    assert "already exists" in capsys.readouterr().err
    code, out = run_json(capsys, ["verify", src, dst])
    assert code == 0 and out["ok"] and out["compared"] == 2 and out["plan_from"] == "recorded"
    code, out = run_json(capsys, ["inspect", dst])
    assert code == 0 and out["kind"] == "object-based"


def test_batch_bucket_to_bucket_matches_local(tree, s3, tmp_path, capsys):
    s3.mkdir("dst")
    code, remote = run_json(
        capsys, ["batch", "s3://src/tree", "s3://dst/tree", "-j", "2", "--quiet"]
    )
    assert code == 0, remote
    code, local = run_json(capsys, ["batch", str(tree), str(tmp_path / "local"), "-j", "1"])
    assert code == 0
    strip = [{k: v for k, v in i.items() if k != "seconds"} for i in remote["items"]]
    assert strip == [{k: v for k, v in i.items() if k != "seconds"} for i in local["items"]]
    assert remote["state_files"] == local["state_files"] == ["sharded/checkpoint", "v1/checkpoint"]
    s3.invalidate_cache()
    fetched = tmp_path / "fetched"
    s3.get("dst/tree", str(fetched), recursive=True)
    files = {str(p.relative_to(fetched)): p.read_bytes() for p in fetched.rglob("*") if p.is_file()}
    want = {str(p.relative_to(tmp_path / "local")): p.read_bytes()
            for p in (tmp_path / "local").rglob("*")
            if p.is_file() and p.name != LOCK_NAME}  # fmt: skip
    assert set(files) == set(want)
    assert {k: v for k, v in files.items() if k != MANIFEST_NAME} == \
        {k: v for k, v in want.items() if k != MANIFEST_NAME}  # fmt: skip
    code, again = run_json(capsys, ["batch", "s3://src/tree", "s3://dst/tree", "-j", "1"])
    assert code == 0 and again["skipped"] == 3 and again["converted"] == 0
