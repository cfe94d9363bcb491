"""What safe mode costs: ``LegacyModel.load`` of VGG-16, safe vs ``allow_unsafe=True``.

The model is tf-slim's real VGG-16 (138M float32 parameters, a 528 MB checkpoint), written
once by stock TensorFlow into ``bench/out/graph_safe/`` with random weights (``--narrow``: the
narrow VGG-16 of tests/test_graph_vgg.py, for a quick check). Each measurement runs in a
fresh child process that imports TensorFlow first (untimed), then times:

  load          ``LegacyModel.load(prefix)`` until it returns (read, prepare, import, the
                safe-mode decisions, restore), then ``close()``;
  first run     the first ``model.run(logits)`` on a batch of 1 (walk + session pruning);
  next run      the median of 5 more (the guard's walk is cached).

Rows: ``safe`` (the default) and ``unsafe`` (``allow_unsafe=True``: no scan, no guard, the
file's restore op as stock runs it), alternated; ``stock`` (``import_meta_graph`` +
``Saver.restore`` of TensorFlow itself) for scale; and ``parts``: the safe-mode work alone,
in CPU seconds (the function table, the live graph view, the canonical restore and save
proofs, and the guard's walk for the logits, first and cached), which is what safe adds to
a load and is far below the wall-time noise of a shared machine; and ``alternate``: safe and
unsafe loads alternated six times each in one warm process (no process start, no import),
as safe/unsafe ratios of the median wall and CPU times. Reported: medians over ``--reps``.
Target (issue #12): safe costs at most a few percent of the load.

Usage:
  .venv/bin/python bench/bench_graph_safe.py --reps 5
  .venv/bin/python bench/bench_graph_safe.py --narrow --reps 3     # seconds, for a check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "graph_safe"
LOGITS = "vgg_16/fc8/squeezed:0"

CHILD = r"""
import json, sys, time, warnings
import numpy as np
import tensorflow as tf
prefix, mode, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.zeros([1, size, size, 3], np.float32)
result = {}
if mode == "alternate":  # safe and unsafe loads alternated in one warm process
    from legacy_saver.graph import LegacyModel
    for unsafe in (True, False):
        LegacyModel.load(prefix, allow_unsafe=unsafe).close()
    walls = {True: [], False: []}
    cpus = {True: [], False: []}
    for i in range(6):
        for unsafe in ((True, False) if i % 2 else (False, True)):
            start, cpu = time.perf_counter(), time.process_time()
            LegacyModel.load(prefix, allow_unsafe=unsafe).close()
            walls[unsafe].append(time.perf_counter() - start)
            cpus[unsafe].append(time.process_time() - cpu)
    median = lambda values: sorted(values)[len(values) // 2]
    result = {"load": median(walls[False]) / median(walls[True]),
              "first_run": median(cpus[False]) / median(cpus[True]), "next_run": 0.0}
    print(json.dumps(result))
    sys.exit(0)
if mode == "parts":  # the safe-mode work alone, timed in CPU seconds
    from legacy_saver.graph import LegacyModel
    from legacy_saver.graph.guard import Guard, LiveGraph
    from legacy_saver.metagraph.loading import restore_step
    from legacy_saver.metagraph.saverdef import check_save
    from legacy_saver.metagraph.walk import FunctionTable
    model = LegacyModel.load(prefix, allow_unsafe=True)
    meta, saver_def = model.source.meta, model.saver.saver_def
    start = time.process_time()
    functions = FunctionTable(meta.graph_def.library)
    live = LiveGraph(model.graph, (n.name for n in meta.graph_def.node), functions)
    variables = [op.name for op in model.graph.get_operations()
                 if op.type in ("VariableV2", "VarHandleOp")]
    step, check = restore_step(live, functions, saver_def, variables)
    assert check.canonical
    save = check_save(live, functions, saver_def.save_tensor_name, saver_def.filename_tensor_name)
    assert save.canonical
    result["load"] = time.process_time() - start
    guard = Guard(live, "bench")
    start = time.process_time()
    guard.check(["vgg_16/fc8/squeezed:0"], ["input:0"], what="bench")
    result["first_run"] = time.process_time() - start
    start = time.process_time()
    for _ in range(100):
        guard.check(["vgg_16/fc8/squeezed:0"], ["input:0"], what="bench")
    result["next_run"] = (time.process_time() - start) / 100
    print(json.dumps(result))
    sys.exit(0)
if mode == "stock":
    start = time.perf_counter()
    g = tf.Graph()
    with g.as_default():
        saver = tf.compat.v1.train.import_meta_graph(prefix + ".meta")
        sess = tf.compat.v1.Session(graph=g)
        saver.restore(sess, prefix)
    result["load"] = time.perf_counter() - start
    run = lambda: sess.run("vgg_16/fc8/squeezed:0", {"input:0": x})
else:
    from legacy_saver.graph import LegacyModel
    start = time.perf_counter()
    model = LegacyModel.load(prefix, allow_unsafe=(mode == "unsafe"))
    result["load"] = time.perf_counter() - start
    run = lambda: model.run("vgg_16/fc8/squeezed:0", {"input:0": x})
start = time.perf_counter(); run(); result["first_run"] = time.perf_counter() - start
times = []
for _ in range(5):
    start = time.perf_counter(); run(); times.append(time.perf_counter() - start)
result["next_run"] = sorted(times)[2]
print(json.dumps(result))
"""


def write_model(narrow: bool) -> tuple[str, int]:
    """The VGG-16 checkpoint (+ .meta) written by stock TF, once; (prefix, input size)."""
    size = 32 if narrow else 224
    directory = OUT / ("narrow" if narrow else "full")
    prefix = directory / "vgg_16.ckpt"
    if (directory / "vgg_16.ckpt.index").exists():
        return str(prefix), size
    directory.mkdir(parents=True, exist_ok=True)
    code = r"""
import sys
import tensorflow as tf
from tf_slim.nets import vgg
narrow = sys.argv[2] == "1"
g = tf.Graph()
with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
    size = 32 if narrow else 224
    images = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3], name="input")
    if narrow:
        from tests.test_graph_vgg import _narrow_vgg_16
        _narrow_vgg_16(tf, images, 1000)
    else:
        vgg.vgg_16(images, num_classes=1000, is_training=False)
    sess.run(tf.compat.v1.global_variables_initializer())
    tf.compat.v1.train.Saver().save(sess, sys.argv[1])
"""
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-c", code, str(prefix), "1" if narrow else "0"], check=True, cwd=root
    )
    return str(prefix), size


def measure(prefix: str, mode: str, size: int) -> dict[str, float]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, prefix, mode, str(size)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm(prefix: str) -> None:
    for path in Path(prefix).parent.iterdir():
        path.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--narrow", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    prefix, size = write_model(args.narrow)
    warm(prefix)
    modes = ["safe", "unsafe", "stock", "parts", "alternate"]
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for rep in range(args.reps):
        order = modes if rep % 2 == 0 else list(reversed(modes))
        for mode in order:
            runs[mode].append(measure(prefix, mode, size))
    table = {
        mode: {k: statistics.median(r[k] for r in results) for k in results[0]}
        for mode, results in runs.items()
    }
    if args.json:
        print(json.dumps({"model": "narrow" if args.narrow else "full", "medians": table}))
        return
    print(f"VGG-16 ({'narrow' if args.narrow else 'full'}), median of {args.reps}, seconds")
    print("| mode | load | first run | next run |")
    print("|---|---|---|---|")
    for mode in modes[:4]:
        row = table[mode]
        print(f"| {mode} | {row['load']:.3f} | {row['first_run']:.3f} | {row['next_run']:.4f} |")
    safe, unsafe, stock, parts, _ = (table[m]["load"] for m in modes)
    alternate = table["alternate"]
    print(
        f"in one warm process, safe/unsafe load: {alternate['load']:.3f} wall, "
        f"{alternate['first_run']:.3f} CPU (6 loads each, alternated)"
    )
    print(f"safe/unsafe load: {safe / unsafe:.3f}; safe/stock load: {safe / stock:.3f}")
    print(
        f"parts: the safe-mode work at load is {parts * 1000:.1f} ms of CPU "
        f"({parts / unsafe:.1%} of an unsafe load); a fetch check "
        f"{table['parts']['first_run'] * 1000:.2f} ms first, "
        f"{table['parts']['next_run'] * 1e6:.1f} us cached"
    )


if __name__ == "__main__":
    main()
