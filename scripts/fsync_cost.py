"""Cost of durability: write a checkpoint with ``BundleWriter(fsync=True)`` and
``fsync=False`` and print the wall times (RELIABILITY.md quotes them).

Usage: ``.venv/bin/python -m scripts.fsync_cost [--mb 200] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time

import numpy as np

from legacy_saver import BundleWriter


def one(directory: str, tensors: list[np.ndarray], fsync: bool) -> float:
    start = time.perf_counter()
    with BundleWriter(f"{directory}/model.ckpt", num_shards=2, fsync=fsync) as w:
        for i, t in enumerate(tensors):
            w.add(f"v{i}", t, shard=i % 2)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    tensors = [rng.standard_normal(1 << 20, dtype=np.float32) for _ in range(args.mb // 4)]
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeat):
        for fsync in (False, True):
            d = tempfile.mkdtemp(dir=".")
            times[fsync].append(one(d, tensors, fsync))
            shutil.rmtree(d)
    off, on = min(times[False]), min(times[True])
    print(
        f"{args.mb} MB, 2 shards, best of {args.repeat}: fsync off {off:.2f} s, "
        f"on {on:.2f} s (+{on - off:.2f} s, x{on / off:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
