"""Files on disk: retention across restarts, the state file format, relative paths,
ordering and atomicity."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver.bundle import BundleWriter, state  # noqa: E402
from legacy_saver.saver import Saver, atomic  # noqa: E402
from tests.helpers.paths import ROOT  # noqa: E402

v1 = tf.compat.v1


def saved(directory) -> list[str]:
    return sorted(n[: -len(".index")] for n in os.listdir(directory) if n.endswith(".index"))


def save_steps(directory, steps, **saver_args) -> Saver:
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        saver = Saver(**saver_args)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            for step in steps:
                saver.save(sess, str(Path(directory) / "m"), global_step=step)
    return saver


def test_new_saver_adopts_state_and_deletes_all_surplus(tmp_path):
    save_steps(tmp_path, range(5), max_to_keep=10)
    assert len(saved(tmp_path)) == 5
    saver = save_steps(tmp_path, [5], max_to_keep=2)  # "after a restart"
    assert saved(tmp_path) == ["m-4", "m-5"]
    assert [os.path.basename(p) for p in saver.last_checkpoints] == ["m-4", "m-5"]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(("m-0", "m-1", "m-2", "m-3"))]


@pytest.mark.parametrize("spelled", ["ckpts/m", "./ckpts/m", "m", "./m", "ABS"])
def test_last_checkpoints_after_a_restart_keep_the_callers_style(tmp_path, monkeypatch, spelled):
    """#18.4: adopted entries were absolute beside the new relative one."""
    monkeypatch.chdir(tmp_path)
    prefix = str(tmp_path / "ckpts" / "m") if spelled == "ABS" else spelled
    if spelled in ("m", "./m"):
        os.makedirs("ckpts")
        monkeypatch.chdir("ckpts")
    for steps in ([9, 10], [11]):  # two "processes": the second adopts the state file
        with tf.Graph().as_default() as g:
            v1.get_variable("w", [2])
            saver = Saver(max_to_keep=5)
            with v1.Session(graph=g) as sess:
                sess.run(v1.global_variables_initializer())
                for step in steps:
                    saver.save(sess, prefix, global_step=step)
    assert saver.last_checkpoints == [f"{prefix}-{s}" for s in (9, 10, 11)]
    # the state file itself still names them relative to its directory, as stock writes it
    assert state.read_state(os.path.dirname(prefix) or ".").model_checkpoint_path.endswith("m-11")


def test_stock_saver_orphans_after_restart_ours_does_not(tmp_path):
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            for saver_steps in ([0, 1, 2], [3]):  # two "processes"
                stock = v1.train.Saver(max_to_keep=2)
                for step in saver_steps:
                    stock.save(sess, str(tmp_path / "m"), global_step=step)
    assert saved(tmp_path) == ["m-1", "m-2", "m-3"]  # the trap: 3 kept with max_to_keep=2
    stock_state = state.read_state(str(tmp_path))
    assert [os.path.basename(p) for p in stock_state.all_model_checkpoint_paths] == ["m-3"]
    ours = tmp_path / "ours"
    save_steps(ours, [0, 1, 2], max_to_keep=2)
    save_steps(ours, [3], max_to_keep=2)  # a second "process"
    assert saved(ours) == ["m-2", "m-3"]


def test_state_file_has_timestamps_and_checkpoint_manager_reads_it(tmp_path):
    save_steps(tmp_path, range(3), max_to_keep=3, keep_checkpoint_every_n_hours=1.0)
    stored = state.read_state(str(tmp_path))
    assert len(stored.all_model_checkpoint_timestamps) == 3
    assert 0 < stored.last_preserved_timestamp <= stored.all_model_checkpoint_timestamps[0]
    tf_state = tf.train.get_checkpoint_state(str(tmp_path))
    assert list(tf_state.all_model_checkpoint_timestamps) == list(
        stored.all_model_checkpoint_timestamps
    )
    checkpoint = tf.train.Checkpoint(w=tf.Variable([0.0, 0.0]))
    manager = tf.train.CheckpointManager(
        checkpoint, str(tmp_path), max_to_keep=2, checkpoint_name="m"
    )
    assert [os.path.basename(p) for p in manager.checkpoints] == ["m-0", "m-1", "m-2"]
    manager.save(checkpoint_number=3)  # it manages, and deletes, what we wrote
    assert saved(tmp_path) == ["m-2", "m-3"]
    save_steps(tmp_path, [4], max_to_keep=2)  # and we continue from its file
    assert saved(tmp_path) == ["m-3", "m-4"]


def test_preserved_checkpoints_stay_listed_and_survive(tmp_path):
    now = time.time()
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        saver = Saver(max_to_keep=1, keep_checkpoint_every_n_hours=1.0)
        saver._ledger.created = now - 2 * 3600  # the Saver started 2 hours ago
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            m0 = saver.save(sess, str(tmp_path / "m"), global_step=0)
            saver.set_last_checkpoints_with_time([(m0, now - 1800)])  # saved 30 min ago
            m1 = saver.save(sess, str(tmp_path / "m"), global_step=1)  # m-0 is preserved
            saver.set_last_checkpoints_with_time([(m0, now - 1800), (m1, now - 900)])
            saver.save(sess, str(tmp_path / "m"), global_step=2)  # m-1 is not: < 1 h later
    assert saved(tmp_path) == ["m-0", "m-2"]
    stored = state.read_state(str(tmp_path))
    assert [os.path.basename(p) for p in stored.all_model_checkpoint_paths] == ["m-0", "m-2"]
    assert stored.last_preserved_timestamp == now - 1800
    save_steps(tmp_path, [3], max_to_keep=1, keep_checkpoint_every_n_hours=1.0)
    assert saved(tmp_path) == ["m-0", "m-3"]  # a restarted Saver keeps the preserved one


def test_max_to_keep_none_keeps_everything(tmp_path):
    save_steps(tmp_path, range(4), max_to_keep=None)
    assert len(saved(tmp_path)) == 4
    assert len(state.read_state(str(tmp_path)).all_model_checkpoint_paths) == 4


def test_relative_paths_survive_moving_the_directory(tmp_path):
    save_steps(tmp_path / "run", range(2), save_relative_paths=True)
    text = (tmp_path / "run" / "checkpoint").read_text()
    assert 'model_checkpoint_path: "m-1"' in text and str(tmp_path) not in text
    os.rename(tmp_path / "run", tmp_path / "moved")
    assert v1.train.latest_checkpoint(str(tmp_path / "moved")) == str(tmp_path / "moved" / "m-1")
    save_steps(tmp_path / "default", [0])
    assert str(tmp_path) in (tmp_path / "default" / "checkpoint").read_text()  # TF's default


@pytest.mark.slow
def test_retention_across_a_process_restart(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import tensorflow as tf
        from legacy_saver.saver import Saver
        v1 = tf.compat.v1
        keep, steps = int(sys.argv[1]), [int(s) for s in sys.argv[2].split(",")]
        with tf.Graph().as_default() as g:
            v1.get_variable("w", [2])
            saver = Saver(max_to_keep=keep)
            with v1.Session(graph=g) as sess:
                sess.run(v1.global_variables_initializer())
                for step in steps:
                    saver.save(sess, {str(tmp_path / "m")!r}, global_step=step)
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for keep, steps in ((5, "0,1,2,3,4"), (2, "5")):
        subprocess.run([sys.executable, "-c", script, str(keep), steps], check=True, env=env)
    assert saved(tmp_path) == ["m-4", "m-5"]


def test_ordering_meta_and_index_exist_before_state(tmp_path, monkeypatch):
    seen = []
    real = state.update_checkpoint_state

    def spy(save_dir, path, *args, **kwargs):
        seen.append(sorted(os.listdir(save_dir)))
        return real(save_dir, path, *args, **kwargs)

    monkeypatch.setattr(state, "update_checkpoint_state", spy)
    save_steps(tmp_path, [7])
    assert {"m-7.index", "m-7.meta", "m-7.data-00000-of-00001"} <= set(seen[0])
    assert not [n for n in seen[0] if ".tmp-" in n]


def test_failed_save_leaves_nothing_under_final_names_and_is_cleaned_later(tmp_path, monkeypatch):
    save_steps(tmp_path, [0])
    before = (tmp_path / "checkpoint").read_text()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(atomic, "commit", crash)
        with pytest.raises(OSError, match="disk full"):
            save_steps(tmp_path, [1])
    assert saved(tmp_path) == ["m-0"]
    assert (tmp_path / "checkpoint").read_text() == before
    stale = tmp_path / ".m-1.tmp-999999999-0123abcd.index"  # a dead writer's leftover:
    stale.write_bytes(b"x")
    (tmp_path / ".m-1.tmp-999999999-0123abcd.lock").write_bytes(b"")  # its claim, unlocked
    unclaimed = tmp_path / ".m-1.tmp-999999999-4567abcd.index"  # no claim: nothing proves
    unclaimed.write_bytes(b"x")  # its writer dead (an old version's, another host's?)
    save_steps(tmp_path, [2])
    assert not stale.exists()
    assert [n for n in os.listdir(tmp_path) if ".tmp-" in n] == [unclaimed.name]


def test_commit_renames_index_last(tmp_path):
    with atomic.claimed(str(tmp_path / "m")) as temp:
        with BundleWriter(temp, num_shards=2, fsync=False) as w:  # what SaveV2 leaves
            w.add("a", np.zeros(2, np.float32), shard=0)
            w.add("b", np.ones(2, np.float32), shard=1)
        moved = atomic.commit(temp, str(tmp_path / "m"))
    assert [os.path.basename(p) for p in moved] == [
        "m.data-00000-of-00002",
        "m.data-00001-of-00002",
        "m.index",
    ]
    assert np.array_equal(sorted(os.listdir(tmp_path)), sorted(os.path.basename(p) for p in moved))


def test_flushing_fdatasyncs_files_being_written_under_the_temp_prefix(tmp_path, monkeypatch):
    """What runs beside SaveV2 with fsync=True: every file appearing under the
    temporary prefix is fdatasynced while it is written, through renames, and
    nothing after the body ends; others in the directory are left alone."""
    synced: list[str] = []
    monkeypatch.setattr(
        os, "fdatasync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}"))
    )
    with atomic.claimed(str(tmp_path / "model.ckpt")) as temp:
        (tmp_path / "other.data").write_bytes(b"x")

        def wait_for(condition) -> None:
            deadline = time.monotonic() + 10
            while not condition() and time.monotonic() < deadline:
                time.sleep(0.01)

        with atomic.flushing(temp, interval=0.01):
            data = Path(temp + ".data-00000-of-00001.tempstate1")
            data.write_bytes(b"a" * 100)
            wait_for(lambda: synced)
            data.rename(temp + ".data-00000-of-00001")  # as SaveV2 does at its end
            wait_for(lambda: synced[-1].endswith(".data-00000-of-00001"))
        count = len(synced)
        time.sleep(0.05)
    assert synced and len(synced) == count  # synced during the body, never after
    assert {os.path.basename(p) for p in synced} <= {
        os.path.basename(temp) + ".data-00000-of-00001.tempstate1",
        os.path.basename(temp) + ".data-00000-of-00001",
    }
    assert synced[-1].endswith(".data-00000-of-00001")  # the descriptor followed the rename
