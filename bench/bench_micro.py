"""The measurements behind BENCHMARKS.md's explanations (not targets).

  write   2 GiB written in 5 MiB pieces to ``--dir``, through CPython's
          BufferedWriter and unbuffered (``BundleWriter`` writes through the
          former; an early measurement blaming it for 3-6 s did not reproduce).
  index   a 10,000-entry ``.index`` (written by ``BundleWriter``): parsing it
          (``TableReader.items``), opening it with ``BundleReader``, the restore
          shortcut ``QuickCheck.passes``, and decoding every entry (the check
          before it).
  restore 10,000 float32[16] variables, one session: the pre-restore check
          against the ``RestoreV2`` run of our Saver and of stock's.

Usage::

    .venv/bin/python bench/bench_micro.py write --dir /dev/shm
    .venv/bin/python bench/bench_micro.py index
    .venv/bin/python bench/bench_micro.py restore
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from legacy_saver.bundle import BundleWriter

VARIABLES = 10_000


def best(fn: Callable[[], object], reps: int = 5) -> float:
    """Median wall time of ``reps`` calls."""
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_write(directory: str, mib: int) -> None:
    piece = memoryview(np.random.default_rng(0).bytes(5 << 20))
    path = os.path.join(directory, "bench_micro_write")

    def write(buffering: int) -> None:
        with open(path, "wb", buffering=buffering) as f:
            for _ in range(mib // 5):
                f.write(piece)
        os.remove(path)

    for label, buffering in (("BufferedWriter.write", -1), ("unbuffered FileIO.write", 0)):
        print(f"{label:36s} {best(lambda b=buffering: write(b), 3):6.2f} s for {mib} MiB")


def _index(directory: str) -> str:
    prefix = os.path.join(directory, "model.ckpt")
    with BundleWriter(prefix, fsync=False) as writer:
        for i in range(VARIABLES):
            writer.add(f"layer_{i:05d}/w", np.full(16, i % 7, np.float32))
    return prefix


def bench_index() -> None:
    from legacy_saver.bundle import load_checkpoint
    from legacy_saver.bundle.entry import BundleEntry
    from legacy_saver.bundle.table import TableReader
    from legacy_saver.saver.checks import QuickCheck
    from legacy_saver.saver.specs import RestoreSpec

    with tempfile.TemporaryDirectory() as directory:
        prefix = _index(directory)
        data = Path(prefix + ".index").read_bytes()
        specs = [
            RestoreSpec(f"layer_{i:05d}/w", "", 1, (16,), "names:0", i) for i in range(VARIABLES)
        ]
        quick = QuickCheck(specs)
        assert quick.passes(data)
        reader = load_checkpoint(prefix)
        raw = {k: reader.bundle._entries[k] for k in reader.keys()}  # noqa: SLF001
        rows = {
            "TableReader.items (parse only)": lambda: sum(1 for _ in TableReader(data).items()),
            "load_checkpoint (open the index)": lambda: load_checkpoint(prefix),
            "QuickCheck.passes (the shortcut)": lambda: quick.passes(data),
            "BundleEntry.decode of every entry": lambda: [
                BundleEntry.decode(k, v) for k, v in raw.items()
            ],
        }
        for label, fn in rows.items():
            seconds = best(fn)
            print(f"{label:36s} {seconds * 1e3:7.1f} ms  ({seconds / VARIABLES * 1e6:.2f} µs/key)")


def bench_restore() -> None:
    import tensorflow as tf

    from legacy_saver.saver import Saver

    v1 = tf.compat.v1
    with tempfile.TemporaryDirectory() as directory, tf.Graph().as_default() as g:
        variables = [v1.get_variable(f"layer_{i:05d}/w", [16],
                                     initializer=v1.constant_initializer(i % 7))
                     for i in range(VARIABLES)]  # fmt: skip
        ours, stock = Saver(variables), v1.train.Saver(variables)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            prefix = ours.save(sess, os.path.join(directory, "model.ckpt"), write_meta_graph=False)
            ours.restore(sess, prefix)
            stock.restore(sess, prefix)  # both restore subgraphs compiled
            quick = ours._restorer.quick_check(ours._restorer.specs)  # noqa: SLF001

            def run(saver) -> None:
                sess.run(
                    saver.saver_def.restore_op_name, {saver.saver_def.filename_tensor_name: prefix}
                )

            rows = {
                "ours: QuickCheck (read + walk .index)": lambda: quick.passes(
                    Path(prefix + ".index").read_bytes()
                ),
                "ours: RestoreV2 + assigns run": lambda: run(ours),
                "stock: RestoreV2 + assigns run": lambda: run(stock),
                "ours: Saver.restore": lambda: ours.restore(sess, prefix),
                "stock: Saver.restore": lambda: stock.restore(sess, prefix),
            }
            for label, fn in rows.items():
                print(f"{label:40s} {best(fn, 9) * 1e3:7.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("write", "index", "restore"))
    parser.add_argument(
        "--dir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else ".",
        help="write: where to write (default /dev/shm)",
    )
    parser.add_argument("--mib", type=int, default=2048, help="write: MiB to write")
    args = parser.parse_args(argv)
    if args.what == "write":
        bench_write(args.dir, args.mib)
    elif args.what == "index":
        bench_index()
    else:
        bench_restore()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
