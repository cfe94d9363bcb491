"""A batch crashed at every file operation (the replay harness of RELIABILITY.md section 3):
nothing half-written under a final name, the sources untouched, and ``--resume`` ends
with exactly the bytes of an uninterrupted batch.

``run_batch(jobs=1)`` converts in this process, so every operation of the coordinator and
of the conversion (manifest, lock, plan record, data, index) is recorded and crashed at.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from converters import destination, execute, record
from converters.batch import lock, manifest, run, transfer
from converters.batch.discover import LOCK_NAME, MANIFEST_NAME
from legacy_saver.bundle import BundleWriter, fileio, publish, storage
from legacy_saver.bundle import writer as writer_module
from legacy_saver.bundle.naming import is_temp
from tests.helpers.crash import replay_every_crash

MODULES = [run, manifest, lock, transfer, execute, record, destination, writer_module, fileio,
           storage, publish]  # fmt: skip


def _tree(root: Path) -> Path:
    src = root / "src"
    rng = np.random.default_rng(13)
    with BundleWriter(str(src / "a" / "model.ckpt-1"), fsync=False) as w:
        w.add("dense/kernel", rng.standard_normal((8, 4)).astype(np.float32))
        w.add("dense/bias", rng.standard_normal(4).astype(np.float32))
    with BundleWriter(str(src / "b" / "model.ckpt-2"), num_shards=2, fsync=False) as w:
        w.add("emb/table", rng.standard_normal((16, 3)).astype(np.float64), shard=0)
        w.add("vocab", np.array([b"a", b"", b"\xff" * 40], dtype=object), shard=1)
        w.add("global_step", np.int64(2), shard=1)
    return src


def _files(root: str) -> dict[str, bytes]:
    out = {}
    for directory, _, names in os.walk(root):
        for name in names:
            if name not in (MANIFEST_NAME, LOCK_NAME):
                path = os.path.join(directory, name)
                out[os.path.relpath(path, root)] = Path(path).read_bytes()
    return out


def test_batch_crashed_at_every_operation_then_resumed_equals_uninterrupted(tmp_path):
    src = _tree(tmp_path)
    before = _files(str(src))

    def batch(d: str) -> None:
        run.run_batch(str(src), os.path.join(d, "dst"), jobs=1, progress=False)

    def check(d: str, k: int, ops: list[tuple[str, str]]) -> None:
        dst = os.path.join(d, "dst")
        assert _files(str(src)) == before, f"crash {k}: a source changed"
        reference = _files(os.path.join(tmp_path, "reference", "dst"))
        if os.path.isdir(dst):
            for name, data in _files(dst).items():
                if is_temp(os.path.basename(name)):
                    continue  # a killed writer's temporary: the next run removes or ignores it
                assert reference.get(name) == data, f"crash {k}: {name} is partial or foreign"
        batch(d)  # --resume (the default) finishes what the crash interrupted
        assert _files(dst) == reference, f"crash {k}: the resumed batch differs"

    ops = replay_every_crash(str(tmp_path), lambda d: None, batch, check, MODULES)
    assert any(op == "replace" and p.endswith(MANIFEST_NAME) for op, p in ops)
    assert any(op == "replace" and p.endswith(".index") for op, p in ops)
    print(f"\nRESULT batch: {len(ops)} operations, {len(ops) + 1} crash points")


def test_stale_temporaries_are_removed_by_exact_name_only(tmp_path):
    """Only temporaries of exactly this prefix's files go; another checkpoint's in the same
    directory (``model.best``: a longer name with the same start) stays, and so does every
    non-temporary file."""
    names = {
        ".model.tmp-12-abcdef01.data-00000-of-00001": True,
        ".model.index.tmp-12-abcdef01": True,
        "model.index.tempstate123": True,
        "model.data-00000-of-00001.tempstate9": True,
        ".model.best.index.tmp-12-abcdef01": False,
        "model.best.index.tempstate9": False,
        "model.best.data-00000-of-00001.tempstate7": False,
        "model.index": False,
        "model.data-00000-of-00001": False,
        "model*.index.tempstate1": False,
        "other.index.tempstate1": False,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = transfer.remove_stale_temps(str(tmp_path / "model"))
    assert sorted(os.path.basename(p) for p in removed) == sorted(n for n, g in names.items() if g)
    assert sorted(os.listdir(tmp_path)) == sorted(n for n, g in names.items() if not g)
