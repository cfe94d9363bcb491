"""Bit-rot sweep over the every-dtype checkpoint (the long run of
``tests/test_reliability_bitrot.py``); prints the tally RELIABILITY.md quotes.

Usage: ``.venv/bin/python -m scripts.bitrot [--seeds 3] [--data-flips all|N]``
Exit status 1 if any mutation gave a silent wrong value or a foreign exception
(the engine raises; the traceback is the bug report).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter

from tests.helpers.bitrot import run_bitrot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3, help="checkpoints with different values")
    parser.add_argument("--data-flips", default="all", help="'all' or a number of random bits")
    args = parser.parse_args(argv)
    flips = None if args.data_flips == "all" else int(args.data_flips)
    total: Counter[str] = Counter()
    start = time.perf_counter()
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as root:
            total.update(run_bitrot(root, data_flips=flips, seed=seed))
    for key, count in sorted(total.items()):
        print(f"{count:8d}  {key}")
    print(
        f"{sum(total.values()):8d}  mutations in {time.perf_counter() - start:.1f} s; "
        "0 silent wrong values, 0 foreign exceptions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
