"""Planner scaling (issue 13.8) and the target dry run that builds the mismatch
message (issue 14.9).

    python -m bench.bench_planners                 # 5k, 20k, 100k variables
    python -m bench.bench_planners --sizes 1000,4000
    python -m bench.bench_planners --dry-run       # + ResNet50 target dry run (imports TF)

Prints one line per planner and size: seconds (best of 3, GC off) and the ratio
to the previous size over the ratio of sizes (1.0 = perfectly linear). Each
variable carries two Adam slots, so N variables are 3N tensors.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable

from converters.flatten import plan_identity, plan_tf2_to_tf1
from converters.structural import plan_structural
from converters.target.align import align
from tests.helpers.planner_cases import alignment_inputs, tf1_shapes, tf2_graph_and_keys


def best(run: Callable[[], object], repeats: int = 3) -> float:
    gc.collect()
    gc.disable()
    try:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)
    finally:
        gc.enable()


def makers() -> dict[str, Callable[[int], Callable[[], object]]]:
    def structural(n: int) -> Callable[[], object]:
        shapes = tf1_shapes(n)
        return lambda: plan_structural(shapes)

    def tf2_to_tf1(n: int) -> Callable[[], object]:
        graph, keys = tf2_graph_and_keys(n)
        return lambda: plan_tf2_to_tf1(graph, keys)

    def identity(n: int) -> Callable[[], object]:
        keys = list(tf1_shapes(n))
        return lambda: plan_identity(keys)

    def alignment(n: int) -> Callable[[], object]:
        sources, targets = alignment_inputs(n)
        return lambda: align(sources, targets)

    return {"structural": structural, "tf2_to_tf1": tf2_to_tf1, "identity": identity,
            "target-alignment": alignment}  # fmt: skip


def dry_run() -> None:
    """A ResNet50 target, a source whose 320 names match none: the dry run must build
    the 320-line mismatch message with shape-ranked candidates."""
    import tempfile

    import keras
    import numpy as np

    from converters.api import tf1_to_tf2
    from legacy_saver.bundle import BundleWriter
    from legacy_saver.errors import RestoreMismatchError

    model = keras.applications.ResNet50(weights=None)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        with BundleWriter(src, fsync=False) as w:
            for i, v in enumerate(model.weights):
                w.add(f"resnet_v1_50/unit_{i}/{v.path.replace('/', '_')}",
                      np.zeros(v.shape, "float32"))  # fmt: skip
        start = time.perf_counter()
        try:
            tf1_to_tf2(src, os.path.join(tmp, "dst"), target=model, dry_run=True)
        except RestoreMismatchError as exc:
            lines = str(exc).count("\n")
        seconds = time.perf_counter() - start
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"resnet50-dry-run  {len(model.weights)} targets  {seconds:.2f} s  "
          f"{lines} message lines  peak RSS {rss:.0f} MB (process)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="5000,20000,100000")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f}")
    for name, make in makers().items():
        previous: tuple[int, float] | None = None
        for n in sizes:
            seconds = best(make(n))
            growth = ""
            if previous is not None:
                growth = f"  x{seconds / previous[1] / (n / previous[0]):.2f} of linear"
            print(f"{name:17s} {n:7d} vars  {seconds:8.3f} s{growth}")
            previous = (n, seconds)
    if args.dry_run:
        dry_run()


if __name__ == "__main__":
    main()
