"""Benchmark: start-up. ``legacy-ckpt inspect`` and ``import legacy_saver`` against
``python -c "import tensorflow"``, CPU time (user + sys) of fresh processes, in one run.

Targets (issue #18, item 3): ``legacy-ckpt inspect testdata/tf1_mlp`` under 0.2x the CPU
time of ``import tensorflow``; ``import legacy_saver`` under 0.3 s of CPU. CPU time is
what a quiet machine's wall time approaches; on a loaded machine wall time mostly
measures the queue. The commands run round-robin (``--runs`` rounds, default 7), so a
change of load affects all of them alike; medians are reported.

The inspect command is the console script beside the running interpreter
(``legacy-ckpt``), else ``python -m converters.cli``.

Usage::

    .venv/bin/python bench/bench_inspect.py                  # testdata/tf1_mlp (+ realdata)
    .venv/bin/python bench/bench_inspect.py --path DIR_OR_PREFIX --runs 9
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
INSPECT_RATIO_TARGET = 0.2  # inspect CPU / import tensorflow CPU
IMPORT_CPU_TARGET_S = 0.3


def default_paths() -> list[str]:
    paths = [ROOT / "testdata" / "tf1_mlp", REALDATA / "t2t_transformer_test_ckpt",
             REALDATA / "tfr_bert_lite_tf2_ckpt"]  # fmt: skip
    return [str(p) for p in paths if p.exists()]


def inspect_command(path: str) -> list[str]:
    script = Path(sys.executable).with_name("legacy-ckpt")
    if script.exists():
        return [str(script), "inspect", path]
    found = shutil.which("legacy-ckpt")
    return [found, "inspect", path] if found else [sys.executable, "-m", "converters.cli",
                                                   "inspect", path]  # fmt: skip


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(command: list[str]) -> tuple[float, float]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start, cpu = time.perf_counter(), cpu_seconds()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env, cwd=ROOT)  # fmt: skip
    return time.perf_counter() - start, cpu_seconds() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", action="append", help="checkpoint to inspect (repeatable)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    paths = args.path or default_paths()
    commands = {
        'python -c "import tensorflow"': [sys.executable, "-c", "import tensorflow"],
        'python -c "import legacy_saver"': [sys.executable, "-c", "import legacy_saver"],
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import numpy, protobuf" (the floor)': [
            sys.executable,
            "-c",
            "import numpy, google.protobuf.message_factory",
        ],
    }
    for path in paths:
        commands[f"legacy-ckpt inspect {os.path.relpath(path, ROOT)}"] = inspect_command(path)
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
    load_before = os.getloadavg()[0]
    for _ in range(args.runs):
        for label, command in commands.items():
            samples[label].append(run_once(command))
    print(f"median of {args.runs} round-robin runs; 1-min load average {load_before:.1f} "
          f"before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    print("| command | wall | CPU (user+sys) | CPU / import tensorflow |")
    print("|---|---:|---:|---:|")
    medians = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in samples.items()}  # fmt: skip
    tf_cpu = medians['python -c "import tensorflow"'][1]
    for label, (wall, cpu) in medians.items():
        print(f"| `{label}` | {wall:.3f} s | {cpu:.3f} s | {cpu / tf_cpu:.3f}x |")
    inspect_labels = [k for k in medians if k.startswith("legacy-ckpt inspect")]
    if inspect_labels:
        first = inspect_labels[0]
        ratio = medians[first][1] / tf_cpu
        verdict = "met" if ratio < INSPECT_RATIO_TARGET else "MISSED"
        print(f"\n`{first}`: {ratio:.3f}x of import tensorflow's CPU "
              f"(target < {INSPECT_RATIO_TARGET}x): {verdict}")  # fmt: skip
    import_cpu = medians['python -c "import legacy_saver"'][1]
    verdict = "met" if import_cpu < IMPORT_CPU_TARGET_S else "MISSED"
    print(f"`import legacy_saver`: {import_cpu:.3f} s CPU (target < {IMPORT_CPU_TARGET_S} s): "
          f"{verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
