"""Closest-name suggestions (``legacy_saver.bundle.suggest``) at scale.

Builds a ``Suggester`` over N synthetic checkpoint names (``model/block_B/<layer>_L/<leaf>``,
random shapes), then times queries of three kinds: a name that lacks the outer scope
(related names), a name of nothing (fuzzy, same-shape bucket), and no shape (fuzzy over
everything). Reports build time, the median and worst query, and the baseline the module
replaced: ``difflib.get_close_matches`` over every name for one query.

Usage::

    .venv/bin/python bench/bench_suggest.py                # 100,000 names, 200 queries
    .venv/bin/python bench/bench_suggest.py --names 5000 --queries 50
"""

from __future__ import annotations

import argparse
import difflib
import random
import statistics
import time

from legacy_saver.bundle.suggest import Candidate, Suggester

LAYERS = ["dense", "conv", "bn", "attention", "mlp", "embed", "norm", "proj"]
LEAVES = [("kernel", 2), ("bias", 1), ("gamma", 1), ("beta", 1), ("moving_mean", 1)]


def pool(n: int, seed: int = 0) -> list[Candidate]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        leaf, rank = rng.choice(LEAVES)
        shape = tuple(rng.choice([64, 128, 256, 512]) for _ in range(rank))
        out.append(Candidate(f"model/block_{i // 50}/{rng.choice(LAYERS)}_{i % 50}/{leaf}", shape))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    candidates = pool(args.names)
    start = time.perf_counter()
    suggester = Suggester(candidates)
    build = time.perf_counter() - start
    rng = random.Random(1)
    kinds = {
        "scope": lambda c: (c.name.removeprefix("model/"), c.shape),
        "nothing": lambda c: (f"zz{rng.randrange(10**6)}/other", c.shape),
        "no shape": lambda c: (c.name.replace("block_", "blk").replace("/", "."), None),
    }
    print(f"{args.names} names: build {build:.2f} s")
    for kind, make in kinds.items():
        times = []
        for _ in range(args.queries):
            name, shape = make(rng.choice(candidates))
            t0 = time.perf_counter()
            suggester.suggest(name, shape, None)
            times.append(time.perf_counter() - t0)
        print(
            f"  {kind:9s} median {statistics.median(times) * 1e3:7.2f} ms, "
            f"worst {max(times) * 1e3:7.2f} ms ({args.queries} queries)"
        )
    everything = [c.name for c in candidates]
    t0 = time.perf_counter()
    difflib.get_close_matches(candidates[7].name.removeprefix("model/"), everything, n=3)
    print(f"  baseline: difflib.get_close_matches over all names, one query: "
          f"{time.perf_counter() - t0:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
