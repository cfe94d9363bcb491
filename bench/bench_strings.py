"""Benchmark: memory of string tensors in ``legacy-ckpt inspect --tensor`` and ``diff``.

Many short strings are the hard case: a Python ``bytes`` object costs ~35 bytes plus a
pointer, so holding one per string takes tens of times the stored size (issue #13.11:
57 MiB of strings took 2.5 GB). This script writes two checkpoints of one string tensor
(``--strings`` strings of 0..2x``--mean`` bytes; the second differs in every 1000th
string), then runs, each as a fresh process, ``legacy-ckpt inspect A --tensor s``,
``legacy-ckpt diff A B``, and stock TensorFlow reading the same tensor
(``tf.train.load_checkpoint(A).get_tensor("s")``) as the anchor. Peak RSS above the
same program's start-up (``legacy-ckpt inspect A``; ``import tensorflow``) is reported as a
multiple of the tensor's stored bytes (both sides' for ``diff``).

Usage::

    .venv/bin/python bench/bench_strings.py                       # 10M strings, ~3 bytes
    .venv/bin/python bench/bench_strings.py --strings 200000 --mean 8   # a quick check
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TF_READ = "import sys, tensorflow as tf; tf.train.load_checkpoint(sys.argv[1]).get_tensor('s')"


def write_pair(directory: str, count: int, mean: int) -> tuple[str, str, int]:
    from legacy_saver.bundle import BundleWriter

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 2 * mean + 1, count)
    blob = rng.integers(97, 123, int(lengths.sum()), dtype=np.uint8).tobytes()
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    values = np.empty(count, dtype=object)
    values[:] = [blob[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    prefixes = []
    for name, change in (("a", False), ("b", True)):
        if change:
            values[::1000] = b"changed"
        prefix = os.path.join(directory, name)
        with BundleWriter(prefix, fsync=False) as w:
            w.add("s", values)
        prefixes.append(prefix)
    return prefixes[0], prefixes[1], os.path.getsize(prefixes[0] + ".data-00000-of-00001")


def peak_rss(command: list[str]) -> tuple[int, float]:
    """Peak RSS (bytes) and wall time of ``command`` run alone in a child (via a wrapper
    process, so ``RUSAGE_CHILDREN`` sees only it)."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, env=None); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
               "time.perf_counter() - t)")  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True,
                         text=True, check=True, env=env, cwd=ROOT)  # fmt: skip
    kib, wall = out.stdout.split()
    return int(kib) * 1024, float(wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strings", type=int, default=10_000_000)
    parser.add_argument("--mean", type=int, default=3, help="mean string length in bytes")
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow anchor")
    args = parser.parse_args(argv)
    cli = [sys.executable, "-m", "converters.cli"]
    with tempfile.TemporaryDirectory(prefix="bench-strings-") as tmp:
        start = time.perf_counter()
        a, b, stored = write_pair(tmp, args.strings, args.mean)
        print(f"{args.strings:,} strings, mean {args.mean} bytes: {stored / 2**20:.1f} MiB "
              f"stored per checkpoint (written in {time.perf_counter() - start:.1f} s); "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        base, _ = peak_rss([*cli, "inspect", a])
        rows = [("legacy-ckpt inspect A --tensor s", [*cli, "inspect", a, "--tensor", "s"],
                 base, stored),
                ("legacy-ckpt diff A B", [*cli, "diff", a, b], base, 2 * stored)]  # fmt: skip
        if not args.no_tf:
            tf_base, _ = peak_rss([sys.executable, "-c", "import tensorflow"])
            rows.append(("TensorFlow get_tensor('s') (anchor)", [sys.executable, "-c", TF_READ, a],
                         tf_base, stored))  # fmt: skip
        print("| command | peak RSS | above start-up | x stored bytes | wall |")
        print("|---|---:|---:|---:|---:|")
        for label, command, baseline, size in rows:
            rss, wall = peak_rss(command)
            above = max(rss - baseline, 0)
            print(f"| {label} | {rss / 2**20:.0f} MiB | {above / 2**20:.0f} MiB | "
                  f"{above / size:.1f}x | {wall:.1f} s |")  # fmt: skip
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
