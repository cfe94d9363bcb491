"""Benchmark: structural TF1 -> TF2 conversion vs the migration guide's recipe vs ``cp``.

Uses the stock-TF-written checkpoint of ``bench/bench_read.py`` when present
(``bench/out/read_400x1310x1024/model.ckpt`` or ``bench/out/tf_2g/model.ckpt``),
else writes one with ``bench_read.py``'s writer. Each measurement runs in a
fresh child process reporting wall time and peak RSS (``ru_maxrss``); the page
cache is warmed first. Outputs go to ``bench/out/convert/`` and are removed.

Usage::

    .venv/bin/python bench/bench_convert.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CANDIDATES = [OUT / "read_400x1310x1024" / "model.ckpt", OUT / "tf_2g" / "model.ckpt"]

CHILD = {
    "structural": "from converters.api import tf1_to_tf2; tf1_to_tf2(SRC, DST)",
    "structural-nofsync": (
        "from converters.api import plan_tf1_to_tf2; from converters.execute import execute; "
        "from legacy_saver.bundle import load_checkpoint; r = load_checkpoint(SRC); "
        "execute(plan_tf1_to_tf2(r), r, DST, fsync=False)"
    ),
    "link": "from converters.api import tf1_to_tf2; tf1_to_tf2(SRC, DST, link=True)",
    "recipe": (  # tensorflow.org/guide/migrate/migrating_checkpoints: convert_tf1_to_tf2
        "import tensorflow as tf\n"
        "reader = tf.train.load_checkpoint(SRC)\n"
        "vars = {}\n"
        "for name in reader.get_variable_to_dtype_map():\n"
        "    vars[name] = tf.Variable(reader.get_tensor(name))\n"
        "tf.train.Checkpoint(vars=vars).save(DST)\n"
    ),
    "cp": (
        "import subprocess\n"
        "subprocess.run(['cp', SRC + '.data-00000-of-00001', DST + '.data'], check=True)"
    ),
}
WRAP = """
import json, resource, sys, time
SRC, DST = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
{body}
wall = time.perf_counter() - t0
usage = resource.getrusage
rss = max(usage(resource.RUSAGE_SELF).ru_maxrss, usage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({{"wall": wall, "rss_mb": rss / 1024}}))
"""


def source() -> str:
    for path in CANDIDATES:
        if Path(f"{path}.index").exists():
            return str(path)
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_read.py"), "--runs", "1"], check=True
    )
    return str(CANDIDATES[0])


def run(name: str, src: str) -> dict[str, float]:
    dst_dir = OUT / "convert" / name
    shutil.rmtree(dst_dir, ignore_errors=True)
    dst_dir.mkdir(parents=True)
    code = WRAP.format(body=CHILD[name])
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, src, str(dst_dir / "ckpt")],
                         capture_output=True, text=True, check=True, cwd=ROOT)  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall"] = time.perf_counter() - t0
    shutil.rmtree(dst_dir, ignore_errors=True)
    return result


def main() -> None:
    src = source()
    subprocess.run(["cat", f"{src}.data-00000-of-00001"], stdout=subprocess.DEVNULL, check=True)
    print(f"source: {src}")
    for name in ("cp", "structural", "structural-nofsync", "link", "recipe"):
        r = run(name, src)
        print(f"{name:20s} wall {r['wall']:6.2f} s  process {r['process_wall']:6.2f} s  "
              f"peak RSS {r['rss_mb']:7.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
