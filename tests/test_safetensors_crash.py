"""to_safetensors under a crash at every file operation, and two writers at once:
whatever a loader finds under the final names is a whole export, the old one or
the new one, never a mixture; a crash leaves only hidden temporaries."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

from converters.safetensors import files as files_module
from converters.safetensors import to_safetensors
from legacy_saver.bundle import BundleWriter
from legacy_saver.bundle import fileio as fileio_module
from legacy_saver.bundle.naming import is_temp
from tests.helpers.crash import check_durability_order, replay_every_crash

safetensors = pytest.importorskip("safetensors")


def _source(directory: str, fill: float) -> str:
    prefix = os.path.join(directory, "src", f"m{fill}.ckpt")
    with BundleWriter(prefix, fsync=False) as w:
        for i in range(4):
            w.add(f"w{i}", np.full((8,), fill + i, np.float32))
    return prefix


def _read(directory: str) -> dict[str, bytes] | None:
    """What a loader sees: the index's shards, else the single file, else None."""
    index = os.path.join(directory, "model.safetensors.index.json")
    single = os.path.join(directory, "model.safetensors")
    if os.path.exists(index):
        with open(index) as f:
            names = set(json.load(f)["weight_map"].values())
        paths = sorted(os.path.join(directory, n) for n in names)
    elif os.path.exists(single):
        paths = [single]
    else:
        return None
    out: dict[str, bytes] = {}
    for path in paths:
        with open(path, "rb") as f:
            out.update({k: bytes(v["data"]) for k, v in safetensors.deserialize(f.read())})
    return out


def _version(fill: float) -> dict[str, bytes]:
    return {f"w{i}": np.full((8,), fill + i, np.float32).tobytes() for i in range(4)}


@pytest.mark.parametrize("sharded", [False, True])
@pytest.mark.parametrize("earlier", [False, True])
def test_crash_at_every_operation(tmp_path, sharded, earlier):
    shard_bytes = 64 if sharded else None

    def setup(d: str) -> None:
        _source(d, 1.0)
        if earlier:  # an earlier export, sharded the other way
            to_safetensors(_source(d, 100.0), os.path.join(d, "out", "model.safetensors"),
                           shard_bytes=None if sharded else 64, fsync=False)  # fmt: skip

    def action(d: str) -> None:
        to_safetensors(os.path.join(d, "src", "m1.0.ckpt"),
                       os.path.join(d, "out", "model.safetensors"), shard_bytes=shard_bytes,
                       overwrite=True)  # fmt: skip

    def check(d: str, k: int, ops: list[tuple[str, str]]) -> None:
        seen = _read(os.path.join(d, "out"))
        allowed = [None, _version(1.0)] + ([_version(100.0)] if earlier else [])
        assert seen in allowed, f"crash at {k} ({ops[k] if k < len(ops) else 'end'}): {seen}"
        if k == len(ops):
            assert seen == _version(1.0)
            assert not [p for p in os.listdir(os.path.join(d, "out")) if is_temp(p)]

    ops = replay_every_crash(str(tmp_path), setup, action, check, [files_module, fileio_module])
    check_durability_order(ops, str(tmp_path / "reference" / "out"))


def test_two_writers_at_once_leave_one_whole_export(tmp_path):
    a, b = _source(str(tmp_path), 1.0), _source(str(tmp_path), 50.0)
    out = str(tmp_path / "out" / "model.safetensors")
    errors: list[BaseException] = []

    def export(src: str) -> None:
        try:
            for _ in range(5):
                to_safetensors(src, out, overwrite=True, fsync=False)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=export, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _read(str(tmp_path / "out")) in (_version(1.0), _version(50.0))
    assert sorted(os.listdir(tmp_path / "out")) == ["model.safetensors"]


KILLED_CHILD = """
import sys
from converters import to_safetensors
to_safetensors(sys.argv[1], sys.argv[2], layout=sys.argv[3], shard_bytes=4 << 20)
"""


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["tf", "torch"])
def test_kill_9_mid_export_leaves_only_hidden_temporaries(tmp_path, layout):
    import signal
    import subprocess
    import sys
    import time

    from tests.helpers.paths import ROOT

    prefix = os.path.join(tmp_path, "src", "big.ckpt")
    with BundleWriter(prefix, fsync=False) as w:
        for i in range(16):
            w.add(f"layer_{i}/kernel", np.full((1024, 1024), i, np.float32))  # 64 MiB
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-c", KILLED_CHILD, prefix, str(out_dir / "model.safetensors"), layout]
    child = subprocess.Popen(argv, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not any(is_temp(p) for p in os.listdir(out_dir)) and time.monotonic() < deadline:
        if child.poll() is not None:
            break
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL  # killed mid-export (a temporary had appeared)
    left = os.listdir(out_dir)
    finals = [p for p in left if not is_temp(p)]
    if "model.safetensors.index.json" in finals:  # it finished before the signal: whole
        assert _read(str(out_dir)) is not None
    else:  # shards renamed before the index are not an export: no index, no loader sees them
        assert all(p.endswith(".safetensors") for p in finals), left
    assert all(p.startswith(".") for p in left if is_temp(p))


def test_overwrite_failing_after_some_shards_are_renamed_restores_the_earlier_export(
    tmp_path, monkeypatch
):
    """The second shard's rename fails: the first new shard is already in place; the
    earlier export (same shard names) comes back whole and no temporary is left."""
    out = os.path.join(str(tmp_path), "out", "model.safetensors")
    to_safetensors(_source(str(tmp_path), 1.0), out, shard_bytes=64, fsync=False)
    before = _read(os.path.dirname(out))
    real, shards = os.replace, []

    def failing(a, b):
        if str(b).endswith(".safetensors"):
            shards.append(b)
            if len(shards) == 2:
                raise OSError(28, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(files_module.os, "replace", failing)
    with pytest.raises(OSError):
        to_safetensors(_source(str(tmp_path), 50.0), out, shard_bytes=64, overwrite=True,
                       fsync=False)  # fmt: skip
    monkeypatch.undo()
    assert len(shards) >= 2
    assert _read(os.path.dirname(out)) == before == _version(1.0)
    assert not [p for p in os.listdir(os.path.dirname(out)) if is_temp(p)]
