"""The review of commit 065aba5 (tensor step read in the snapshot's run, absolute
prefixes fed to SaveV2, a private working directory for the write's thread, readers
waiting in ``restore``/``load_checkpoint``), attacked as a careless user would.

Seven of these failed on 065aba5 and pass since its follow-up: a deep working directory
(the absolute prefix past PATH_MAX), ``link/..`` through a symlink (the data went one way,
the renames and state file the other), a umask changed under a pending write, a working
directory that cannot be listed, a failed ``thread.start()`` leaving the Saver unusable,
``load_checkpoint("file://...")`` not waiting, and a tensor step read beside, not from,
the snapshot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver import latest_checkpoint, load_checkpoint  # noqa: E402
from legacy_saver.bundle import pending  # noqa: E402
from legacy_saver.saver import Saver, background  # noqa: E402
from tests.helpers.async_rig import (  # noqa: E402
    CHILD_ENV,
    Gate,
    Model,
    RefModel,
    pending_save,
    step_of,
    temporaries,
)

v1 = tf.compat.v1
ENV = CHILD_ENV


Small = RefModel  # a [0, 1, 2] float vector and global_step 7


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def run_with_timeout(fn, timeout=20.0):
    """Runs ``fn`` in a daemon thread; returns (finished, result-or-exception)."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as error:  # noqa: BLE001
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive(), box


# -- the absolute prefix fed to SaveV2 ------------------------------------------------


def _deep_cwd(tmp_path, monkeypatch, length=3900) -> str:
    """chdir into a directory whose absolute name is about ``length`` characters."""
    monkeypatch.chdir(tmp_path)
    while len(os.getcwd()) < length:
        os.mkdir("d" * 200)
        os.chdir("d" * 200)
    return os.getcwd()


def test_stock_saves_a_relative_name_under_a_deep_working_directory(tmp_path, monkeypatch):
    """The baseline for the next test: stock TF (and this package before 065aba5) save a
    short relative name from a working directory whose absolute name is near PATH_MAX."""
    _deep_cwd(tmp_path, monkeypatch)
    model = Small()
    name = "m" * 150
    path = model.save(model.saver(v1.train.Saver), name, global_step=1)
    assert path == f"{name}-1" and os.path.exists(f"{name}-1.index")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_relative_name_under_a_deep_working_directory(tmp_path, monkeypatch, mode):
    _deep_cwd(tmp_path, monkeypatch)
    model = Small()
    saver = model.saver(async_save=mode == "async")
    name = "m" * 150
    path = model.save(saver, name, global_step=1)
    saver.close()
    assert path == f"{name}-1" and latest_checkpoint(".") == os.path.join(".", f"{name}-1")
    assert (load_checkpoint(path).get_tensor("v") == [0, 1, 2]).all()


def test_dotdot_through_a_symlinked_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs("other/deep")
    os.symlink(os.path.join("other", "deep"), "link")
    stock = Small()
    got = stock.save(stock.saver(v1.train.Saver), os.path.join("link", "..", "s"), global_step=1)
    assert os.path.exists("s-1.index") and got == os.path.join("link", "..", "s-1")
    model = Small()
    path = model.save(model.saver(), os.path.join("link", "..", "m"), global_step=1)
    assert path == "m-1" and os.path.exists("m-1.index")  # TF's reading, spelled plainly
    assert not os.listdir(os.path.join("other", "deep")) and not os.path.exists("other/m-1.meta")
    assert (load_checkpoint(path).get_tensor("v") == [0, 1, 2]).all()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_relative_names_with_newline_symlinked_cwd_and_dotdot(tmp_path, monkeypatch, mode):
    """A cwd named with a newline, reached through a symlink, a ``..`` without symlinks:
    the returned path, ``last_checkpoints`` and the state file say what stock's say."""
    real = tmp_path / "we\nird"
    (real / "sub").mkdir(parents=True)
    os.symlink(real, tmp_path / "alias")
    monkeypatch.chdir(tmp_path / "alias")
    results = {}
    for kind, cls, kwargs in (("stock", v1.train.Saver, {}),
                              ("ours", Saver, {"async_save": mode == "async"})):  # fmt: skip
        model = Small()
        saver = model.saver(cls, max_to_keep=2, **kwargs)
        paths = [model.save(saver, os.path.join("sub", "..", f"{kind}"), global_step=k)
                 for k in (1, 2, 3)]  # fmt: skip
        if kind == "ours":
            saver.close()
        with open("checkpoint") as f:
            state = [
                line for line in f.read().replace(kind, "K").splitlines() if "timestamp" not in line
            ]  # ours adds TF2's timestamps
        results[kind] = (paths, list(saver.last_checkpoints), state)
    assert results["ours"][0] == [p.replace("stock", "ours") for p in results["stock"][0]]
    assert results["ours"][1] == [p.replace("stock", "ours") for p in results["stock"][1]]
    assert results["ours"][2] == results["stock"][2]
    assert not temporaries(".")
    assert sorted(os.listdir(".")).count("ours-3.index") == 1


@pytest.mark.parametrize("sharded", [False, True], ids=["one", "sharded"])
@pytest.mark.parametrize(
    "mode, version", [("sync", "V1"), ("sync", "V2"), ("async", "V2")]
)  # async_save is V2 only (UnsupportedFeatureError, tests/test_saver_async.py)
def test_sharded_and_v1_relative_saves_map_the_written_name_back(
    tmp_path, monkeypatch, version, sharded, mode
):
    """The name SaveV2/Save returns (with V1's shard pattern) maps back onto the relative
    prefix: the returned path equals stock's, relative, and restores."""
    monkeypatch.chdir(tmp_path)
    wv = getattr(v1.train.SaverDef, version)
    stock = Model(devices=2)
    with stock.graph.as_default():
        s_path = v1.train.Saver(sharded=sharded, write_version=wv).save(
            stock.sess, "s", global_step=3, write_meta_graph=False
        )
    model = Model(devices=2)
    model.set(3)
    saver = model.saver(sharded=sharded, write_version=wv, async_save=mode == "async")
    path = saver.save(model.sess, "m", global_step=3, write_meta_graph=False)
    saver.close()
    if mode == "sync":
        assert path == "m" + s_path[1:]
    else:  # async returns the prefix before the write knows its shard pattern
        assert path in ("m-3", "m" + s_path[1:])
    assert not os.path.isabs(latest_checkpoint("."))
    model.set(0)
    saver.restore(model.sess, latest_checkpoint("."))
    assert model.sess.run(model.step) == 3
    assert not temporaries(".")


def test_sync_save_of_an_absolute_path_from_a_deleted_working_directory(tmp_path, monkeypatch):
    """``os.path.abspath`` of an absolute prefix needs no getcwd: a deleted cwd does not
    matter (sync and async); a relative one fails with an OSError, not a hang or crash."""
    (tmp_path / "gone").mkdir()
    monkeypatch.chdir(tmp_path / "gone")
    os.rmdir(tmp_path / "gone")
    model = Small()
    for mode in ("sync", "async"):
        saver = model.saver(async_save=mode == "async")
        path = model.save(saver, str(tmp_path / mode), global_step=1)
        saver.close()
        assert step_v(path) == [0, 1, 2]
    saver = model.saver()
    with pytest.raises((OSError, tf.errors.OpError)):
        model.save(saver, "rel", global_step=1)


def step_v(path):
    return list(load_checkpoint(path).get_tensor("v"))


# -- the background thread's private working directory --------------------------------


def test_a_failed_thread_start_closes_the_cwd_descriptor_and_unregisters(tmp_path, monkeypatch):
    model = Model()
    saver = model.saver(async_save=True)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    saver.wait()
    before = open_fds()

    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with pytest.raises(RuntimeError, match="start new thread"):
        saver.save(model.sess, str(tmp_path / "m"), global_step=2)
    monkeypatch.undo()
    assert open_fds() == before
    assert str(tmp_path) not in pending._WAITERS
    finished, _ = run_with_timeout(lambda: latest_checkpoint(str(tmp_path)), 10)
    assert finished


def test_the_saver_works_again_after_a_failed_thread_start(tmp_path, monkeypatch):
    model = Model()
    saver = model.saver(async_save=True)

    def refuse(self):
        raise RuntimeError("can't start new thread")

    real = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", refuse)
    with pytest.raises(RuntimeError, match="start new thread"):
        saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    monkeypatch.setattr(threading.Thread, "start", real)
    model.set(2)
    path = saver.save(model.sess, str(tmp_path / "m"), global_step=2)
    saver.close()
    assert step_of(path) == 2


def test_no_descriptor_leaks_over_many_async_saves_and_failures(tmp_path, monkeypatch):
    """The cwd descriptor is closed by the thread, also when the write fails."""
    model = Model()
    saver = model.saver(async_save=True, max_to_keep=2)
    saver.save(model.sess, str(tmp_path / "m"), global_step=0)
    saver.wait()
    before = open_fds()
    for k in range(1, 6):
        saver.save(model.sess, str(tmp_path / "m"), global_step=k)
    saver.wait()
    real = Saver._write_checkpoint

    def failing(self, sess, checkpoint_file, save_op=None):
        raise OSError(5, "Input/output error", checkpoint_file)

    monkeypatch.setattr(Saver, "_write_checkpoint", failing)
    saver.save(model.sess, str(tmp_path / "m"), global_step=9)
    with pytest.raises(OSError):
        saver.wait()
    monkeypatch.setattr(Saver, "_write_checkpoint", real)
    time.sleep(0.1)
    assert open_fds() == before


def test_the_main_threads_working_directory_is_untouched_by_the_write(tmp_path, monkeypatch):
    """unshare(CLONE_FS) is the write thread's: the main thread's cwd, and a chdir in
    it during the write, stay the main thread's."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    saver.save(model.sess, "m", global_step=1)
    assert gate.waiting.wait(30)
    os.chdir(tmp_path / "b")
    gate.open()
    saver.wait()
    assert os.getcwd() == str(tmp_path / "b")
    assert os.path.exists(tmp_path / "a" / "m-1.index") and os.listdir(tmp_path / "b") == []


def test_umask_changed_after_save_applies_to_every_file_alike(tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    old = os.umask(0o022)
    try:
        saver.save(model.sess, str(tmp_path / "m"), global_step=1)
        assert gate.waiting.wait(30)
        os.umask(0o077)  # e.g. a library tightening it while the write is pending
        gate.open()
        saver.wait()
    finally:
        os.umask(old)
    modes = {n: oct(os.stat(tmp_path / n).st_mode & 0o777) for n in os.listdir(tmp_path)}
    assert len(set(modes.values())) == 1, modes


UNREADABLE_CWD = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import tensorflow as tf
    from legacy_saver.saver import Saver
    v1 = tf.compat.v1
    out = sys.argv[1]
    with tf.Graph().as_default() as g:
        v = v1.Variable(np.ones(3, np.float32), name="v", use_resource=False)
        sess = v1.Session(graph=g)
        sess.run(v1.global_variables_initializer())
        savers = {"sync": Saver(), "async": Saver(async_save=True)}
    os.chdir(os.path.join(out, "cwd"))  # mode 0311: enter, not list
    for name, saver in savers.items():
        try:
            saver.save(sess, os.path.join(out, name), global_step=1)
            saver.wait()
            print(name, "OK")
        except Exception as e:
            print(name, "FAIL", type(e).__name__, e)
    """
)


def test_async_save_from_an_unreadable_working_directory(tmp_path):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the child as nobody")
    import tempfile

    with tempfile.TemporaryDirectory() as out:  # pytest's tmp_path is 0700 root's
        os.chmod(out, 0o777)
        os.mkdir(os.path.join(out, "cwd"))
        os.chmod(os.path.join(out, "cwd"), 0o311)
        proc = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-c", UNREADABLE_CWD, out],
            env=ENV, cwd="/", capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert "sync OK" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "async OK" in proc.stdout, proc.stdout


# -- global_step ------------------------------------------------------------------------


def _ref_model():
    g = tf.Graph()
    with g.as_default():
        v1.Variable(np.ones(2, np.float32), name="w", use_resource=False)
        ref = v1.Variable(np.int64(5), name="global_step", use_resource=False)
        res = v1.Variable(np.int64(6), name="res_step", use_resource=True)
        sess = v1.Session(graph=g)
        sess.run(v1.global_variables_initializer())
    return g, sess, ref, res


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    "kind", ["name", "name:0", "ref_var", "ref_tensor", "resource_var", "resource_name",
             "bool", "np_int64", "np_int32", "int"],
)  # fmt: skip
def test_global_step_spellings_name_the_checkpoint_as_stock(tmp_path, mode, kind):
    g, sess, ref, res = _ref_model()
    spelled = {
        "name": "global_step", "name:0": "global_step:0", "ref_var": ref,
        "ref_tensor": ref.value(), "resource_var": res, "resource_name": "res_step",
        "bool": True, "np_int64": np.int64(12), "np_int32": np.int32(13), "int": 14,
    }[kind]  # fmt: skip
    expected = {
        "name": 5,
        "name:0": 5,
        "ref_var": 5,
        "ref_tensor": 5,
        "resource_var": 6,
        "resource_name": 6,
        "bool": 1,
        "np_int64": 12,
        "np_int32": 13,
        "int": 14,
    }[kind]
    with g.as_default():
        saver = Saver(async_save=mode == "async", pad_step_number=kind == "bool")
        path = saver.save(sess, str(tmp_path / "m"), global_step=spelled)
        saver.close()
    suffix = f"{expected:08d}" if kind == "bool" else str(expected)
    assert path == str(tmp_path / f"m-{suffix}")
    assert latest_checkpoint(str(tmp_path)) == path


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_bad_global_step_fails_before_anything_is_written(tmp_path, mode):
    g, sess, ref, res = _ref_model()
    with g.as_default():
        saver = Saver(async_save=mode == "async")
        for bad in ("no_such_op", np.float64(3.5), [1, 2]):
            with pytest.raises((KeyError, ValueError, TypeError)):
                saver.save(sess, str(tmp_path / "m"), global_step=bad)
        saver.close()
    assert os.listdir(tmp_path) == []


def test_eager_tensor_and_variable_global_steps(tmp_path):
    """Eager: a tensor, a variable, a numpy int, as stock's."""
    assert tf.executing_eagerly()
    v = tf.Variable([1.0, 2.0], name="v")
    step = tf.Variable(3, dtype=tf.int64)
    saver = Saver(var_list=[v])
    got = [saver.save(None, str(tmp_path / "m"), global_step=s)
           for s in (step, tf.constant(4), np.int64(5))]  # fmt: skip
    assert got == [str(tmp_path / f"m-{k}") for k in (3, 4, 5)]
    assert list(load_checkpoint(got[0]).get_tensor("v")) == [1.0, 2.0]


def test_tensor_step_and_values_agree_under_concurrent_training(tmp_path):
    g = tf.Graph()
    with g.as_default():
        a = v1.Variable(np.zeros(256, np.float32), name="a", use_resource=False)
        step = v1.Variable(np.int64(0), name="global_step", use_resource=False)
        train = tf.group(a.assign_add(tf.ones_like(a), use_locking=True),
                         step.assign_add(1, use_locking=True))  # fmt: skip
        sess = v1.Session(graph=g)
        sess.run(v1.global_variables_initializer())
        saver = Saver(async_save=True, max_to_keep=None)
    stop = threading.Event()

    def trainer():
        while not stop.is_set():
            sess.run(train)

    thread = threading.Thread(target=trainer)
    thread.start()
    wrong = []
    try:
        deadline = time.time() + 3
        while time.time() < deadline and not wrong:
            path = saver.save(sess, str(tmp_path / "m"), global_step=step, write_meta_graph=False)
            saver.wait()
            stored = int(load_checkpoint(path).get_tensor("global_step"))
            if stored != int(path.rsplit("-", 1)[1]):
                wrong.append((path, stored))
    finally:
        stop.set()
        thread.join()
        saver.close()
    assert not wrong, wrong


# -- readers that wait ----------------------------------------------------------------


def test_load_checkpoint_of_a_file_url_waits_for_the_write(tmp_path, monkeypatch):
    with pending_save(monkeypatch, tmp_path) as path:
        assert int(load_checkpoint("file://" + path).get_tensor("global_step")) == 8


@pytest.mark.parametrize("spelling", ["str", "pathlib", "directory", "index"])
def test_load_checkpoint_spellings_wait_for_the_write(tmp_path, monkeypatch, spelling):
    import pathlib

    with pending_save(monkeypatch, tmp_path) as path:
        arg = {"str": path, "pathlib": pathlib.Path(path), "directory": str(tmp_path),
               "index": path + ".index"}[spelling]  # fmt: skip
        finished, box = run_with_timeout(lambda: load_checkpoint(arg), 20)
        assert finished, "load_checkpoint hung"
        assert "error" not in box, box.get("error")
        assert int(box["value"].get_tensor("global_step")) == 8


@pytest.mark.parametrize("kind", ["prefix", "directory"])
def test_load_checkpoint_of_bytes_waits_and_reads(tmp_path, monkeypatch, kind):
    """A bytes path (TensorFlow takes them) is read, and waited for as a str would be; it
    used to crash with a TypeError from inside the storage layer."""
    with pending_save(monkeypatch, tmp_path) as path:
        arg = os.fsencode(path if kind == "prefix" else str(tmp_path))
        finished, box = run_with_timeout(lambda: load_checkpoint(arg), 20)
        assert finished and "error" not in box, box
        assert int(box["value"].get_tensor("global_step")) == 8


def test_load_checkpoint_of_a_remote_url_during_a_pending_write_returns(tmp_path, monkeypatch):
    """A gs:// URL while a local write is pending: no wait on it, no hang; an error that
    says why (no gcsfs / no credentials / not found)."""
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    assert gate.waiting.wait(30)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "none")
    try:
        finished, box = run_with_timeout(lambda: load_checkpoint("gs://no-such-bucket-x/m-1"), 8)
        assert finished, "load_checkpoint('gs://…') hung"
        assert "error" in box and isinstance(box["error"], Exception)
        assert not isinstance(box["error"], (SystemError, RecursionError))
    finally:
        gate.open()
        saver.close()


def test_two_async_savers_of_one_directory_restore_each_others_pending_checkpoints(
    tmp_path, monkeypatch
):
    gate = Gate(monkeypatch)
    model = Model()
    first = model.saver(async_save=True, max_to_keep=None)
    second = model.saver(async_save=True, max_to_keep=None)
    model.set(1)
    p1 = first.save(model.sess, str(tmp_path / "one"), global_step=1)
    model.set(2)
    p2 = second.save(model.sess, str(tmp_path / "two"), global_step=2)
    results = {}

    def restore(saver, path, key):
        saver.restore(model.sess, path)
        results[key] = True

    threads = [threading.Thread(target=restore, args=(first, p2, "a"), daemon=True),
               threading.Thread(target=restore, args=(second, p1, "b"), daemon=True)]  # fmt: skip
    for t in threads:
        t.start()
    time.sleep(0.3)
    gate.open()
    for t in threads:
        t.join(20)
    assert results == {"a": True, "b": True}, "deadlocked"
    first.close()
    second.close()
    assert step_of(p1) == 1 and step_of(p2) == 2


def test_readers_inside_a_checkpoint_saver_hook_listener(tmp_path):
    """A listener's after_save reads the checkpoint just saved (load_checkpoint and
    another Saver's restore) while the async write is pending: no deadlock, the values."""
    from legacy_saver.saver.hooks import AsyncCheckpointSaverHook

    model = Model()
    saver = model.saver(async_save=True, max_to_keep=None)
    reader_saver = model.saver()
    seen = []

    class Listener(v1.train.CheckpointSaverListener):
        def after_save(self, session, global_step_value):
            latest = latest_checkpoint(str(tmp_path))
            seen.append((latest, int(load_checkpoint(latest).get_tensor("global_step"))))
            reader_saver.restore(session, latest)

    with model.graph.as_default():
        hook = AsyncCheckpointSaverHook(str(tmp_path), save_steps=1, saver=saver,
                                        listeners=[Listener()])  # fmt: skip
        hook.begin()
        hook.after_create_session(model.sess, None)

        def drive():
            for k in (3, 4):
                model.set(k)
                hook._save(model.sess, k)
            hook.end(model.sess)

        finished, box = run_with_timeout(drive, 30)
    assert finished, "deadlocked"
    assert "error" not in box, box.get("error")
    assert {3, 4} <= {s for _, s in seen}  # end() saves step 4 once more
    assert all(int(latest.rsplit("-", 1)[1]) == s for latest, s in seen), seen


def test_load_checkpoint_inside_the_write_thread_does_not_wait_for_itself(tmp_path, monkeypatch):
    """Code run by the background write (here: a digest hook reading the directory's
    latest and another pending saver's prefix) goes through at once."""
    from legacy_saver.saver import saver as saver_module

    model = Model()
    other = model.saver(async_save=True)
    gate_other = threading.Event()
    real_write = Saver._write_checkpoint

    def gated(self, sess, checkpoint_file, save_op=None):
        if self is other:
            assert gate_other.wait(30)
        return real_write(self, sess, checkpoint_file, save_op=save_op)

    monkeypatch.setattr(Saver, "_write_checkpoint", gated)
    saver = model.saver(async_save=True, digest=True)
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    saver.wait()
    other.save(model.sess, str(tmp_path / "o"), global_step=1)  # pending, held
    real_digest = saver_module.write_digest
    reads = []

    def digest(path, fsync=True):
        reads.append(int(load_checkpoint(str(tmp_path / "m-1")).get_tensor("global_step")))
        reads.append(latest_checkpoint(str(tmp_path)))
        return real_digest(path, fsync=fsync)

    monkeypatch.setattr(saver_module, "write_digest", digest)
    model.set(2)
    saver.save(model.sess, str(tmp_path / "m"), global_step=2)
    finished = saver.wait(timeout=15)
    gate_other.set()
    other.close()
    assert finished, "the write waited for the other saver's pending write"
    saver.close()
    assert reads[0] == 1


def test_private_cwd_is_only_taken_in_the_write_thread(tmp_path):
    """unshare(CLONE_FS) of the main thread would make later chdir()s invisible to TF's
    pool: the main thread must never call it."""
    called_in = []
    real = background._private_cwd

    def spy():
        called_in.append(threading.current_thread().name)
        return real()

    background._private_cwd = spy
    try:
        model = Model()
        saver = model.saver(async_save=True)
        saver.save(model.sess, str(tmp_path / "m"), global_step=1)
        saver.close()
    finally:
        background._private_cwd = real
    assert called_in == ["legacy-saver-async-save"]


@pytest.mark.parametrize("resource", [False, True], ids=["ref", "resource"])
def test_the_step_is_read_from_its_snapshot(tmp_path, resource):
    """A saved global step (ref or resource, given as the variable, its tensor or its
    name) names the checkpoint from its own shadow, not from the live variable: the name
    is the step the checkpoint holds by construction, whatever training does."""
    from legacy_saver.saver.naming import step_tensor

    g = tf.Graph()
    with g.as_default():
        step = v1.Variable(np.int64(7), name="global_step", use_resource=resource)
        sess = v1.Session(graph=g)
        sess.run(v1.global_variables_initializer())
        saver = Saver(async_save=True)
        snapshot = saver._background.snapshot
        for given in (step, step.name, "global_step"):
            shadow = snapshot.step_shadow(
                step_tensor(g, given) if isinstance(given, str) else given
            )
            assert shadow is not None and shadow.op.name.startswith(snapshot.scope + "/")
        bump = step.assign_add(100)
    path = saver.save(sess, str(tmp_path / "m"), global_step=step)
    sess.run(bump)  # training after save() returned: neither name nor value move
    saver.close()
    assert path == str(tmp_path / "m-7")
    assert int(load_checkpoint(path).get_tensor("global_step")) == 7
