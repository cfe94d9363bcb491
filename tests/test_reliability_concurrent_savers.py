"""Several writers in one directory (issue #13.4): a sweep never deletes a live writer's
temporaries, and Savers sharing one state file keep each other's checkpoints listed.

The sweep deletes a write's temporaries only after taking the lock its writer held
(``legacy_saver/bundle/temps.py``), so a pid that repeats (threads of one process, another
PID namespace, another host) decides nothing. Long runs: ``RELIABILITY_SAVES=300``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from legacy_saver.bundle import state as state_module
from legacy_saver.bundle import temps
from legacy_saver.bundle.naming import claim_lock_path, temp_path
from tests.helpers.paths import ROOT

SAVES = int(os.environ.get("RELIABILITY_SAVES", "12"))

# A writer in another process (another PID namespace when run under ``unshare``): claims a
# temporary beside argv[1] named with the pid argv[2] (0: its own), writes a file under it,
# says "ready" and waits for stdin to close.
CLAIMER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[3])
    from legacy_saver.bundle import naming, temps
    fake = int(sys.argv[2])
    if fake:
        real = naming.temp_path
        naming.temp_path = lambda p, **kw: real(p, pid=fake)
        temps.temp_path = naming.temp_path
    with temps.claimed(sys.argv[1]) as temp:
        open(temp + ".data-00000-of-00001", "wb").write(b"half")
        print(os.path.basename(temp), os.getpid(), flush=True)
        sys.stdin.read()
""")


def _claimer(final: Path, fake_pid: int = 0, unshare: bool = False) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-c", CLAIMER, str(final), str(fake_pid), str(ROOT)]
    if unshare:
        cmd = ["unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--map-root-user", *cmd]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line, "the claiming writer did not start"
    return proc, line[0]


def _names(d: Path) -> set[str]:
    return set(os.listdir(d))


def test_a_claimed_temporary_of_another_process_survives_the_sweep(tmp_path):
    for fake_pid in (0, 999_999_999, os.getpid(), 1):  # its own; none here; ours; init's
        proc, group = _claimer(tmp_path / "model-1", fake_pid)
        try:
            assert temps.sweep_stale(str(tmp_path)) == []
            assert f"{group}.data-00000-of-00001" in _names(tmp_path)
        finally:
            proc.kill()  # kill -9: the kernel releases its lock
            proc.wait()
        removed = temps.sweep_stale(str(tmp_path))
        assert sorted(removed) == sorted([f"{group}.data-00000-of-00001", f"{group}.lock"])
        assert not [n for n in _names(tmp_path) if ".tmp-" in n]


def test_a_writer_in_another_pid_namespace_is_respected(tmp_path):
    probe = subprocess.run(["unshare", "--pid", "--fork", "--map-root-user", "true"],
                           capture_output=True)  # fmt: skip
    if probe.returncode != 0:
        pytest.skip("unshare --pid is not available here")
    proc, group = _claimer(tmp_path / "model-1", unshare=True)
    try:
        pid_there = int(group.rsplit("-", 2)[-2])
        assert pid_there != proc.pid  # a pid of its own namespace, meaningless here
        assert temps.sweep_stale(str(tmp_path)) == []
        assert f"{group}.data-00000-of-00001" in _names(tmp_path)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10  # the namespace's process dies after unshare
    while f"{group}.lock" not in temps.sweep_stale(str(tmp_path)):
        assert time.monotonic() < deadline, "the dead writer's claim was never swept"
        time.sleep(0.05)


def test_unclaimed_temporaries_are_never_swept(tmp_path):
    """Nothing proves their writer dead (an older version's, TensorFlow's): left alone."""
    names = [os.path.basename(temp_path(str(tmp_path / "m"), pid=p)) + ".index"
             for p in (999_999_999, os.getpid(), 1)]  # fmt: skip
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    (tmp_path / "m.index.tempstate123").write_bytes(b"x")
    assert temps.sweep_stale(str(tmp_path)) == []
    assert set(names) <= _names(tmp_path)


def test_claims_of_this_process_are_never_swept_from_another_thread(tmp_path):
    with temps.claimed(str(tmp_path / "m")) as temp:
        Path(temp + ".index").write_bytes(b"x")
        done = []
        thread = threading.Thread(target=lambda: done.append(temps.sweep_stale(str(tmp_path))))
        thread.start()
        thread.join()
        assert done == [[]] and Path(temp + ".index").exists()
        assert Path(claim_lock_path(temp)).exists()
    assert not Path(claim_lock_path(temp)).exists()  # the claim ends with the write


def test_a_planted_lock_that_is_not_a_file_is_left_alone(tmp_path):
    group = os.path.basename(temp_path(str(tmp_path / "m"), pid=999_999_999))
    os.mkfifo(tmp_path / f"{group}.lock")  # opened non-blocking: no hang
    (tmp_path / f"{group}.index").write_bytes(b"x")
    assert temps.sweep_stale(str(tmp_path)) == []
    os.remove(tmp_path / f"{group}.lock")
    os.symlink("/dev/null", tmp_path / f"{group}.lock")  # O_NOFOLLOW: refused
    assert temps.sweep_stale(str(tmp_path)) == []


def test_a_claim_whose_lock_a_sweep_took_first_is_made_again(tmp_path, monkeypatch):
    """Another process's sweep can take a claim's fresh lock file between its creation and
    our flock, and delete it; the claim is then made again under a new name, so a live
    claim always has its lock file (else a crash would leave temporaries no sweep deletes)."""
    real_flock, taken = temps.fcntl.flock, []

    def flock(fd, op):
        if not taken:  # the sweep of another process wins the race once
            path = os.readlink(f"/proc/self/fd/{fd}")
            taken.append(path)
            os.remove(path)
        return real_flock(fd, op)

    monkeypatch.setattr(temps.fcntl, "flock", flock)
    with temps.claimed(str(tmp_path / "m")) as temp:
        lock = claim_lock_path(temp)
        assert os.path.exists(lock) and lock != taken[0]
    assert os.listdir(tmp_path) == []


def test_a_state_file_write_in_progress_survives_another_threads_save(tmp_path, monkeypatch):
    """The reproduction of #13.4 made deterministic: thread A's state-file temporary
    exists while thread B sweeps the directory (B saves with its own state file)."""
    started, proceed, errors = threading.Event(), threading.Event(), []
    real = state_module.write_bytes_atomic

    def paused(path, data, *, fsync=True, temp=None):
        temp = temp or temp_path(path)
        Path(temp).write_bytes(data)  # the temporary exists, then the writer pauses
        started.set()
        proceed.wait(30)
        os.replace(temp, path)

    monkeypatch.setattr(state_module, "write_bytes_atomic", paused)

    def writer_a():
        try:
            state_module.update_checkpoint_state(
                str(tmp_path), str(tmp_path / "a-1"), latest_filename="state_a", fsync=False
            )
        except Exception as e:  # noqa: BLE001 - the test reports it
            errors.append(e)

    thread = threading.Thread(target=writer_a)
    thread.start()
    assert started.wait(30)
    monkeypatch.setattr(state_module, "write_bytes_atomic", real)
    from legacy_saver.saver import atomic

    atomic.sweep_stale(str(tmp_path))  # what thread B's Saver.save does first
    proceed.set()
    thread.join()
    assert errors == []
    assert (tmp_path / "state_a").exists()


# -- real Savers: threads and processes ----------------------------------------------------

SAVER_LOOP = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, sys.argv[4])
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    from legacy_saver import Saver
    v1 = tf.compat.v1
    directory, name, saves = sys.argv[1], sys.argv[2], int(sys.argv[3])
    latest = sys.argv[5] if sys.argv[5] != "-" else None
    barrier, writers = sys.argv[6], int(sys.argv[7])
    failures = 0
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [64])
        saver = Saver(max_to_keep=3, fsync=False)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            open(os.path.join(barrier, name), "w").close()  # all start together: a writer
            deadline = time.monotonic() + 300  # a writer that starts after the others ended
            while len(os.listdir(barrier)) < writers:  # is their restart: it adopts (and
                if time.monotonic() > deadline:  # prunes) their list
                    sys.exit("the other writers never started")
                time.sleep(0.01)
            for step in range(saves):
                try:
                    saver.save(sess, os.path.join(directory, name), global_step=step,
                               latest_filename=latest)
                except Exception as e:
                    failures += 1
                    print("FAIL", type(e).__name__, e, file=sys.stderr)
    print(failures)
""")


def _run_savers(tmp_path: Path, latest: list[str | None], saves: int) -> list[int]:
    procs = []
    barrier = tmp_path.parent / f"{tmp_path.name}-barrier"
    barrier.mkdir()
    for i, name in enumerate(latest):
        cmd = [sys.executable, "-c", SAVER_LOOP, str(tmp_path), f"p{i}", str(saves), str(ROOT),
               name or "-", str(barrier), str(len(latest))]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    try:
        return [int(p.communicate(timeout=600)[0].split()[-1]) for p in procs]
    finally:
        for p in procs:
            p.kill()


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def test_two_saver_threads_in_one_directory(tf, tmp_path):
    from legacy_saver import Saver

    v1 = tf.compat.v1
    failures: list[BaseException] = []

    def loop(name: str, latest: str) -> None:
        with tf.Graph().as_default() as g:
            v1.get_variable("w", [64])
            saver = Saver(max_to_keep=2, fsync=False)
            with v1.Session(graph=g) as sess:
                sess.run(v1.global_variables_initializer())
                for step in range(SAVES * 3):
                    try:
                        saver.save(sess, str(tmp_path / name), global_step=step,
                                   latest_filename=latest)  # fmt: skip
                    except Exception as e:  # noqa: BLE001 - counted
                        failures.append(e)

    threads = [threading.Thread(target=loop, args=(n, f"state_{n}")) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    for n in ("a", "b"):
        listed = state_module.read_state(str(tmp_path), f"state_{n}").all_model_checkpoint_paths
        assert [os.path.basename(p) for p in listed] == [
            f"{n}-{SAVES * 3 - 2}",
            f"{n}-{SAVES * 3 - 1}",
        ]
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]


@pytest.mark.slow
def test_two_saver_processes_with_their_own_state_files(tmp_path):
    assert _run_savers(tmp_path, ["state_0", "state_1"], SAVES * 2) == [0, 0]
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]


@pytest.mark.slow
def test_two_saver_processes_sharing_one_state_file_list_both(tmp_path):
    """One ``checkpoint`` file, two writers: each update is a locked read-merge-write, so
    the file lists every checkpoint that exists (TensorFlow's lists only the last writer's)."""
    assert _run_savers(tmp_path, [None, None], SAVES * 2) == [0, 0]
    stored = state_module.read_state(str(tmp_path))
    listed = {os.path.basename(p) for p in stored.all_model_checkpoint_paths}
    existing = {n[: -len(".index")] for n in os.listdir(tmp_path) if n.endswith(".index")}
    assert listed == existing
    assert {f"p0-{SAVES * 2 - 1}", f"p1-{SAVES * 2 - 1}"} <= listed  # each writer's newest


def test_two_savers_of_one_graph_in_one_thread_list_their_own_as_stock(tf, tmp_path):
    """TensorFlow's own tests (MaxToKeepTest) use helpers one after the other: a fresh one
    knows nothing of the other's checkpoints, and one told ``set_last_checkpoints`` lists
    exactly that."""
    from legacy_saver import Saver

    v1 = tf.compat.v1
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        first = Saver(max_to_keep=2)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            a = first.save(sess, str(tmp_path / "a"))
            told = Saver(saver_def=first.as_saver_def())
            told.set_last_checkpoints([str(tmp_path / "gone")])
            fresh = Saver(saver_def=first.as_saver_def())
            b = fresh.save(sess, str(tmp_path / "b"))
            assert fresh.last_checkpoints == [b]
            assert state_module.read_state(str(tmp_path)).all_model_checkpoint_paths == (b,)
            c = told.save(sess, str(tmp_path / "c"))
            assert told.last_checkpoints == [str(tmp_path / "gone"), c]
    with tf.Graph().as_default() as g2:  # another graph: "a restart" adopts what is listed
        v1.get_variable("w", [2])
        with v1.Session(graph=g2) as sess:
            sess.run(v1.global_variables_initializer())
            later = Saver(max_to_keep=5)
            d = later.save(sess, str(tmp_path / "d"))
    assert later.last_checkpoints == [c, d]
    assert os.path.exists(a + ".index")
