"""Benchmark: read every tensor of a large checkpoint, TensorFlow vs legacy_saver.

The checkpoint (``--vars`` float32 variables, ``--size-gb`` in total) is
written once by stock TensorFlow's ``tf.compat.v1.train.Saver`` into
``bench/out/`` (git-ignored) and reused by later runs. Each measurement runs
in a fresh child process that imports its reader, reads every tensor (one at
a time, dropping it before the next, as a converter would) and reports its
own wall times and peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``). The data
files are read once before the runs so that both readers see a warm page
cache; runs alternate between the readers and the median is reported.

Usage::

    .venv/bin/python bench/bench_read.py                 # 2 GiB, 400 variables, 3 runs
    .venv/bin/python bench/bench_read.py --size-gb 0.5 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
GIB = 1 << 30
COLUMNS = 1024  # each variable is [rows, 1024] float32

WRITE_SCRIPT = """
import sys, tensorflow as tf
prefix, nvars, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
g = tf.Graph()
with g.as_default():
    vs = [tf.compat.v1.get_variable(f"layer_{i:03d}/kernel", [rows, {columns}],
          initializer=tf.compat.v1.random_uniform_initializer(seed=i)) for i in range(nvars)]
    saver = tf.compat.v1.train.Saver(vs)
    with tf.compat.v1.Session(graph=g) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        saver.save(sess, prefix, write_meta_graph=False, write_state=False)
""".replace("{columns}", str(COLUMNS))

# Run in the child: import the reader, then read every tensor; print JSON.
READ_SCRIPT = """
import json, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t0 = time.perf_counter()
if sys.argv[1] == "tf":
    import tensorflow as tf
    open_ckpt = tf.train.load_checkpoint
else:
    import legacy_saver
    open_ckpt = legacy_saver.load_checkpoint
t1, c1 = time.perf_counter(), cpu()
reader = open_ckpt(sys.argv[2])
total = 0
for name in sorted(reader.get_variable_to_shape_map()):
    value = reader.get_tensor(name)
    total += value.nbytes
    del value
t2 = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"import_s": t1 - t0, "read_s": t2 - t1, "read_cpu_s": cpu() - c1,
                  "process_cpu_s": cpu(), "bytes": total, "peak_rss": rss}))
"""


def ensure_checkpoint(size_gb: float, nvars: int) -> Path:
    """Write the benchmark checkpoint with stock TensorFlow unless cached."""
    rows = max(1, int(size_gb * GIB) // (nvars * COLUMNS * 4))
    directory = OUT / f"read_{nvars}x{rows}x{COLUMNS}"
    prefix = directory / "model.ckpt"
    if Path(f"{prefix}.index").exists():
        return prefix
    directory.mkdir(parents=True, exist_ok=True)
    print(f"writing {nvars} x [{rows}, {COLUMNS}] float32 with tf.compat.v1.train.Saver ...")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", WRITE_SCRIPT, str(prefix), str(nvars), str(rows)],
                   check=True, env=_env())  # fmt: skip
    print(f"  done in {time.perf_counter() - start:.1f} s")
    return prefix


def _env() -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def warm_cache(prefix: Path) -> None:
    """Read every file of the checkpoint once so both readers start warm."""
    for path in prefix.parent.glob(prefix.name + ".*"):
        with open(path, "rb", buffering=0) as f:
            while f.read(64 << 20):
                pass


def measure(reader: str, prefix: Path) -> dict[str, float]:
    """One child process: import ``reader``, read every tensor, report."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", READ_SCRIPT, reader, str(prefix)],
                          check=True, capture_output=True, text=True, env=_env())  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    return result


def summarize(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for name, rs in runs.items()
    }


def print_table(summary: dict[str, dict[str, float]], nruns: int) -> None:
    print(f"\nmedian of {nruns} runs, {summary['tf']['bytes'] / GIB:.2f} GiB read, "
          f"1-min load average after the runs: {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| reader | import | read all tensors (wall / CPU) | whole process (wall / CPU) "
          "| peak RSS |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, label in (("tf", "tf.train.load_checkpoint"), ("ls", "legacy_saver.load_checkpoint")):
        s = summary[name]
        print(f"| {label} | {s['import_s']:.2f} s | {s['read_s']:.2f} s / {s['read_cpu_s']:.2f} s"
              f" | {s['process_s']:.2f} s / {s['process_cpu_s']:.2f} s"
              f" | {s['peak_rss'] / GIB:.2f} GiB |")  # fmt: skip
    tf, ls = summary["tf"], summary["ls"]
    print(f"\nlegacy_saver / TF: read wall {ls['read_s'] / tf['read_s']:.2f}, "
          f"read CPU {ls['read_cpu_s'] / tf['read_cpu_s']:.2f}, "
          f"whole process wall {ls['process_s'] / tf['process_s']:.2f}, "
          f"peak RSS {ls['peak_rss'] / tf['peak_rss']:.2f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="checkpoint size in GiB")
    parser.add_argument("--vars", type=int, default=400, help="number of float32 variables")
    parser.add_argument("--runs", type=int, default=3, help="runs per reader (median reported)")
    parser.add_argument("--json", action="store_true", help="print the raw runs as JSON too")
    args = parser.parse_args(argv)
    prefix = ensure_checkpoint(args.size_gb, args.vars)
    warm_cache(prefix)
    runs: dict[str, list[dict[str, float]]] = {"tf": [], "ls": []}
    for i in range(args.runs):
        for name in ("tf", "ls"):
            runs[name].append(measure(name, prefix))
            r = runs[name][-1]
            print(f"run {i + 1} {name}: read {r['read_s']:.2f} s, "
                  f"peak RSS {r['peak_rss'] / GIB:.2f} GiB")  # fmt: skip
    if len({r["bytes"] for rs in runs.values() for r in rs}) != 1:
        raise SystemExit("the two readers returned different byte counts")
    summary = summarize(runs)
    print_table(summary, args.runs)
    if args.json:
        print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
