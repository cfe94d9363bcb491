"""Retention deletes only what it can prove is a checkpoint file of that exact prefix
(issue #13.1; the rules: ``legacy_saver/bundle/files.py``, ``docs/state-file.md``).

Each case plants a state file whose entries an attacker (or bad luck) chose, beside user
files and real checkpoints elsewhere, then lets a ``max_to_keep=1`` save run retention:
every adopted entry is surplus, so anything retention would delete, it deletes. Nothing
but real checkpoint files of the listed prefixes, in the save directory itself, may go;
never the checkpoint just written nor the state file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from legacy_saver.bundle.protos import CheckpointState
from legacy_saver.bundle.state import encode_state
from tests.helpers.fake_files import FAKE_TABLE, fake_v1, fake_v2

tf = pytest.importorskip("tensorflow")

from legacy_saver.saver.ledger import Ledger  # noqa: E402
from legacy_saver.saver.retention import RetentionOptions  # noqa: E402

USER_FILES = {"train.py": b"print('hi')\n", "notes.txt": b"n", "*": b"star", "a?b": b"q",
              "[1]": b"br", "x\ny": b"newline", "model.meta": b"not ours"}  # fmt: skip


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    """``run/`` (user files, an old real checkpoint ``old-1``) and ``outside/`` (a real
    checkpoint ``victim`` and user files), plus ``run/link`` -> ``outside``."""
    run, outside = tmp_path / "run", tmp_path / "outside"
    run.mkdir()
    outside.mkdir()
    for name, data in USER_FILES.items():
        (run / name).write_bytes(data)
        (outside / name).write_bytes(data)
    fake_v2(outside / "victim")
    (outside / "victim.meta").write_bytes(b"m")
    fake_v1(outside / "victim1")
    fake_v2(run / "old-1")
    (run / "old-1.meta").write_bytes(b"m")
    os.symlink(outside, run / "link")
    return run, outside


def _plant_state(run: Path, entries: list[str]) -> None:
    state = CheckpointState(
        model_checkpoint_path=entries[-1],
        all_model_checkpoint_paths=entries,
        all_model_checkpoint_timestamps=[1000.0 + i for i in range(len(entries))],
    )
    (run / "checkpoint").write_bytes(encode_state(state))


def _save_new(run: Path, version: int, name: str = "model-5") -> str:
    """What a Saver does after writing ``name``: record it, write the state, retain."""
    prefix = str(run / name)
    if version == 2:
        fake_v2(prefix)
    else:
        fake_v1(prefix)
    Path(prefix + ".meta").write_bytes(b"new meta")
    ledger = Ledger(RetentionOptions(max_to_keep=1, keep_checkpoint_every_n_hours=None))
    ledger.record(str(run), prefix, latest_filename=None, save_relative_paths=False,
                  version=version, meta_graph_suffix="meta", fsync=False)  # fmt: skip
    return prefix


def _snapshot(*dirs: Path) -> dict[str, bytes]:
    out = {}
    for d in dirs:
        for root, _, names in os.walk(d):
            for n in names:
                p = os.path.join(root, n)
                if not os.path.islink(p):
                    out[p] = Path(p).read_bytes()
    return out


ATTACKS = {
    "star": ["*"],
    "question": ["a?b", "model-?"],
    "bracket": ["[1]", "[ot]ld-1", "exp[1]/model-1"],
    "dotdot": ["sub/../train.py", "../outside/victim", "link/../run/train.py"],
    "newline": ["x\ny", "old-1\n"],
    "user file": ["train.py", "notes.txt", "model"],
    "symlink out": ["link/victim", "link/victim1"],
    "state file itself": ["checkpoint"],
    "new prefix, aliases": ["model-5", "./model-5", "link/../run/model-5"],
    "absolute, inside": ["{run}/train.py", "{run}/link/victim"],
}


@pytest.mark.parametrize("version", [2, 1], ids=["V2", "V1"])
@pytest.mark.parametrize("attack", ATTACKS)
def test_retention_deletes_nothing_an_entry_merely_names(tmp_path, attack, version):
    run, outside = _tree(tmp_path)
    entries = [e.format(run=run) for e in ATTACKS[attack]]
    _plant_state(run, entries)
    before = _snapshot(run, outside)
    new = _save_new(run, version)
    after = _snapshot(run, outside)
    lost = sorted(set(before) - set(after))
    assert lost == [], f"{attack}: deleted {lost}"
    changed = [p for p in before if after[p] != before[p] and p != str(run / "checkpoint")]
    assert changed == [], "files changed"
    assert os.path.exists(new + ".meta") and os.path.exists(run / "checkpoint")


def test_real_old_checkpoints_still_go_and_only_their_files(tmp_path):
    run, outside = _tree(tmp_path)
    fake_v2(run / "old-2", shards=2)
    fake_v1(run / "v1old-00000-of-00002")
    fake_v1(run / "v1old-00001-of-00002")
    (run / "v1old.meta").write_bytes(b"m")
    (run / "old-2.data-00005-of-00009").write_bytes(b"not one of its shards' names? it is")
    _plant_state(run, [str(run / "old-1"), "old-2"])
    before = _snapshot(run, outside)
    _save_new(run, 2)
    lost = {os.path.basename(p) for p in set(before) - set(_snapshot(run, outside))}
    assert lost == {"old-1.index", "old-1.data-00000-of-00001", "old-1.meta", "old-2.index",
                    "old-2.data-00000-of-00002", "old-2.data-00001-of-00002",
                    "old-2.data-00005-of-00009"}  # fmt: skip
    _plant_state(run, ["v1old-?????-of-00002"])
    before = _snapshot(run, outside)
    _save_new(run, 1, "model-6")
    lost = {os.path.basename(p) for p in set(before) - set(_snapshot(run, outside))}
    assert lost == {"v1old-00000-of-00002", "v1old-00001-of-00002", "v1old.meta"}


def test_a_v1_entry_that_is_not_a_table_keeps_its_meta(tmp_path):
    run, _ = _tree(tmp_path)
    (run / "train.py.meta").write_bytes(b"user")
    _plant_state(run, ["train.py"])
    _save_new(run, 1)
    assert (run / "train.py").exists() and (run / "train.py.meta").exists()


def test_a_fifo_named_by_an_entry_neither_hangs_nor_goes(tmp_path):
    run, _ = _tree(tmp_path)
    os.mkfifo(run / "pipe")
    os.mkfifo(run / "pipe2.index")
    _plant_state(run, ["pipe", "pipe2"])
    _save_new(run, 1)
    _plant_state(run, ["pipe", "pipe2"])
    _save_new(run, 2, "model-6")
    assert (run / "pipe").exists() and (run / "pipe2.index").exists()


def test_hard_links_lose_only_the_name_in_the_run_directory(tmp_path):
    run, outside = _tree(tmp_path)
    os.link(outside / "victim.index", run / "hard-1.index")  # a real table, elsewhere too
    (run / "hard-1.data-00000-of-00001").write_bytes(b"d")
    _plant_state(run, ["hard-1"])
    _save_new(run, 2)
    assert not (run / "hard-1.index").exists()  # our name of it: a checkpoint here, retired
    assert (outside / "victim.index").read_bytes() == FAKE_TABLE  # the file itself survives


def test_an_alias_of_the_new_checkpoint_is_never_deleted(tmp_path):
    run, _ = _tree(tmp_path)
    os.symlink(run, tmp_path / "alias")
    _plant_state(run, [str(tmp_path / "alias" / "model-5")])
    new = _save_new(run, 2)
    assert os.path.exists(new + ".index") and os.path.exists(new + ".meta")
    os.link(new + ".index", run / "twin.index")  # another name, the same file
    _plant_state(run, ["twin", "model-5"])
    _save_new(run, 2, "model-5")
    assert os.path.exists(new + ".index")


def test_sibling_directory_named_like_a_pattern(tmp_path):
    """``exp[1]`` with ``write_meta_graph=False``: the old glob fallback deleted the
    sibling run's ``exp1/model-1.meta``."""
    pattern, sibling = tmp_path / "exp[1]", tmp_path / "exp1"
    pattern.mkdir()
    sibling.mkdir()
    fake_v2(sibling / "model-1")
    (sibling / "model-1.meta").write_bytes(b"m")
    fake_v2(pattern / "model-1")
    _plant_state(pattern, ["model-1"])
    before = _snapshot(sibling)
    new = str(pattern / "model-2")
    fake_v2(new)
    ledger = Ledger(RetentionOptions(max_to_keep=1, keep_checkpoint_every_n_hours=None))
    ledger.record(str(pattern), new, latest_filename=None, save_relative_paths=False,
                  version=2, meta_graph_suffix="meta", fsync=False)  # fmt: skip
    assert _snapshot(sibling) == before
    assert not (pattern / "model-1.index").exists()


def test_the_real_saver_with_a_star_entry(tmp_path):
    """End to end: the reproduction of #13.1 (entry ``*``, ``max_to_keep=2``)."""
    v1 = tf.compat.v1
    run, outside = _tree(tmp_path)
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        saver = v1.train.Saver  # noqa: F841 (stock is not used: ours below)
        from legacy_saver import Saver

        ours = Saver(max_to_keep=2)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            first = ours.save(sess, str(run / "model"), global_step=1)
            _plant_state(run, ["*", first])
            before = _snapshot(run, outside)
            second = Saver(max_to_keep=2).save(sess, str(run / "model"), global_step=2)
    lost = set(before) - set(_snapshot(run, outside))
    assert lost == set()
    assert os.path.exists(second + ".index") and os.path.exists(first + ".index")
