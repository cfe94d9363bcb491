"""Benchmark: ``legacy-ckpt batch`` engines, local disk and S3 on loopback (#17.7).

A tree of ``--count`` name-based checkpoints of ``--mib`` MiB each (float32
variables of 32 MiB, generated with ``BundleWriter`` into ``bench/out/engines``,
reused) is converted TF1 -> TF2 (structural) by

* ``--engine local -j 1`` (in-process), ``-j 2`` (two worker processes),
* ``--engine dask -j 2`` (a LocalCluster of two worker processes, started by
  the command: its start-up is in the wall time),

each from local disk to local disk and from an S3 bucket to another bucket on a
moto server on 127.0.0.1 (``--skip-s3`` leaves those out). Every run is a fresh
coordinator process, wrapped so that it reports, besides wall time, its own
bytes fetched from S3 (counted inside s3fs, in the coordinator process only)
and its peak RSS (``VmHWM``: ``ru_maxrss`` would report the forking parent's size
after ``exec``). (``/proc/self/io`` cannot tell: it adds the reads of reaped
children, the workers. ``strace`` of a ``-j 2`` coordinator without ``-f`` shows
reads of ``.pyc``/``.so`` files and the ``.index`` content tokens only.) The workers'
reads are not counted: the point is that a coordinator moves no checkpoint bytes.

Usage::

    .venv/bin/python bench/bench_batch_engines.py                        # 8 x 256 MiB
    .venv/bin/python bench/bench_batch_engines.py --count 2 --mib 32     # a quick check
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
OUT = ROOT / "bench" / "out" / "engines"
MIB = 1 << 20
VAR_MIB = 32
WRAPPER = """
import json, sys
import converters.batch.run, converters.batch.engines.local, converters.api, converters.cli
import fsspec.implementations.local, tqdm, numpy, multiprocessing.pool
s3 = [0]
try:
    import s3fs, converters.batch.engines.dask, distributed
    cat, fetch = s3fs.S3FileSystem._cat_file, s3fs.core.S3File._fetch_range
    async def counted_cat(self, path, *a, **k):
        data = await cat(self, path, *a, **k)
        s3[0] += len(data)
        return data
    def counted_fetch(self, start, end):
        data = fetch(self, start, end)
        s3[0] += len(data)
        return data
    s3fs.S3FileSystem._cat_file, s3fs.core.S3File._fetch_range = counted_cat, counted_fetch
except ImportError:
    pass
code = converters.cli.main(sys.argv[2:])
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
stats = {"code": code, "s3": s3[0], "max_rss_mib": int(hwm) / 1024}
open(sys.argv[1], "w").write(json.dumps(stats))
"""
RUNS = (("local", 1), ("local", 2), ("dask", 2))


def make_tree(root: Path, count: int, mib: int) -> int:
    marker = root / f".complete-{count}x{mib}"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        from legacy_saver.bundle import BundleWriter

        rng = np.random.default_rng(0)
        for c in range(count):
            with BundleWriter(str(root / f"run{c:02d}" / "model.ckpt-100"), fsync=False) as w:
                for v in range(max(1, mib // VAR_MIB)):
                    w.add(f"layer{v}/kernel",
                          rng.random(min(mib, VAR_MIB) * MIB // 4, dtype=np.float32))  # fmt: skip
                w.add("global_step", np.int64(100))
        marker.write_text("ok")
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p != marker)


def run(src: str, dst: str, engine: str, jobs: int, env: dict[str, str]) -> dict:
    stats_file = OUT / "stats.json"
    argv = ["batch", src, dst, "--engine", engine, "-j", str(jobs), "--json", "--quiet"]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, str(stats_file), *argv],
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip
    wall = time.perf_counter() - start
    summary = json.loads(done.stdout)
    stats = json.loads(stats_file.read_text())
    assert stats["code"] == 0 and summary["failed"] == 0, (done.stdout[-2000:], done.stderr)
    return {"engine": engine, "jobs": jobs, "wall_s": round(wall, 2),
            "items": summary["converted"],
            "coordinator_s3_read_MiB": round(stats["s3"] / MIB, 2),
            "coordinator_rss_MiB": round(stats["max_rss_mib"], 1),
            "workers": summary["workers"]}  # fmt: skip


def bench_local(src: Path, total: int) -> list[dict]:
    rows = []
    for engine, jobs in RUNS:
        dst = OUT / f"dst-{engine}-j{jobs}"
        shutil.rmtree(dst, ignore_errors=True)
        rows.append(_rates(run(str(src), str(dst), engine, jobs, dict(os.environ)), total))
        shutil.rmtree(dst, ignore_errors=True)
    return rows


def bench_s3(src: Path, total: int) -> list[dict]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}  # fmt: skip
    os.environ.update(env)
    try:
        import s3fs

        fs = s3fs.S3FileSystem()
        fs.mkdir("bench-src")
        fs.put(str(src), "bench-src/tree", recursive=True)
        rows = []
        for engine, jobs in RUNS:
            bucket = f"bench-dst-{engine}-{jobs}"
            fs.mkdir(bucket)
            row = run("s3://bench-src/tree", f"s3://{bucket}/tree", engine, jobs, env)
            rows.append(_rates(row, total))
            fs.rm(bucket, recursive=True)
    finally:
        server.stop()
    return rows


def _rates(row: dict, total: int) -> dict:
    row["items_per_s"] = round(row["items"] / row["wall_s"], 3)
    row["MB_per_s"] = round(total / 1e6 / row["wall_s"], 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    src = OUT / "src"
    total = make_tree(src, args.count, args.mib)
    report = {"checkpoints": args.count, "total_MiB": round(total / MIB, 1),
              "load_average": os.getloadavg()}  # fmt: skip
    if not args.skip_local:
        report["local_disk"] = bench_local(src, total)
    if not args.skip_s3:
        report["s3_loopback"] = bench_s3(src, total)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
