"""``legacy-ckpt batch --engine dask`` on a real ``distributed.LocalCluster``
(2 worker processes, no dashboard, scratch in a temporary directory): the same
outputs and manifest as the local engine, bucket to bucket on a loopback S3
server with no tensor byte read by the coordinator, a worker SIGKILLed
mid-item, a coordinator killed and resumed, the scheduler lost, and the
errors for a missing ``distributed`` or missing credentials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from converters.batch.discover import LOCK_NAME, MANIFEST_NAME
from converters.cli import main
from legacy_saver.bundle.naming import parse_temp
from tests.helpers.paths import cli_command
from tests.test_cli_batch import assert_complete, build_tree, manifest, tree_files
from tests.test_cli_remote import ENV, s3  # noqa: F401  (the loopback S3 server fixture)

pytestmark = pytest.mark.slow
ESSENCE = ("status", "action", "fingerprint", "options", "outputs", "owned")


@pytest.fixture(scope="module")
def cluster(s3, tmp_path_factory):  # noqa: F811  (after s3: workers inherit its endpoint)
    distributed = pytest.importorskip("distributed")
    scratch = tmp_path_factory.mktemp("dask-scratch")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, local_directory=str(scratch),
                                  silence_logs=50) as c:  # fmt: skip
        yield c
    leftovers = [p for p in scratch.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert not leftovers, leftovers  # worker spaces removed (only Dask's two lock files stay)


def essence(dst: Path) -> dict:
    return {k: {f: v.get(f) for f in ESSENCE} for k, v in manifest(dst)["items"].items()}


def batch(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["batch", *argv, "--json", "--quiet"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["schema"] == "legacy-ckpt/batch/1", (out, captured.err)
    return code, out


def test_dask_gives_the_local_result(realdata, cluster, tmp_path, capsys):
    src = build_tree(realdata, tmp_path / "src")
    local, dask = tmp_path / "local", tmp_path / "dask"
    code_l, out_l = batch(capsys, str(src), str(local), "-j", "1")
    code_d, out_d = batch(capsys, str(src), str(dask), "--engine", "dask", "--scheduler",
                          cluster.scheduler_address)  # fmt: skip
    assert (code_l, code_d) == (1, 1) and out_d["engine"] == "dask"
    rows = lambda out: [(i["rel"], i["status"], i["action"]) for i in out["items"]]  # noqa: E731
    assert rows(out_l) == rows(out_d)
    assert tree_files(local) == tree_files(dask) and essence(local) == essence(dask)
    assert {w["worker"] for w in out_d["workers"]} <= set(cluster.scheduler_info["workers"])
    code, again = batch(capsys, str(src), str(dask), "--engine", "dask", "--scheduler",
                        cluster.scheduler_address)  # fmt: skip
    assert code == 1 and (again["converted"], again["skipped"], again["failed"]) == (0, 4, 1)


def test_a_worker_killed_mid_item_is_retried_elsewhere(realdata, cluster, tmp_path):
    src = build_tree(realdata, tmp_path / "src", big_mib=64)
    dst, clean = tmp_path / "dst", tmp_path / "clean"
    proc = subprocess.Popen([*cli_command(), "batch", str(src), str(dst), "--engine", "dask",
                             "--scheduler", cluster.scheduler_address, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        big = dst / "b_big"
        names = [n for n in os.listdir(big)] if big.is_dir() else []
        temps = [parse_temp(n) for n in names]
        victim = next((t.pid for t in temps if t is not None and t.pid != proc.pid), None)
        time.sleep(0.002)
    assert victim is not None, "the big item finished before a worker could be killed"
    os.kill(victim, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err  # the corrupt item fails, nothing else
    entries = manifest(dst)["items"]
    assert entries["b_big/model.ckpt-5"]["status"] == "done"
    assert entries["b_big/model.ckpt-5"]["report"] is not None
    assert main(["batch", str(src), str(clean), "-j", "1", "--quiet"]) == 1
    assert tree_files(dst) == tree_files(clean) and essence(dst) == essence(clean)


def _one_done(dst: Path) -> bool:
    try:
        return any(v["status"] == "done" for v in manifest(dst)["items"].values())
    except (OSError, ValueError):
        return False


def test_coordinator_killed_then_resumed(realdata, cluster, tmp_path, capsys):
    src = build_tree(realdata, tmp_path / "src", big_mib=32)
    dst, clean = tmp_path / "dst", tmp_path / "clean"
    proc = subprocess.Popen([*cli_command(), "batch", str(src), str(dst), "--engine", "dask",
                             "--scheduler", cluster.scheduler_address, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not _one_done(dst):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(2)  # tasks already running on the cluster finish (Dask cannot stop them)
    code, out = batch(capsys, str(src), str(dst), "--engine", "dask", "--scheduler",
                      cluster.scheduler_address)  # fmt: skip
    assert code == 1 and out["failed"] == 1 and out["skipped"] >= 1
    assert main(["batch", str(src), str(clean), "-j", "1", "--quiet"]) == 1
    assert tree_files(dst) == tree_files(clean) and essence(dst) == essence(clean)
    assert_complete(dst)


def test_scheduler_lost_is_a_clear_error_and_resume_finishes(realdata, s3, tmp_path, capsys):  # noqa: F811
    distributed = pytest.importorskip("distributed")
    src = build_tree(realdata, tmp_path / "src", big_mib=64)
    dst = tmp_path / "dst"
    lost = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=50,
                                    local_directory=str(tmp_path / "scratch"))  # fmt: skip
    proc = subprocess.Popen(
        [
            *cli_command(),
            "batch",
            str(src),
            str(dst),
            "--engine",
            "dask",
            "--scheduler",
            lost.scheduler_address,
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"},
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not _one_done(dst):
            time.sleep(0.005)
    finally:
        lost.close()
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 1
    assert "lost the Dask scheduler" in err and "run the same command again" in err, err
    assert "Traceback" not in err
    code, out = batch(capsys, str(src), str(dst), "-j", "1")  # resume on any engine
    assert code == 1 and out["converted"] + out["skipped"] == 5 and out["failed"] == 1
    assert_complete(dst)


def test_bucket_to_bucket_through_the_cluster_reads_no_tensor_bytes_here(
    realdata,
    s3,  # noqa: F811
    cluster,
    tmp_path,
    capsys,
    monkeypatch,  # noqa: F811
):
    import shutil

    root = tmp_path / "tree"
    shutil.copytree(realdata / "t2t_transformer_test_ckpt", root / "sharded")
    shutil.copytree(realdata / "tfr_bert_lite_tf2_ckpt", root / "tf2")
    s3.mkdir("dask-src")
    s3.mkdir("dask-dst")
    s3.put(str(root), "dask-src/tree", recursive=True)
    reads = _count_reads(monkeypatch)
    code, out = batch(capsys, "s3://dask-src/tree", "s3://dask-dst/tree", "--engine", "dask",
                      "--scheduler", cluster.scheduler_address)  # fmt: skip
    assert code == 0 and out["converted"] == 2, out
    tensor_reads = [(p, n) for p, n in reads if ".data-" in p or p.endswith(".index")]
    assert not tensor_reads, tensor_reads  # the coordinator listed, the workers read
    assert sum(n for _, n in reads) < 64 << 10  # the manifest and lock only
    s3.invalidate_cache()
    local = tmp_path / "local"
    assert main(["batch", str(root), str(local), "-j", "1", "--quiet"]) == 0
    for rel, data in tree_files(local).items():
        assert s3.cat_file(f"dask-dst/tree/{rel}") == data, rel
    assert not s3.exists(f"dask-dst/tree/{LOCK_NAME}") and s3.exists(
        f"dask-dst/tree/{MANIFEST_NAME}"
    )


def _count_reads(monkeypatch) -> list[tuple[str, int]]:
    """Bytes this process fetches from S3, by path."""
    import s3fs

    reads: list[tuple[str, int]] = []
    cat, fetch = s3fs.S3FileSystem._cat_file, s3fs.core.S3File._fetch_range

    async def counted_cat(self, path, *args, **kwargs):
        data = await cat(self, path, *args, **kwargs)
        reads.append((path, len(data)))
        return data

    def counted_fetch(self, start, end):
        data = fetch(self, start, end)
        reads.append((self.path, len(data)))
        return data

    monkeypatch.setattr(s3fs.S3FileSystem, "_cat_file", counted_cat)
    monkeypatch.setattr(s3fs.core.S3File, "_fetch_range", counted_fetch)
    return reads


@pytest.mark.parametrize("slow", [False])
def test_missing_distributed_is_a_clear_error(tmp_path, capsys, monkeypatch, slow):
    (tmp_path / "src").mkdir()
    from legacy_saver.bundle import BundleWriter

    with BundleWriter(str(tmp_path / "src" / "model.ckpt-1")) as w:
        w.add("v", 1.0)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["batch", str(tmp_path / "src"), str(tmp_path / "dst"), "--engine", "dask"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'legacy-saver[dask]'" in err and "Traceback" not in err


def test_missing_credentials_name_the_url_without_hanging(s3, tmp_path):  # noqa: F811
    s3.mkdir("creds-src")
    s3.pipe_file("creds-src/tree/a/model.ckpt-1.index", b"x" * 64)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"], AWS_EC2_METADATA_DISABLED="true",
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run([*cli_command(), "batch", "s3://creds-src/tree", str(tmp_path / "dst")],
                          capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert time.monotonic() - start < 100
    assert proc.returncode == 1 and "s3://creds-src/tree" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ENV  # the fixture's credentials were what the other tests used
