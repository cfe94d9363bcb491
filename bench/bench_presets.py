"""Benchmark: a slim Inception v3 checkpoint into ``.weights.h5`` vs ``cp``.

Writes a full-size (299x299, 1001 classes, AuxLogits) tf-slim ``inception_v3``
checkpoint with stock TF (``tf.compat.v1.train.Saver``; random weights from
the graph's own initializers) into ``bench/out/presets/inception_v3.ckpt``
once, then, each in a fresh child process, measures wall time and peak RSS
(``ru_maxrss``) of:

* ``convert``: ``converters.presets.convert(SRC, DST.weights.h5, preset="auto")``
  with ``KERAS_BACKEND`` (default ``numpy``: building the target model is the
  only Keras work, and the numpy backend does not import TensorFlow);
* ``cp``: ``cp`` of the checkpoint's data shard (the same bytes).

The page cache is warmed first and ``sync`` runs before each measurement.
``--reps N`` reports the median of N. Usage::

    .venv/bin/python bench/bench_presets.py --reps 3
    KERAS_BACKEND=jax .venv/bin/python bench/bench_presets.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "presets"
SRC = OUT / "inception_v3.ckpt"

WRAP = """
import json, os, resource, sys, time
t0 = time.perf_counter()
{work}
t1 = time.perf_counter()
rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF,
                                                       resource.RUSAGE_CHILDREN))
print(json.dumps({{"wall": t1 - t0, "rss_mb": rss / 1024}}))
"""
WORK = {
    "convert": "from converters import presets\n"
    "presets.convert(sys.argv[1], sys.argv[2], preset='auto', overwrite=True)",
    "cp": "import subprocess\n"
    "subprocess.run(['cp', sys.argv[1] + '.data-00000-of-00001', sys.argv[2]], check=True)",
}


def make_checkpoint() -> None:
    if Path(str(SRC) + ".index").exists():
        return
    OUT.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys; sys.path.insert(0, '.')\n"
        "from tests.helpers.slim import import_tf_slim\n"
        "import tensorflow as tf\n"
        "slim = import_tf_slim()\n"
        "from tf_slim.nets import inception_v3\n"
        "g = tf.Graph()\n"
        "with g.as_default():\n"
        "    x = tf.compat.v1.placeholder(tf.float32, [1, 299, 299, 3])\n"
        "    with slim.arg_scope(inception_v3.inception_v3_arg_scope()):\n"
        "        inception_v3.inception_v3(x, num_classes=1001, is_training=False)\n"
        "    with tf.compat.v1.Session() as s:\n"
        "        s.run(tf.compat.v1.global_variables_initializer())\n"
        f"        tf.compat.v1.train.Saver().save(s, {str(SRC)!r}, write_meta_graph=False)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def measure(name: str, dst: Path) -> dict[str, float]:
    subprocess.run(["sync"], check=True)
    env = {
        **os.environ,
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "numpy"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    out = subprocess.run(
        [sys.executable, "-c", WRAP.format(work=WORK[name]), str(SRC), str(dst)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    make_checkpoint()
    data = Path(str(SRC) + ".data-00000-of-00001")
    data.read_bytes()  # warm the page cache
    results: dict[str, dict[str, float]] = {}
    for name in WORK:
        runs = []
        for _ in range(args.reps):
            dst = OUT / ("out.weights.h5" if name == "convert" else "out.data")
            runs.append(measure(name, dst))
            dst.unlink(missing_ok=True)
        results[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    results["ratio"] = {"wall": results["convert"]["wall"] / results["cp"]["wall"]}
    size = data.stat().st_size / 2**20
    if args.json:
        print(json.dumps({"size_mib": size, **results}, indent=2))
        return
    print(
        f"inception_v3 checkpoint: {size:.0f} MiB; backend "
        f"{os.environ.get('KERAS_BACKEND', 'numpy')}; median of {args.reps}"
    )
    for name in WORK:
        r = results[name]
        print(f"  {name:8s} {r['wall']:7.2f} s  peak RSS {r['rss_mb']:7.0f} MB")
    print(f"  convert / cp: {results['ratio']['wall']:.1f}x")
    shutil.rmtree(OUT / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
