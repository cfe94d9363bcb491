"""Raw-bytes fuzzer of the ``.index`` (V2) and V1 table readers.

Each input is written as ``<tmp>/ckpt.index`` beside a fixed valid data shard
and read the way a user would (open, list, shapes, dtypes, every tensor), then
written as a V1 file and read again. Allowed outcomes: success, or a
``CheckpointError``. Anything else is a crash; the input is saved. Every input
also runs under a traced-memory bound (``64 x input bytes + 4 MiB + data
shard``) and a time bound (``-timeout`` for atheris, ``SIGALRM`` in plain mode).

Engines:
* ``atheris`` (default, coverage-guided; ``pip install atheris``), seeded with
  the every-dtype index, a real snappy-compressed index and a real V1 file;
* ``--plain``: random mutations (bit flips, interesting integers, splices,
  truncations) of the same seeds, for machines without atheris.

Usage::

    .venv/bin/python -m scripts.fuzz_index --seconds 600            # atheris
    .venv/bin/python -m scripts.fuzz_index --plain --seconds 600    # no atheris
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REAL_SEEDS = [
    "serving_saved_model_half_plus_two_tf2_cpu/00000123/variables/variables.index",  # snappy
    "serving_session_bundle_v1/00000123/export",  # V1 table
]
MEMORY_FACTOR = 64
MEMORY_SLACK = 4 << 20
WORK = tempfile.mkdtemp(prefix="fuzz_index_")
PREFIX = os.path.join(WORK, "ckpt")
V1_FILE = os.path.join(WORK, "v1file")
STATS = {"inputs": 0, "accepted": 0, "refused": 0, "max_peak": 0}


def seeds() -> list[bytes]:
    from tests.helpers.cases import write_every_dtype

    out = []
    with tempfile.TemporaryDirectory() as d:
        write_every_dtype(os.path.join(d, "all"))
        out.append(Path(d, "all.index").read_bytes())
        shutil.copyfile(os.path.join(d, "all.data-00000-of-00002"), PREFIX + ".data-00000-of-00002")
        shutil.copyfile(os.path.join(d, "all.data-00001-of-00002"), PREFIX + ".data-00001-of-00002")
    import numpy as np

    np.arange(16, dtype="<f4").tofile(PREFIX + ".data-00000-of-00001")
    from tests.helpers.paths import REALDATA as realdata

    out += [(realdata / s).read_bytes() for s in REAL_SEEDS if (realdata / s).exists()]
    return out


def one_input(data: bytes) -> None:
    """The harness: read ``data`` as an index and as a V1 file."""
    from legacy_saver import CheckpointError
    from legacy_saver.bundle.v1 import V1Reader
    from tests.helpers.cases import read_everything

    STATS["inputs"] += 1
    if STATS["inputs"] % 5000 == 0:
        report()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    for path, read in (
        (PREFIX + ".index", lambda: read_everything(PREFIX)),
        (V1_FILE, lambda: _read_v1(V1Reader([V1_FILE]))),
    ):
        with open(path, "wb") as f:
            f.write(data)
        try:
            read()
            STATS["accepted"] += 1
        except CheckpointError:
            STATS["refused"] += 1
    peak = tracemalloc.get_traced_memory()[1] - base
    STATS["max_peak"] = max(STATS["max_peak"], peak)
    bound = MEMORY_FACTOR * len(data) + MEMORY_SLACK + 4096
    if peak > bound:
        raise MemoryError(f"peak {peak} B for a {len(data)} B input (bound {bound} B)")


def report() -> None:
    print(
        f"STATS {STATS['inputs']} inputs: {STATS['accepted']} reads accepted, "
        f"{STATS['refused']} refused with CheckpointError, 0 crashes, "
        f"max traced peak {STATS['max_peak']} B",
        file=sys.stderr,
        flush=True,
    )


def _read_v1(reader: object) -> None:
    for key in reader.keys():  # type: ignore[attr-defined]
        reader.get_tensor(key)  # type: ignore[attr-defined]


# -- plain engine ---------------------------------------------------------------

INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1]


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[pos % len(buf)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[pos % len(buf)] = rng.randrange(256)
        elif op == 2:
            width = rng.choice([1, 2, 4, 8])
            value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
            buf[pos : pos + width] = value.to_bytes(width, "little")
        elif op == 3:
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 4:
            other = rng.choice(pool)
            start = rng.randrange(len(other) + 1)
            buf[pos:pos] = other[start : start + rng.randint(1, 64)]
        else:
            buf = buf[: max(0, len(buf) - rng.randint(1, 64))] + buf[len(buf) - 48 :]
    return bytes(buf)


def run_plain(seconds: float, seed: int) -> None:
    import signal

    corpus = seeds()
    rng = random.Random(seed)

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError("one input took more than 10 s")

    signal.signal(signal.SIGALRM, on_alarm)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = mutate(rng.choice(corpus), rng, corpus)
        signal.alarm(10)
        try:
            one_input(data)
        except BaseException:
            Path(WORK, "crash-input").write_bytes(data)
            print(f"crash; input saved to {WORK}/crash-input", file=sys.stderr)
            raise
        finally:
            signal.alarm(0)
        if rng.random() < 0.01 and len(corpus) < 500:
            corpus.append(data)


def run_atheris(seconds: float, seed: int) -> None:
    import atheris
    import google.protobuf.message  # noqa: F401  (dependencies stay uninstrumented)
    import numpy  # noqa: F401

    for name in [m for m in sys.modules if m.startswith("legacy_saver")]:
        del sys.modules[name]  # re-import the package under instrumentation
    with atheris.instrument_imports(include=["legacy_saver"]):
        import legacy_saver.bundle  # noqa: F401
        import legacy_saver.bundle.v1  # noqa: F401
    for name in [m for m in sys.modules if m.startswith("test_reliability")]:
        del sys.modules[name]  # so the harness binds to the instrumented package
    corpus = os.path.join(WORK, "corpus")
    os.makedirs(corpus)
    for i, data in enumerate(seeds()):
        Path(corpus, f"seed{i}").write_bytes(data)
    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={int(seconds)}",
            "-timeout=10",
            "-rss_limit_mb=4096",
            f"-seed={seed}",
            "-max_len=65536",
            f"-artifact_prefix={WORK}/",
            corpus,
        ],
        one_input,
    )
    try:
        atheris.Fuzz()
    except SystemExit:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plain", action="store_true", help="random mutation, no atheris")
    args = parser.parse_args(argv)
    tracemalloc.start()
    start = time.monotonic()
    import atexit

    atexit.register(report)  # libFuzzer exits without atexit: it prints every 5000 inputs
    (run_plain if args.plain else run_atheris)(args.seconds, args.seed)
    print(f"{time.monotonic() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
