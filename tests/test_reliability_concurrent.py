"""Concurrent readers: a Saver saving in a loop with ``max_to_keep=2`` while
reader threads poll ``latest_checkpoint`` and load every tensor.

Every load must see a whole checkpoint (both variables hold the same step);
a checkpoint deleted between listing and loading may only surface as
``CheckpointNotFoundError`` (or the state file's own errors while it is
replaced, which the atomic rename rules out), never as corruption.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from legacy_saver import CheckpointError, CheckpointNotFoundError, load_checkpoint
from legacy_saver.state import latest_checkpoint


def _reader(d: str, stop: threading.Event, tally: dict[str, int], errors: list[str]) -> None:
    while not stop.is_set():
        try:
            prefix = latest_checkpoint(d)
            if prefix is None:
                continue
            with load_checkpoint(prefix) as r:
                a, b = r.get_tensor("a"), r.get_tensor("b")
            if not ((a == a.flat[0]).all() and (b == b[0]).all() and int(a.flat[0]) == int(b[0])):
                errors.append(f"partial read of {prefix}")
            tally["loads"] += 1
        except CheckpointNotFoundError:
            tally["not found"] += 1
        except CheckpointError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")


class _StopFile:
    """A stop flag that crosses processes: set when the file exists."""

    def __init__(self, path: str) -> None:
        self.path = path

    def is_set(self) -> bool:
        return os.path.exists(self.path)


def _process_reader(d: str, stop_path: str, queue: object) -> None:
    tally = {"loads": 0, "not found": 0}
    errors: list[str] = []
    _reader(d, _StopFile(stop_path), tally, errors)  # type: ignore[arg-type]
    queue.put((tally, errors))  # type: ignore[attr-defined]


@pytest.mark.slow
def test_readers_never_see_a_partial_checkpoint(tf, tmp_path, monkeypatch):
    from tests.helpers.crash import SaverRig

    monkeypatch.setattr(os, "fsync", lambda fd: None)  # faster loop; order is tested elsewhere
    rig = SaverRig(tf, sharded=True)
    saver = rig.new_saver()
    d = str(tmp_path)
    rig.save(saver, d, 0)
    stop = threading.Event()
    tally = {"loads": 0, "not found": 0}
    errors: list[str] = []
    threads = [threading.Thread(target=_reader, args=(d, stop, tally, errors)) for _ in range(2)]
    for t in threads:
        t.start()
    ctx = multiprocessing.get_context("spawn")  # TF-free children: no fork of a TF process
    queue = ctx.Queue()
    stop_path = str(tmp_path / "STOP")
    procs = [ctx.Process(target=_process_reader, args=(d, stop_path, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    saves = int(os.environ.get("RELIABILITY_SAVES", "60"))
    try:
        for step in range(1, saves + 1):
            rig.save(saver, d, step)
    finally:
        stop.set()
        open(stop_path, "w").close()
        for t in threads:
            t.join()
        for _ in procs:
            child_tally, child_errors = queue.get(timeout=60)
            for key in tally:
                tally[key] += child_tally[key]
            errors.extend(child_errors)
        for p in procs:
            p.join()
    print(
        f"\nRESULT concurrent (2 threads + 2 processes): {saves} saves, "
        f"{tally['loads']} whole loads, "
        f"{tally['not found']} deleted-before-load reported as not found, {len(errors)} errors"
    )
    assert not errors, errors[:5]
    assert tally["loads"] > 0


def _two_shard_checkpoint(prefix: str) -> None:
    import numpy as np

    from legacy_saver import BundleWriter

    with BundleWriter(prefix, num_shards=2, fsync=False) as w:
        w.add("a", np.ones((3, 4), np.float32), shard=0)
        w.add("b", np.ones(5, np.int64), shard=1)


def test_checkpoint_deleted_between_listing_and_loading_is_not_found(tmp_path):
    from legacy_saver.state import remove_checkpoint, update_checkpoint_state

    prefix = str(tmp_path / "model-1")
    _two_shard_checkpoint(prefix)
    update_checkpoint_state(str(tmp_path), prefix, fsync=False)
    listed = latest_checkpoint(str(tmp_path))
    remove_checkpoint(listed)  # the writer's retention sweep wins the race
    with pytest.raises(CheckpointNotFoundError, match="model-1"):
        load_checkpoint(listed)


@pytest.mark.parametrize("deleted", ["data-00001-of-00002", "index"])
def test_files_deleted_after_open_are_still_readable(tmp_path, deleted):
    """The reader reads the index whole and opens every shard when it opens (so that a
    re-save cannot make it mix generations): files deleted afterwards change nothing
    (POSIX); a shard already missing at open is "not found" at its first read, naming
    the shard, never "corrupt"."""
    prefix = str(tmp_path / "model-1")
    _two_shard_checkpoint(prefix)
    reader = load_checkpoint(prefix)
    os.remove(f"{prefix}.{deleted}")
    assert reader.get_tensor("b").tolist() == [1] * 5
    assert reader.get_tensor("a").shape == (3, 4)
    if deleted != "index":
        later = load_checkpoint(prefix)
        assert later.get_tensor("a").shape == (3, 4)
        with pytest.raises(CheckpointNotFoundError, match="data-00001-of-00002 is missing"):
            later.get_tensor("b")
