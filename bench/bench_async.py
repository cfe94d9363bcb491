"""Async saves: how long a training loop is blocked per save, ours async vs stock vs ours sync.

Cases:
  big:   2 GiB in 400 float32 variables;
  bert:  BERT-base's 110M parameters in its own shapes, plus Adam's two slots for every
         weight (``<w>/Adam``, ``<w>/Adam_1``): 1.3 GB in 600 variables.

A "training step" updates every variable (``assign_add``: memory-bound, as real updates
are); the loop runs ``--steps`` steps and saves every ``--every`` steps, with each saver in
turn (in the same process and graph). Reported per saver: the time ``save()`` blocked the
loop (first save, and the median of the later ones: steady state), the loop's steps/s
against the same loop without saves, and the peak RSS over the whole run (the async
snapshot's shadows are one extra copy of the variables). The async saver's last write is
waited for after the loop (``saver.wait()``), outside the timed loop but counted in the
wall time of the row.

Usage:
  .venv/bin/python bench/bench_async.py --case all
  .venv/bin/python bench/bench_async.py --case big --scale 0.05 --steps 10 --every 2   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from legacy_saver.saver import Saver

v1 = tf.compat.v1
OUT = Path(__file__).resolve().parent / "out" / "async"


def bert_shapes(layers: int = 12, hidden: int = 768, vocab: int = 30522) -> list[tuple]:
    shapes = [("embeddings/word", (vocab, hidden)), ("embeddings/position", (512, hidden)),
              ("embeddings/type", (2, hidden))]  # fmt: skip
    for i in range(layers):
        p = f"encoder/layer_{i}"
        for name in ("query", "key", "value", "output"):
            shapes += [(f"{p}/attention/{name}/kernel", (hidden, hidden)),
                       (f"{p}/attention/{name}/bias", (hidden,))]  # fmt: skip
        shapes += [(f"{p}/intermediate/kernel", (hidden, 4 * hidden)),
                   (f"{p}/intermediate/bias", (4 * hidden,)),
                   (f"{p}/output/kernel", (4 * hidden, hidden)), (f"{p}/output/bias", (hidden,)),
                   (f"{p}/ln1/gamma", (hidden,)), (f"{p}/ln2/gamma", (hidden,))]  # fmt: skip
    shapes.append(("pooler/kernel", (hidden, hidden)))
    with_adam = []
    for name, shape in shapes:
        with_adam += [(name, shape), (name + "/Adam", shape), (name + "/Adam_1", shape)]
    return with_adam


def case_shapes(case: str, scale: float) -> list[tuple]:
    if case == "big":
        size = max(1, int(1_342_177 * scale))
        return [(f"layer_{i:05d}/w", (size,)) for i in range(400)]
    shapes = bert_shapes()
    return [(n, (max(1, int(s[0] * scale)), *s[1:])) for n, s in shapes]


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_loop(sess, step_op, saver, prefix, steps: int, every: int) -> dict:
    blocked, start = [], time.perf_counter()
    for step in range(1, steps + 1):
        sess.run(step_op)
        if saver is not None and step % every == 0:
            t0 = time.perf_counter()
            saver.save(sess, prefix, global_step=step, write_meta_graph=False)
            blocked.append(time.perf_counter() - t0)
    loop = time.perf_counter() - start
    if saver is not None and hasattr(saver, "wait"):
        saver.wait()
    return {"loop_s": loop, "wall_s": time.perf_counter() - start, "blocked_s": blocked}


def run_case(case: str, scale: float, steps: int, every: int) -> dict:
    directory = OUT / case
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    rows: dict[str, dict] = {}
    with tf.Graph().as_default() as g:
        variables = [
            v1.get_variable(name, shape, initializer=v1.constant_initializer(0.5))
            for name, shape in case_shapes(case, scale)
        ]
        step_op = tf.group(*[v.assign_add(tf.ones_like(v) * 1e-3) for v in variables])
        before = peak_rss_gb()
        savers = {
            "stock": v1.train.Saver(variables, max_to_keep=2),
            "ours-sync": Saver(variables, max_to_keep=2),
            "ours-async": Saver(variables, max_to_keep=2, async_save=True),
        }
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            rows["no saves"] = run_loop(sess, step_op, None, "", steps, every)
            for label, saver in savers.items():
                os.sync()
                rows[label] = run_loop(
                    sess, step_op, saver, str(directory / label / "model.ckpt"), steps, every
                )
                rows[label]["peak_rss_gb"] = peak_rss_gb()
    nbytes = sum(4 * int(tf.TensorShape(s).num_elements()) for _, s in case_shapes(case, scale))
    shutil.rmtree(directory, ignore_errors=True)
    return {"case": case, "bytes": nbytes, "steps": steps, "every": every,
            "rss_before_savers_gb": before, "rows": rows}  # fmt: skip


def report(result: dict) -> str:
    rows = result["rows"]
    base = rows["no saves"]["loop_s"]
    stock_steady = statistics.median(rows["stock"]["blocked_s"][1:] or rows["stock"]["blocked_s"])
    lines = [
        f"### {result['case']}: {result['bytes'] / 2**30:.2f} GiB, {result['steps']} steps, "
        f"a save every {result['every']}",
        "",
        "| saver | first save blocks | steady save blocks | / stock | steps/s | lost | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        rate = result["steps"] / row["loop_s"]
        if label == "no saves":
            lines.append(f"| {label} | — | — | — | {rate:.2f} | — | — |")
            continue
        blocked = row["blocked_s"]
        steady = statistics.median(blocked[1:] or blocked)
        lost = 1 - base / row["loop_s"]
        lines.append(
            f"| {label} | {blocked[0]:.3f} s | {steady:.3f} s | {steady / stock_steady:.2f} | "
            f"{rate:.2f} | {100 * lost:.0f} % | {row['peak_rss_gb']:.2f} GB |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["big", "bert", "all"], default="all")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink every variable")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write raw timings here")
    args = parser.parse_args(argv)
    cases = ["big", "bert"] if args.case == "all" else [args.case]
    results = [run_case(c, args.scale, args.steps, args.every) for c in cases]
    for result in results:
        print(report(result), end="\n\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
