"""Benchmark: wall time of ``legacy-ckpt inspect`` vs ``python -c "import tensorflow"``.

Listing a checkpoint should cost less than importing TensorFlow does (target:
under 0.5 s). Each command runs ``--runs`` times (default 5) as a fresh
process; the median wall time is reported.

The inspect command, first available of:

1. ``.venv/bin/legacy-ckpt inspect PATH`` (the installed console script);
2. ``python -m converters.cli inspect PATH`` (the CLI module, not installed);
3. a stand-in: ``python -c`` calling ``legacy_saver.list_variables(PATH)`` and
   printing the table, used while the CLI does not exist (the output says so).

Usage::

    .venv/bin/python bench/bench_inspect.py                  # default checkpoints
    .venv/bin/python bench/bench_inspect.py --path DIR_OR_PREFIX --runs 9
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
TARGET_S = 0.5

STAND_IN = """
import sys
import legacy_saver
for name, shape in legacy_saver.list_variables(sys.argv[1]):
    print(name, shape)
"""


def default_paths() -> list[str]:
    paths = [REALDATA / "t2t_transformer_test_ckpt", REALDATA / "tfr_bert_lite_tf2_ckpt"]
    paths += sorted((ROOT / "bench" / "out").glob("read_*/model.ckpt.index"))
    return [str(p).removesuffix(".index") for p in paths if p.exists()]


def inspect_command(path: str) -> tuple[list[str], str]:
    """The command that inspects ``path`` and a label saying which one it is."""
    script = ROOT / ".venv" / "bin" / "legacy-ckpt"
    if script.exists():
        return [str(script), "inspect", path], "legacy-ckpt inspect"
    if importlib.util.find_spec("converters.cli") is not None:
        return [
            sys.executable,
            "-m",
            "converters.cli",
            "inspect",
            path,
        ], "python -m converters.cli inspect"
    label = "stand-in: legacy_saver.list_variables (converters/cli.py does not exist yet)"
    return [sys.executable, "-c", STAND_IN, path], label


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_runs(command: list[str], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + sys) of ``runs`` fresh processes."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), cpu_seconds()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", action="append", help="checkpoint to inspect (repeatable)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    paths = args.path or default_paths()
    if not paths:
        parser.error("no default checkpoint found; pass --path")
    baseline = timed_runs([sys.executable, "-c", "import tensorflow"], args.runs)
    rows = [('python -c "import tensorflow"', "-", *baseline)]
    for path in paths:
        command, label = inspect_command(path)
        rows.append((label, os.path.relpath(path, ROOT), *timed_runs(command, args.runs)))
    print(f"median of {args.runs} runs each; 1-min load average after: {os.getloadavg()[0]:.1f}")
    print("| command | checkpoint | wall | CPU (user+sys) |")
    print("|---|---|---|---|")
    for label, path, wall, cpu in rows:
        print(f"| {label} | {path} | {wall:.3f} s | {cpu:.3f} s |")
    worst = max(wall for _, _, wall, _ in rows[1:])
    verdict = "met" if worst < TARGET_S else "MISSED"
    print(f"\nslowest inspect {worst:.3f} s wall vs target {TARGET_S} s: {verdict}; "
          f"import tensorflow alone {baseline[0]:.3f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
