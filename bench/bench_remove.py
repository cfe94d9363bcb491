"""Benchmark: deleting a checkpoint, as retention does after every save.

``remove_checkpoint`` renames a checkpoint's files into a claimed temporary group (the
``.index`` first) and then removes them, under the directory's lock, so that a crash never
leaves an index whose data is gone. This measures what that costs against ``rm -f`` of the
same files (one process, one run, round-robin so load changes affect both alike) and against
plain unlinks in Python (what the deletion did before: the same files, the index last).

Usage::

    .venv/bin/python bench/bench_remove.py                  # 1 GiB in 4 shards, 7 rounds
    .venv/bin/python bench/bench_remove.py --mib 2048 --shards 8 --dir /some/disk --links
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from legacy_saver import BundleWriter  # noqa: E402
from legacy_saver.bundle.files import files_of, remove_checkpoint  # noqa: E402


def make(prefix: str, mib: int, shards: int) -> None:
    per = (mib << 20) // shards // 4
    with BundleWriter(prefix, num_shards=shards, fsync=False) as writer:
        for i in range(shards):
            writer.add(f"v{i}", np.full(per, i, np.float32))


def clone(src: str, dst: str) -> None:
    """Hard links (``--links``): only the names go, no blocks are freed: the metadata cost."""
    for path in files_of(src):
        os.link(path, dst + path[len(src) :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--links", action="store_true",
                        help="delete hard links (names only) instead of full copies")  # fmt: skip
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench_remove.", dir=args.dir)
    try:
        source = os.path.join(root, "source")
        make(source, args.mib, args.shards)
        times: dict[str, list[float]] = {"remove_checkpoint": [], "python unlinks": [], "rm -f": []}
        for r in range(args.rounds):
            for name in times:
                prefix = os.path.join(root, f"m-{r}-{len(times[name])}-{name[:2]}")
                if args.links:
                    clone(source, prefix)
                else:  # what retention deletes: the last name of each file, blocks freed
                    for path in files_of(source):
                        shutil.copyfile(path, prefix + path[len(source) :])
                    os.sync()
                paths = files_of(prefix)
                start = time.perf_counter()
                if name == "remove_checkpoint":
                    removed = remove_checkpoint(prefix, directory=root)
                    assert len(removed) == len(paths), (removed, paths)
                elif name == "python unlinks":
                    for path in paths:
                        os.remove(path)
                else:
                    subprocess.run(["rm", "-f", *paths], check=True)
                times[name].append(time.perf_counter() - start)
                assert not files_of(prefix), prefix
        rm = statistics.median(times["rm -f"])
        print(f"{args.mib} MiB in {args.shards} shards (+ .index), {args.rounds} rounds, "
              f"{'hard links' if args.links else 'copies'}; median wall time:")  # fmt: skip
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:18s} {median * 1000:8.2f} ms   {median / rm:5.2f}x rm -f")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
