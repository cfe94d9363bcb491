"""Saver benchmark: ours against stock ``tf.compat.v1.train.Saver`` in the same session.

Cases (CONTEXT.md §4 / issue #3 item 9):
  big:   2 GiB in 400 float32 variables (1,342,177 floats each);
  small: 10,000 float32 variables of 16 elements.

Each repetition saves and restores with every saver in turn (order alternating), to the
same prefixes, ``write_meta_graph=False`` (the graph is the same for both; exporting it is
TensorFlow's ``as_graph_def`` either way). ``sync`` runs (untimed) before every operation:
without it, whichever operation follows a 2 GiB save pays for that save's writeback
(stock TF never fsyncs), and single restores ranged 0.7-7 s. Reported: the median wall
time per operation over repetitions 1..N-1 and ours/stock; repetition 0, where
TensorFlow prunes and compiles each new subgraph, is reported on its own. Rows:
  stock          tf.compat.v1.train.Saver
  ours           legacy_saver.Saver (temp prefix + rename, fsync of files and directory,
                 durable state file, pre-restore check of the index)
  ours-nofsync   the same with fsync=False (what stock does: no fsync)
  bundle-writer  (--alt) the design we did not take: sess.run every variable into numpy,
                 then legacy_saver.bundle.BundleWriter; save only

Usage:
  .venv/bin/python bench/bench_saver.py --case all --reps 3
  .venv/bin/python bench/bench_saver.py --case big --reps 3 --alt
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from legacy_saver.saver import Saver

v1 = tf.compat.v1
CASES = {"big": (400, 1_342_177), "small": (10_000, 16)}  # (variables, floats each)
OUT = Path(__file__).resolve().parent / "out" / "saver"


def build(count: int, size: int):
    variables = [
        v1.get_variable(f"layer_{i:05d}/w", [size], initializer=v1.constant_initializer(i % 7))
        for i in range(count)
    ]
    return variables


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bundle_writer_save(sess, variables, prefix: str) -> None:
    from legacy_saver.bundle import BundleWriter

    writer = BundleWriter(prefix)
    for variable, value in zip(variables, sess.run(variables), strict=True):
        writer.add(variable.op.name, value)
    writer.finish()


def run_case(name: str, reps: int, alt: bool) -> dict:
    count, size = CASES[name]
    directory = OUT / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    results: dict[str, dict[str, list[float]]] = {}
    with tf.Graph().as_default() as g:
        variables = build(count, size)
        savers = {
            "stock": v1.train.Saver(variables, max_to_keep=1),
            "ours": Saver(variables, max_to_keep=1),
            "ours-nofsync": Saver(variables, max_to_keep=1, fsync=False),
        }
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            for rep in range(reps):
                order = list(savers.items())
                if rep % 2:
                    order.reverse()
                for label, saver in order:
                    prefix = str(directory / label / "model.ckpt")
                    row = results.setdefault(label, {"save": [], "restore": []})
                    os.sync()  # no operation pays for the previous one's dirty pages
                    row["save"].append(
                        timed(lambda s=saver, p=prefix: s.save(sess, p, write_meta_graph=False))
                    )
                    os.sync()
                    row["restore"].append(timed(lambda s=saver, p=prefix: s.restore(sess, p)))
                if alt:
                    prefix = str(directory / "bundle" / f"model.ckpt-{rep}")
                    row = results.setdefault("bundle-writer", {"save": [], "restore": []})
                    row["save"].append(
                        timed(lambda p=prefix: bundle_writer_save(sess, variables, p))
                    )
                    shutil.rmtree(directory / "bundle", ignore_errors=True)
    shutil.rmtree(directory, ignore_errors=True)
    return {
        "case": name,
        "variables": count,
        "bytes": count * size * 4,
        "reps": reps,
        "seconds": results,
    }


def report(result: dict) -> str:
    def median(values: list[float]) -> float:
        return statistics.median(values[1:] if len(values) > 1 else values)

    stock = {op: median(v) for op, v in result["seconds"]["stock"].items()}
    gib = result["bytes"] / 2**30
    lines = [
        f"### {result['case']}: {result['variables']} variables, {gib:.3f} GiB, "
        f"median of repetitions 1..{result['reps'] - 1}",
        "",
        "| saver | save | ratio | restore | ratio | first save | first restore |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, ops in result["seconds"].items():
        cells = []
        for op in ("save", "restore"):
            if ops[op]:
                cells += [f"{median(ops[op]):.3f} s", f"{median(ops[op]) / stock[op]:.2f}"]
            else:
                cells += ["—", "—"]
        cells += [f"{ops[op][0]:.2f} s" if ops[op] else "—" for op in ("save", "restore")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--alt", action="store_true", help="also time the bundle-writer design")
    parser.add_argument("--json", type=Path, help="write raw timings here")
    args = parser.parse_args(argv)
    names = list(CASES) if args.case == "all" else [args.case]
    results = [run_case(name, args.reps, args.alt) for name in names]
    for result in results:
        print(report(result), end="\n\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    np.set_printoptions()  # keep numpy imported for the BundleWriter path
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
