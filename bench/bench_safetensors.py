"""Benchmark: checkpoint -> safetensors. Ours vs ``cp`` of the data shard vs the
safetensors library's ``save_file`` over the same tensors.

Source: the 2 GiB, 400-variable checkpoint written by stock TensorFlow for
``bench/bench_read.py`` and ``bench/bench_convert.py`` (the same file; written
once if absent), or ``--source PREFIX``, or ``--small`` (a 64 MiB checkpoint our
own writer makes, for checking that the benchmark runs). Each measurement runs in
a fresh child process that reports wall time (imports included) and peak RSS
(``ru_maxrss`` of itself and its children); the page cache is warmed first and
``sync`` runs before each measurement. Outputs go under ``bench/out/safetensors/``
(or ``--workdir``, where the source is copied first) and are removed.

"wall" includes the child's imports (numpy, protobuf, the converter: about a
second on a quiet machine), "work" the conversion alone.

* ``cp`` / ``cp+fsync``: the data shard copied by coreutils (then fsynced).
* ``ours`` / ``ours-nofsync``: ``to_safetensors(SRC, DST)``: kernel copies, every
  byte checked against the source's crc32c, atomic rename (with/without fsync).
* ``ours-torch``: ``layout="torch"``: every ``layer_NNN/kernel`` is a Dense kernel,
  so every tensor is transposed, in bounded blocks.
* ``library-memory``: every tensor read into memory (our reader, crc-checked), then
  ``safetensors.numpy.save_file`` — the library needs all tensors at once.
* ``library-mmap``: the same over ``np.memmap`` views of the data shard (no crc check).

Usage::

    .venv/bin/python bench/bench_safetensors.py --reps 3
    .venv/bin/python bench/bench_safetensors.py --small --reps 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "bench"))
from timed_child import run_timed  # noqa: E402

CHILD = {
    "cp": ("import subprocess",
           "subprocess.run(['cp', SRC + '.data-00000-of-00001', DST], check=True)"),
    "cp+fsync": ("import os, subprocess",
                 "subprocess.run(['cp', SRC + '.data-00000-of-00001', DST], check=True)\n"
                 "fd = os.open(DST, os.O_RDONLY); os.fsync(fd); os.close(fd)"),
    "ours": ("from converters import to_safetensors", "to_safetensors(SRC, DST)"),
    "ours-nofsync": ("from converters import to_safetensors",
                     "to_safetensors(SRC, DST, fsync=False)"),
    "ours-torch": ("from converters import to_safetensors",
                   "to_safetensors(SRC, DST, layout='torch')"),
    "library-memory": (
        "from legacy_saver import load_checkpoint; from safetensors.numpy import save_file",
        "r = load_checkpoint(SRC)\n"
        "save_file({k: r.get_tensor(k) for k in r.keys()}, DST, metadata={'format': 'tf'})",
    ),
    "library-mmap": (
        "import numpy as np; from legacy_saver import load_checkpoint\n"
        "from safetensors.numpy import save_file",
        "r = load_checkpoint(SRC); b = r.bundle\n"
        "def view(k):\n"
        "    e = b.entry(k)\n"
        "    return np.memmap(b.data_file(e.shard_id), dtype=r.dtype(k).numpy, mode='r',\n"
        "                     offset=e.offset, shape=e.shape)\n"
        "save_file({k: view(k) for k in r.keys()}, DST, metadata={'format': 'tf'})",
    ),
}  # fmt: skip


def small_source(directory: Path) -> str:
    """64 MiB in 64 float32 [256, 1024] variables, written by our own writer."""
    import numpy as np

    from legacy_saver.bundle import BundleWriter

    prefix = directory / "small" / "model.ckpt"
    if not Path(f"{prefix}.index").exists():
        rng = np.random.default_rng(0)
        with BundleWriter(str(prefix), fsync=False) as w:
            for i in range(64):
                w.add(f"layer_{i:03d}/kernel", rng.random((256, 1024), dtype=np.float32))
    return str(prefix)


def run(name: str, src: str, out_dir: Path) -> dict[str, float]:
    imports, work = CHILD[name]
    return run_timed(name, imports, work, src, out_dir / "safetensors" / name, "model.safetensors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--source", help="checkpoint prefix (one data shard)")
    parser.add_argument("--small", action="store_true", help="a 64 MiB source, to check the bench")
    parser.add_argument("--workdir", type=Path, help="copy the source here and write the outputs "
                        "here (e.g. /dev/shm: the same runs without a disk)")  # fmt: skip
    parser.add_argument("--only", nargs="*", choices=sorted(CHILD), help="run only these")
    args = parser.parse_args()
    out_dir = (args.workdir / "legacy_saver_bench") if args.workdir else OUT
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.source:
        src = args.source
    elif args.small:
        src = small_source(out_dir)
    else:
        from bench_convert import source

        src = source()
    if args.workdir:
        for path in Path(src).parent.glob(Path(src).name + ".*"):
            if not (out_dir / path.name).exists():
                shutil.copy(path, out_dir / path.name)
        src = str(out_dir / Path(src).name)
    subprocess.run(["cat", f"{src}.data-00000-of-00001"], stdout=subprocess.DEVNULL, check=True)
    print(f"source: {src} ({os.path.getsize(src + '.data-00000-of-00001') / (1 << 20):.0f} MiB)")
    print(f"load average before: {os.getloadavg()}")
    names = args.only or list(CHILD)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for _ in range(args.reps):
        for name in names:
            results[name].append(run(name, src, out_dir))
    medians, works = {}, {}
    for name in names:
        wall = statistics.median(r["wall"] for r in results[name])
        work = statistics.median(r["work"] for r in results[name])
        rss = max(r["rss_mb"] for r in results[name])
        medians[name], works[name] = wall, work
        walls = ", ".join(f"{r['wall']:.2f}" for r in results[name])
        print(f"{name:16s} wall {wall:6.2f} s  work {work:6.2f} s  (walls: {walls})  "
              f"peak RSS {rss:7.0f} MB")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")
    pairs = [("ours-nofsync", "cp"), ("ours", "cp+fsync"), ("ours", "cp"),
             ("library-memory", "ours"), ("library-mmap", "ours"),
             ("ours-torch", "ours")]  # fmt: skip
    for a, b in pairs:
        if a in medians and b in medians:
            print(f"{a} / {b} = {medians[a] / medians[b]:.2f}x wall, "
                  f"{works[a] / works[b]:.2f}x work")  # fmt: skip


if __name__ == "__main__":
    main()
