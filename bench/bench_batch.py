"""Benchmark: ``legacy-ckpt batch`` with -j 1 and -j 2, and remote ``inspect``.

1. 200 small name-based checkpoints (8 variables, ~200 KiB each);
2. 4 name-based checkpoints of 512 MiB (16 float32 variables of 32 MiB);
   each converted TF1 -> TF2 (structural) into a fresh destination with
   ``-j 1`` then ``-j 2``, each run a fresh ``legacy-ckpt`` process (wall time
   includes start-up), page cache warmed by reading the sources first;
3. ``legacy-ckpt inspect`` of a checkpoint in an S3 bucket served by moto on
   127.0.0.1: bytes fetched (counted at the storage seam) vs. checkpoint size.

Trees live in ``bench/out/batch`` (git-ignored) and are reused.

Usage::

    .venv/bin/python bench/bench_batch.py                 # everything
    .venv/bin/python bench/bench_batch.py --skip-large    # minutes less
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "batch"
SCRIPT = ROOT / ".venv" / "bin" / "legacy-ckpt"
MIB = 1 << 20


def make_tree(root: Path, count: int, variables: int, var_bytes: int) -> int:
    """``count`` checkpoints under ``root`` (reused when present); total bytes."""
    from legacy_saver.bundle import BundleWriter

    marker = root / ".complete"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        rng = np.random.default_rng(0)
        for c in range(count):
            prefix = root / f"run{c:03d}" / "model.ckpt-100"
            with BundleWriter(str(prefix), fsync=False) as w:
                for v in range(variables):
                    w.add(f"layer{v}/kernel", rng.random(var_bytes // 4, dtype=np.float32))
                w.add("global_step", np.int64(100))
        marker.write_text("ok")
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p != marker)


def warm(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                while f.read(64 * MIB):
                    pass


def run_batch(src: Path, jobs: int) -> dict:
    dst = OUT / f"dst-j{jobs}"
    shutil.rmtree(dst, ignore_errors=True)
    warm(src)
    start = time.perf_counter()
    done = subprocess.run(
        [str(SCRIPT), "batch", str(src), str(dst), "-j", str(jobs), "--json", "--quiet"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - start
    summary = json.loads(done.stdout)
    assert done.returncode == 0 and summary["failed"] == 0, done.stderr
    shutil.rmtree(dst, ignore_errors=True)
    return {"jobs": jobs, "wall_s": round(wall, 2), "converted": summary["converted"]}


def bench_tree(name: str, count: int, variables: int, var_bytes: int) -> dict:
    src = OUT / name
    total = make_tree(src, count, variables, var_bytes)
    runs = [run_batch(src, jobs) for jobs in (1, 2)]
    for r in runs:
        r["MiB_per_s"] = round(total / MIB / r["wall_s"], 1)
    return {
        "tree": name, "checkpoints": count, "total_MiB": round(total / MIB, 1), "runs": runs,
        "speedup_j2": round(runs[0]["wall_s"] / runs[1]["wall_s"], 2),
    }  # fmt: skip


def bench_remote_inspect() -> dict:
    """Inspect a 400-variable, 64 MiB checkpoint in a moto S3 bucket."""
    from moto.server import ThreadedMotoServer

    src = OUT / "remote_src"
    total = make_tree(src, 1, 400, 160 * 1024)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
    )  # fmt: skip
    try:
        import s3fs

        fs = s3fs.S3FileSystem()
        fs.mkdir("bench")
        fs.put(str(src / "run000"), "bench/run000", recursive=True)
        fetched = _count_fetches()
        from converters.inspect import inspect_checkpoint

        start = time.perf_counter()
        info = inspect_checkpoint("s3://bench/run000/model.ckpt-100")
        wall = time.perf_counter() - start
    finally:
        server.stop()
    return {
        "checkpoint_MiB": round(total / MIB, 1), "variables": info["totals"]["variables"],
        "bytes_fetched": sum(n for _, n in fetched), "requests": len(fetched),
        "fetched_fraction": sum(n for _, n in fetched) / total, "wall_s": round(wall, 3),
    }  # fmt: skip


def _count_fetches() -> list[tuple[str, int]]:
    from legacy_saver.bundle import storage

    log: list[tuple[str, int]] = []
    read, open_read = storage.FsspecStorage.read, storage.FsspecStorage.open_read

    def counted_read(self, path):  # type: ignore[no-untyped-def]
        data = read(self, path)
        log.append((path, len(data)))
        return data

    def counted_open(self, path):  # type: ignore[no-untyped-def]
        f = open_read(self, path)
        raw = f.read
        f.read = lambda n=-1: log.append((path, len(data := raw(n)))) or data
        return f

    storage.FsspecStorage.read = counted_read  # type: ignore[method-assign]
    storage.FsspecStorage.open_read = counted_open  # type: ignore[method-assign]
    return log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-large", action="store_true", help="skip the 4 x 512 MiB batch")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {"cpus": os.cpu_count(), "small": bench_tree("small200", 200, 8, 24 * 1024)}
    print(json.dumps(results["small"]), flush=True)
    if not args.skip_large:
        results["large"] = bench_tree("large4", 4, 16, 32 * MIB)
        print(json.dumps(results["large"]), flush=True)
    results["remote_inspect"] = bench_remote_inspect()
    print(json.dumps(results["remote_inspect"]), flush=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
