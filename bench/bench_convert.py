"""Benchmark: structural TF1 -> TF2 conversion vs the migration guide's recipe vs ``cp``.

Uses the stock-TF-written checkpoint of ``bench/bench_read.py`` when present
(``bench/out/read_400x1310x1024/model.ckpt`` or ``bench/out/tf_2g/model.ckpt``),
else writes one with ``bench_read.py``'s writer. Each measurement runs in a
fresh child process reporting wall time (from the child's first line, imports of
the converter included, interpreter start-up not) and peak RSS (``ru_maxrss``);
the page cache is warmed first, and ``sync`` runs before each measurement so that
no run pays for the previous one's dirty pages. Outputs go to
``bench/out/convert/`` and are removed. ``--reps N`` reports the median of N.

Usage::

    .venv/bin/python bench/bench_convert.py
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "bench"))
from timed_child import run_timed  # noqa: E402

CANDIDATES = [OUT / "read_400x1310x1024" / "model.ckpt", OUT / "tf_2g" / "model.ckpt"]

# name: (imports, work). "wall" times both; "work" the second alone (what a batch
# script converting many checkpoints in one process pays per checkpoint).
CHILD = {
    "structural": ("from converters.api import tf1_to_tf2", "tf1_to_tf2(SRC, DST)"),
    "structural-nofsync": (
        "from converters.api import plan_tf1_to_tf2; from converters.execute import execute; "
        "from converters.options import ConversionOptions; "
        "from legacy_saver.bundle import load_checkpoint",
        "r = load_checkpoint(SRC); "
        "execute(plan_tf1_to_tf2(r), r, DST, ConversionOptions(fsync=False))",
    ),
    "link": ("from converters.api import tf1_to_tf2", "tf1_to_tf2(SRC, DST, link=True)"),
    "recipe": (  # tensorflow.org/guide/migrate/migrating_checkpoints: convert_tf1_to_tf2
        "import tensorflow as tf",
        "reader = tf.train.load_checkpoint(SRC)\n"
        "vars = {}\n"
        "for name in reader.get_variable_to_dtype_map():\n"
        "    vars[name] = tf.Variable(reader.get_tensor(name))\n"
        "tf.train.Checkpoint(vars=vars).save(DST)\n",
    ),
    "cp": (
        "import subprocess",
        "subprocess.run(['cp', SRC + '.data-00000-of-00001', DST + '.data'], check=True)",
    ),
}


def source() -> str:
    for path in CANDIDATES:
        if Path(f"{path}.index").exists():
            return str(path)
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_read.py"), "--runs", "1"], check=True
    )
    return str(CANDIDATES[0])


def run(name: str, src: str, out_dir: Path) -> dict[str, float]:
    imports, work = CHILD[name]
    return run_timed(name, imports, work, src, out_dir / "convert" / name, "ckpt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--skip-recipe", action="store_true")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="copy the source here and write the "
        "outputs here (e.g. /dev/shm: the same runs without a disk)",
    )
    args = parser.parse_args()
    src = source()
    out_dir = OUT
    if args.workdir:
        out_dir = args.workdir / "legacy_saver_bench"
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in Path(src).parent.glob(Path(src).name + ".*"):
            if not (out_dir / path.name).exists():
                shutil.copy(path, out_dir / path.name)
        src = str(out_dir / Path(src).name)
    subprocess.run(["cat", f"{src}.data-00000-of-00001"], stdout=subprocess.DEVNULL, check=True)
    print(f"source: {src}")
    names = ["cp", "structural", "structural-nofsync", "link"]
    names += [] if args.skip_recipe else ["recipe"]
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for _ in range(args.reps):
        for name in names:
            results[name].append(run(name, src, out_dir))
    medians, works = {}, {}
    for name in names:
        wall = statistics.median(r["wall"] for r in results[name])
        work = statistics.median(r["work"] for r in results[name])
        rss = max(r["rss_mb"] for r in results[name])
        medians[name], works[name] = wall, work
        print(
            f"{name:20s} wall {wall:6.2f} s  work {work:6.2f} s  (walls: "
            + ", ".join(f"{r['wall']:.2f}" for r in results[name])
            + f")  peak RSS {rss:7.0f} MB"
        )
    for name in ("structural", "structural-nofsync", "link"):
        line = f"{name}: {medians[name] / medians['cp']:.2f}x cp"
        if "recipe" in medians:
            line += (
                f", recipe / {name} = {medians['recipe'] / medians[name]:.1f}x "
                f"(work only: {works['recipe'] / works[name]:.1f}x)"
            )
        print(line)


if __name__ == "__main__":
    main()
