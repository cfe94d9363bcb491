"""Crash-safety: a crash after every file operation of a save, replayed.

``Recorder`` stands in for ``os`` (and ``open`` for writing) in the module
under test and logs every mutating file operation (create, replace/rename,
remove, fsync, directory open). A reference run gives the sequence; then for
every ``k`` a fresh directory replays the action with a crash (``Crash``, a
``BaseException``) at operation ``k``: operations ``0..k-1`` happen, nothing
after does, not even the ``except`` clean-ups (every later operation raises
too), just as if the process had been killed. After each crash the directory
must hold: the old checkpoint, intact; the new one complete or absent (its
index absent); nothing partial under a final name; then the next save must
succeed (and, for the Saver, clean the leftovers).
The full sequence also shows the durability order: each file is fsynced
before the rename that commits it, and the directory after.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
import pytest

from legacy_saver import BundleWriter, load_checkpoint
from legacy_saver.bundle import fileio as fileio_module
from legacy_saver.bundle import writer as writer_module
from legacy_saver.bundle.naming import is_temp
from tests.helpers.cases import check_outcome
from tests.helpers.crash import (
    Crash,
    Recorder,
    SaverRig,
    check_durability_order,
    check_saver_directory,
    recording,
    replay_every_crash,
    saver_modules,
)

# -- BundleWriter -----------------------------------------------------------------


def _values(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"v{i}": rng.standard_normal((i + 1, 3)).astype(np.float32) for i in range(4)}


def _write(prefix: str, values: dict[str, np.ndarray], shards: int, fsync: bool = False) -> None:
    with BundleWriter(prefix, num_shards=shards, fsync=fsync, overwrite=True) as w:
        for i, (k, v) in enumerate(values.items()):
            w.add(k, v, shard=i % shards)


def _final_files(d: str, base: str) -> list[str]:
    return sorted(n for n in os.listdir(d) if n.startswith(base + ".") and not is_temp(n))


@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("same_prefix", [False, True])
def test_bundle_writer_crash_at_every_operation(tmp_path, shards, same_prefix):
    old, new = _values(1), _values(2)
    new_base = "ckpt-1" if same_prefix else "ckpt-2"
    reference_bytes: dict[str, bytes] = {}

    def setup(d: str) -> None:
        _write(os.path.join(d, "ckpt-1"), old, shards)

    def action(d: str) -> None:
        _write(os.path.join(d, new_base), new, shards, fsync=True)

    def check(d: str, k: int, ops: list[tuple[str, str]]) -> None:
        prefix = os.path.join(d, new_base)
        if os.path.exists(prefix + ".index"):  # complete: new, or (same prefix) still the old
            candidates = [new, old] if same_prefix else [new]
            outcomes = []
            for oracle in candidates:
                try:
                    outcomes.append(check_outcome(prefix, oracle, prefix + ".index"))
                except AssertionError:
                    outcomes.append("wrong")
            assert "benign" in outcomes, f"crash {k}: checkpoint is neither old nor new"
        if not same_prefix:  # the old checkpoint is untouched
            assert check_outcome(os.path.join(d, "ckpt-1"), old, "ckpt-1.index") == "benign"
        for name in _final_files(d, new_base):  # nothing partial under a final name
            with open(os.path.join(d, name), "rb") as f:
                content = f.read()
            assert content in (reference_bytes[name], old_bytes.get(name)), f"crash {k}: {name}"
        # the next save succeeds over whatever the crash left
        _write(prefix, new, shards)
        assert check_outcome(prefix, new, prefix + ".index") == "benign"

    def capture(d: str, into: dict[str, bytes]) -> None:
        for name in _final_files(d, new_base):
            with open(os.path.join(d, name), "rb") as f:
                into[name] = f.read()

    old_bytes: dict[str, bytes] = {}  # same prefix: the old files may still be there, whole
    ref = tmp_path / "ref"
    ref.mkdir()
    setup(str(ref))
    capture(str(ref), old_bytes)
    action(str(ref))
    capture(str(ref), reference_bytes)
    ops = replay_every_crash(str(tmp_path), setup, action, check, [writer_module, fileio_module])
    check_durability_order(ops, str(tmp_path / "reference"))
    # creates, fsyncs, renames: one of each per shard plus the index, plus the directory fsync
    assert len(ops) >= 3 * (shards + 1) + 1


def test_bundle_writer_leaves_only_temp_names_after_a_crash(tmp_path):
    leftovers = []

    def check(d: str, k: int, ops: list[tuple[str, str]]) -> None:
        leftovers.extend(n for n in os.listdir(d) if is_temp(n))
        assert all(is_temp(n) or n.startswith("a.") for n in os.listdir(d))

    replay_every_crash(
        str(tmp_path),
        lambda d: None,
        lambda d: _write(os.path.join(d, "a"), _values(3), 2),
        check,
        [writer_module, fileio_module],
    )
    assert leftovers  # crashes do leave temporary files: the Saver's sweep removes them


def test_recorder_really_stops_the_cleanup(tmp_path):
    """A crash must not run ``abandon()``'s removals (a killed process cannot)."""
    with recording(Recorder(crash_at=2), [writer_module, fileio_module]), pytest.raises(Crash):
        _write(str(tmp_path / "x"), _values(4), 2)
    assert any(is_temp(n) for n in os.listdir(tmp_path))
    with pytest.raises(Exception):  # noqa: B017 - anything but success
        load_checkpoint(str(tmp_path / "x"))


# -- the graph-mode Saver: save, .meta, state file, retention sweep ------------------


@pytest.mark.slow
@pytest.mark.parametrize("sharded", [False, True])
def test_saver_crash_at_every_operation(tf, tmp_path, sharded, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # order is checked, not the disk
    rig = SaverRig(tf, sharded)
    savers: dict[str, Any] = {}
    reference: dict[str, bytes] = {}
    orphans_after_next_save: list[str] = []

    template = str(tmp_path / "template")
    rig.save(rig.new_saver(), template, 1)
    rig.save(savers.setdefault("t", rig.new_saver()), template, 1)
    rig.save(savers["t"], template, 2)

    def setup(d: str) -> None:
        os.rmdir(d)
        shutil.copytree(template, d)

    def action(d: str) -> None:
        # a restarted process adopts model-1, model-2 from the state file, saves
        # model-3 and deletes model-1 (max_to_keep=2)
        rig.save(rig.new_saver(), d, 3)

    def check(d: str, k: int, ops: list[tuple[str, str]]) -> None:
        step, _ = check_saver_directory(d)
        assert step in (2, 3), f"crash {k}: latest is step {step}"
        for name in os.listdir(d):  # nothing partial under a final name
            if name.startswith("model-3.") and name in reference:
                with open(os.path.join(d, name), "rb") as f:
                    content = f.read()
                if name.endswith(".meta"):  # each new Saver adds ops: compare sizes' sanity
                    meta = tf.compat.v1.MetaGraphDef()
                    meta.ParseFromString(content)
                    assert meta.saver_def.version == 2, f"crash {k}: {name} is partial"
                else:
                    assert content == reference[name], f"crash {k}: {name} differs"
        rig.save(rig.new_saver(), d, 4)  # a restarted process saves again
        step, orphans = check_saver_directory(d)
        assert step == 4
        temps = [n for n in os.listdir(d) if ".tmp-" in n]
        assert not temps, f"crash {k}: {temps}"
        orphans_after_next_save.extend(orphans + temps)

    ref = str(tmp_path / "ref")
    os.makedirs(ref)
    setup(ref)
    action(ref)
    for name in os.listdir(ref):
        if name.startswith("model-3."):
            with open(os.path.join(ref, name), "rb") as f:
                reference[name] = f.read()
    ops = replay_every_crash(str(tmp_path), setup, action, check, saver_modules())
    check_durability_order(ops, str(tmp_path / "reference"))
    renames = [p for op, p in ops if op == "replace"]
    state_rename = next(i for i, p in enumerate(renames) if p.endswith("/checkpoint"))
    assert any(p.endswith(".meta") for p in renames[:state_rename]), "state file before .meta"
    assert any(p.endswith(".index") for p in renames[:state_rename]), "state file before .index"
    removes = [i for i, (op, p) in enumerate(ops) if op == "remove" and "model-1" in p]
    assert removes and min(removes) > max(
        i for i, (op, p) in enumerate(ops) if op == "replace" and p.endswith("/checkpoint")
    )
    # a crash before deleting model-1 leaves it whole and unlisted; one in the middle, only
    # the deletion's claimed temporaries (swept) or data files no index names (RELIABILITY.md)
    print(
        f"\nRESULT saver sharded={sharded}: {len(ops)} operations, {len(ops) + 1} crash points, "
        f"all invariants held; unlisted leftovers after the next save: "
        f"{sorted(set(orphans_after_next_save))}"
    )


def test_state_file_temporary_left_by_a_crash_is_swept_by_the_next_save(tf, tmp_path):
    rig = SaverRig(tf, sharded=False)
    d = str(tmp_path)
    rig.save(rig.new_saver(), d, 1)
    # what a state-file write killed half-way leaves: its temporary and its claim (whose
    # lock the kernel released with the process)
    with open(os.path.join(d, ".checkpoint.tmp-999999999-0123abcd"), "wb") as f:
        f.write(b'model_checkpoint_path: "mod')
    open(os.path.join(d, ".checkpoint.tmp-999999999-0123abcd.lock"), "wb").close()
    rig.save(rig.new_saver(), d, 2)
    assert not [n for n in os.listdir(d) if ".tmp-" in n]


# -- a conversion (converters.tf1_to_tf2), copied and hard-linked -------------------


@pytest.mark.parametrize("link", [False, True])
def test_conversion_crash_at_every_operation(tmp_path, link):
    from converters import api, execute

    src = str(tmp_path / "src" / "model.ckpt-5")
    values = {
        "dense/kernel": np.arange(12, dtype=np.float32).reshape(3, 4),
        "dense/bias": np.ones(4, np.float32),
        "global_step": np.int64(5),
    }
    with BundleWriter(src, num_shards=2, fsync=False) as w:
        for i, (k, v) in enumerate(values.items()):
            w.add(k, v, shard=i % 2)

    def convert(d: str) -> None:
        api.tf1_to_tf2(src, os.path.join(d, "out"), link=link, overwrite=True)

    ref = str(tmp_path / "ref")
    os.makedirs(ref)
    convert(ref)
    with load_checkpoint(os.path.join(ref, "out")) as r:
        oracle = {k: r.get_tensor(k) for k in r.keys()}
    reference = {n: (tmp_path / "ref" / n).read_bytes() for n in os.listdir(ref)}

    def check(d: str, k: int, ops: list[tuple[str, str]]) -> None:
        dst = os.path.join(d, "out")
        assert check_outcome(src, values, "model.ckpt-5.index") == "benign", "source harmed"
        if os.path.exists(dst + ".index"):
            assert check_outcome(dst, oracle, "out.index") == "benign", f"crash {k}"
        for name in os.listdir(d):
            if name.startswith("out.") and not is_temp(name):
                with open(os.path.join(d, name), "rb") as f:
                    assert f.read() == reference[name], f"crash {k}: {name} is partial"
        convert(d)  # running the conversion again repairs everything
        assert check_outcome(dst, oracle, "out.index") == "benign"

    ops = replay_every_crash(
        str(tmp_path), lambda d: None, convert, check, [execute, writer_module, fileio_module]
    )
    assert any(op == "replace" and p.endswith("out.index") for op, p in ops)
    print(f"\nRESULT conversion link={link}: {len(ops)} operations, {len(ops) + 1} crash points")


def test_leftover_link_temp_never_writes_into_another_source(tmp_path):
    """A crashed ``link=True`` conversion of A leaves a hard link to A's shard; converting
    B to the same destination must neither fail nor write into A."""
    from converters import api

    sources = {}
    for name, fill in (("a", 1.0), ("b", 2.0)):
        prefix = str(tmp_path / name / "model.ckpt")
        values = {"dense/kernel": np.full((64,), fill, np.float32)}
        with BundleWriter(prefix, fsync=False) as w:
            w.add("dense/kernel", values["dense/kernel"])
        sources[name] = (prefix, values)
    out = str(tmp_path / "out")
    api.tf1_to_tf2(sources["a"][0], out, link=True)
    leftover = [n for n in os.listdir(tmp_path) if n.startswith("out.data-00000")][0]
    os.link(sources["a"][0] + ".data-00000-of-00001", str(tmp_path / (leftover + ".tempstatelink")))
    try:
        api.tf1_to_tf2(sources["b"][0], out, link=True, overwrite=True)
    finally:  # whatever happened to the conversion, A must be intact
        assert check_outcome(sources["a"][0], sources["a"][1], "model.ckpt.index") == "benign"
