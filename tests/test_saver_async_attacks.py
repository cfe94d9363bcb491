"""``Saver(async_save=True)`` attacked as a careless user or an adversary would (#18).

Each test tries to break one promise of ``legacy_saver/saver/background.py`` in a way
``tests/test_saver_async.py`` and ``tests/test_saver_async_review.py`` do not: odd names,
a second Saver and a reader in the same process, a changed working directory, a tensor
``global_step`` read while training goes on, digest and write failures, a full disk
(``RLIMIT_FSIZE`` in a child), a closed session. (kill -9 and the crash replay of the async
path are in ``test_saver_async.py``.) Three of them failed before the fixes of round 4:
the tensor step, the other Saver's restore and the changed working directory.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver import latest_checkpoint, load_checkpoint  # noqa: E402
from legacy_saver.saver import Saver  # noqa: E402
from legacy_saver.saver import saver as saver_module  # noqa: E402
from tests.helpers.paths import ROOT  # noqa: E402

v1 = tf.compat.v1
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


class Gate:
    """Holds every background write until ``open()``; ``waiting`` is set once one is held."""

    def __init__(self, monkeypatch):
        self.event = threading.Event()
        self.waiting = threading.Event()
        real = Saver._write_checkpoint

        def gated(saver, sess, checkpoint_file, save_op=None):
            if save_op is not None:  # the background write
                self.waiting.set()
                assert self.event.wait(60), "gate never opened"
            return real(saver, sess, checkpoint_file, save_op=save_op)

        monkeypatch.setattr(Saver, "_write_checkpoint", gated)

    def open(self):
        self.event.set()


class Model:
    """A float, an int64, a string variable and the global step; ``set(k)`` fills all."""

    def __init__(self, partitioned: bool = False, devices: int = 1):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.k = v1.placeholder(tf.int64, [])
            kf = tf.cast(self.k, tf.float32)
            with tf.device("/cpu:0"):
                a = v1.get_variable("a", [3, 4], initializer=v1.zeros_initializer())
                text = v1.get_variable("text", [2], tf.string,
                                       initializer=v1.constant_initializer(""))  # fmt: skip
            with tf.device(f"/cpu:{devices - 1}"):
                b = v1.Variable(np.zeros(5, np.int64), name="b", use_resource=False)
            self.step = v1.train.get_or_create_global_step()
            self.fill = [
                a.assign(tf.fill([3, 4], kf)),
                b.assign(tf.fill([5], self.k)),
                text.assign(tf.strings.as_string(tf.fill([2], self.k))),
                self.step.assign(self.k),
            ]
            if partitioned:
                with tf.device(f"/cpu:{devices - 1}"):
                    p = v1.get_variable("p", [6, 2], partitioner=v1.fixed_size_partitioner(3))
                self.fill.append(p.assign(tf.fill([6, 2], -kf)))
            self.bump = self.step.assign_add(1)
            config = v1.ConfigProto(device_count={"CPU": devices})
            self.sess = v1.Session(graph=self.graph, config=config)
            self.sess.run(v1.global_variables_initializer())

    def saver(self, **kwargs):
        with self.graph.as_default():
            return Saver(**kwargs)

    def set(self, k: int) -> None:
        self.sess.run(self.fill, {self.k: k})


def step_of(prefix: str) -> int:
    """The one value every variable of ``prefix`` holds (asserted consistent)."""
    reader = load_checkpoint(prefix)
    b = reader.get_tensor("b")
    k = int(b[0])
    assert (b == k).all() and (reader.get_tensor("a") == k).all(), prefix
    assert int(reader.get_tensor("global_step")) == k, prefix
    assert list(reader.get_tensor("text")) == [str(k).encode()] * 2, prefix
    return k


def tree(directory) -> dict[str, bytes]:
    out = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = f.read()
    return out


def temporaries(directory) -> list[str]:
    return [n for n in os.listdir(directory) if ".tmp-" in n or "tempstate" in n]


# -- names ---------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["m*", "m[1]", "m\nx", "my model", "m?-of-x"],
                         ids=["star", "bracket", "newline", "spaces", "question"])  # fmt: skip
def test_odd_names_async_with_max_to_keep_1_equal_a_sync_save(tmp_path, base):
    """Names a glob would expand: retention deletes exactly the old checkpoint, a whole
    checkpoint the glob would match survives, and the files equal a synchronous save's."""
    spelled = base
    for odd, plain in (("*", "ZZ"), ("[1]", "1"), ("?", "A"), ("\n", "_"), (" ", "_")):
        spelled = spelled.replace(odd, plain)
    for mode in ("sync", "async"):
        d = tmp_path / mode
        model = Model()
        model.set(7)
        victim = str(d / f"{spelled}-1")
        model.saver().save(model.sess, victim, write_state=False)
        saver = model.saver(max_to_keep=1, async_save=mode == "async")
        for k in range(1, 4):
            model.set(k)
            saver.save(model.sess, str(d / base), global_step=k)
        saver.close()
        assert latest_checkpoint(str(d)) == str(d / f"{base}-3")
        assert step_of(str(d / f"{base}-3")) == 3 and step_of(victim) == 7
        assert not temporaries(d)
    sync, asynchronous = tree(tmp_path / "sync"), tree(tmp_path / "async")
    assert sorted(sync) == sorted(asynchronous)
    for name in sync:
        if name != "checkpoint":
            assert sync[name] == asynchronous[name], name
    assert sorted(n for n in sync if n.endswith(".index")) == sorted(
        [f"{base}-3.index", f"{spelled}-1.index"]
    )


# -- values and names ----------------------------------------------------------------


def test_tensor_global_step_names_the_values_it_holds(tmp_path, monkeypatch):
    """Training in another thread while a save waits for the previous write: the
    checkpoint named ``m-K`` must hold global_step K (a sync save reads both at once)."""
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(max_to_keep=5, async_save=True)
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"), global_step=model.step)  # m-1, held
    assert gate.waiting.wait(30)
    model.set(2)
    got = {}
    second = threading.Thread(target=lambda: got.update(
        path=saver.save(model.sess, str(tmp_path / "m"), global_step=model.step)))  # fmt: skip
    second.start()
    time.sleep(0.5)  # the second save has read its step (2) and waits for the first write
    assert second.is_alive()
    model.set(5)  # training goes on meanwhile
    gate.open()
    second.join(30)
    saver.close()
    path = got["path"]
    assert step_of(path) == int(path.rsplit("-", 1)[1]), path


def test_restore_of_an_older_checkpoint_while_a_write_is_pending(tmp_path, monkeypatch):
    model = Model()
    saver = model.saver(max_to_keep=5, async_save=True)
    for k in (1, 2):
        model.set(k)
        saver.save(model.sess, str(tmp_path / "m"), global_step=k)
    saver.wait()
    gate = Gate(monkeypatch)
    model.set(3)
    pending = saver.save(model.sess, str(tmp_path / "m"), global_step=3)
    model.set(9)
    threading.Timer(0.3, gate.open).start()
    saver.restore(model.sess, str(tmp_path / "m-1"))  # waits, then restores the old one
    assert model.sess.run(model.step) == 1
    assert latest_checkpoint(str(tmp_path)) == pending and step_of(pending) == 3
    saver.restore(model.sess, latest_checkpoint(str(tmp_path)))
    assert model.sess.run(model.step) == 3


def test_another_saver_restores_the_prefix_save_returned(tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    model = Model()
    writer = model.saver(async_save=True)
    reader = model.saver()  # e.g. an evaluation Saver of the same graph
    model.set(4)
    path = writer.save(model.sess, str(tmp_path / "m"), global_step=4)
    model.set(0)
    threading.Timer(0.3, gate.open).start()
    try:
        reader.restore(model.sess, path)
        assert model.sess.run(model.step) == 4
    finally:
        gate.open()
        writer.close()


def test_relative_path_then_chdir_before_the_write(tmp_path, monkeypatch):
    """The process changes its working directory while the write is pending: the
    checkpoint goes where save() was told, as a synchronous save's does."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "ckpt").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    model.set(6)
    path = saver.save(model.sess, os.path.join("ckpt", "m"), global_step=6)
    monkeypatch.chdir(tmp_path / "b")
    gate.open()
    try:
        saver.wait()
    finally:
        monkeypatch.chdir(tmp_path / "a")
    assert os.listdir(tmp_path / "b" / "ckpt") == []
    assert step_of(path) == 6 and latest_checkpoint("ckpt") == os.path.join("ckpt", "m-6")


# -- errors in the background --------------------------------------------------------


@pytest.mark.parametrize("resave", [False, True], ids=["fresh", "resave"])
def test_digest_failure_in_the_background_is_raised_and_cleans_up(tmp_path, monkeypatch, resave):
    model = Model()
    saver = model.saver(digest=True, max_to_keep=2, async_save=True)
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    if resave:
        saver.save(model.sess, str(tmp_path / "m"), global_step=2)
    saver.wait()
    before = tree(tmp_path)
    real = saver_module.write_digest

    def full(path, fsync=True):
        raise OSError(errno.ENOSPC, "No space left on device", path + ".sha256")

    monkeypatch.setattr(saver_module, "write_digest", full)
    model.set(2)
    saver.save(model.sess, str(tmp_path / "m"), global_step=2)
    with pytest.raises(OSError, match="could not save checkpoint .*m-2.*its digest.*No space") as e:
        saver.wait()
    assert e.value.errno == errno.ENOSPC
    assert ("the checkpoint it replaced stays" in str(e.value)) == resave
    assert saver.wait() is True  # raised once
    assert not temporaries(tmp_path)
    latest = latest_checkpoint(str(tmp_path))
    assert latest == str(tmp_path / ("m-2" if resave else "m-1"))
    if resave:  # the re-save replaced m-2's data and .meta: whole, but its old digest is stale
        assert step_of(latest) == 2
    else:
        assert tree(tmp_path) == before  # nothing of m-2 stays
    monkeypatch.setattr(saver_module, "write_digest", real)
    model.set(3)
    saver.save(model.sess, str(tmp_path / "m"), global_step=3)
    saver.close()
    saver.restore(model.sess, str(tmp_path / "m-3"))  # its digest verifies
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "m-3")


def test_a_failed_write_is_raised_by_restore_not_lost(tmp_path, monkeypatch):
    """The error of a background write is raised by the next call that waits; restore()
    waits, so it raises it (once), and the restore after that works."""
    model = Model()
    saver = model.saver(async_save=True)
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    saver.wait()
    real = Saver._write_checkpoint

    def failing(self, sess, checkpoint_file, save_op=None):
        raise OSError(errno.EIO, "Input/output error", checkpoint_file)

    monkeypatch.setattr(Saver, "_write_checkpoint", failing)
    saver.save(model.sess, str(tmp_path / "m"), global_step=2)
    with pytest.raises(OSError, match="Input/output"):
        saver.restore(model.sess, str(tmp_path / "m-1"))
    monkeypatch.setattr(Saver, "_write_checkpoint", real)  # the thread has looked it up
    saver.restore(model.sess, str(tmp_path / "m-1"))
    assert model.sess.run(model.step) == 1
    saver.close()


def test_load_checkpoint_of_the_returned_prefix_waits_for_the_write(tmp_path, monkeypatch):
    """``load_checkpoint`` of the prefix an async ``save()`` just returned, in this
    process, reads the committed checkpoint instead of raising "not found"."""
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    model.set(8)
    path = saver.save(model.sess, str(tmp_path / "m"), global_step=8)
    assert gate.waiting.wait(30)
    threading.Timer(0.3, gate.open).start()
    try:
        assert step_of(path) == 8
    finally:
        gate.open()
        saver.close()


def test_changed_working_directory_without_a_private_one_is_refused(tmp_path, monkeypatch):
    """Where the write's thread cannot have its own working directory (not Linux), a
    working directory changed before the write starts is an error, not a checkpoint in
    the wrong place; the next save (in the directory now current) works."""
    from legacy_saver.saver import background

    changed = threading.Event()

    def not_private() -> bool:  # the thread starts once the program changed directory
        assert changed.wait(30)
        return False

    monkeypatch.setattr(background, "_private_cwd", not_private)
    (tmp_path / "a" / "ckpt").mkdir(parents=True)
    (tmp_path / "b" / "ckpt").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    model = Model()
    saver = model.saver(async_save=True)
    model.set(6)
    saver.save(model.sess, os.path.join("ckpt", "m"), global_step=6)
    monkeypatch.chdir(tmp_path / "b")
    changed.set()
    with pytest.raises(OSError, match="working directory changed") as e:
        saver.wait()
    assert e.value.errno == errno.ESTALE
    assert os.listdir(tmp_path / "b" / "ckpt") == [] == os.listdir(tmp_path / "a" / "ckpt")
    path = saver.save(model.sess, os.path.join("ckpt", "m"), global_step=7)
    saver.close()
    assert os.listdir(tmp_path / "a" / "ckpt") == []
    assert step_of(path) == 6 and latest_checkpoint("ckpt") == os.path.join("ckpt", "m-7")


def test_session_closed_while_the_write_is_pending(tmp_path, monkeypatch):
    """The program closes the session before ``wait()``: the write fails, the error is
    raised by ``wait()`` naming the checkpoint, nothing of it stays, and the previous
    checkpoint is still the latest and loads."""
    model = Model()
    saver = model.saver(max_to_keep=2, async_save=True)
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    saver.wait()
    before = tree(tmp_path)
    gate = Gate(monkeypatch)
    model.set(2)
    saver.save(model.sess, str(tmp_path / "m"), global_step=2)
    assert gate.waiting.wait(30)
    model.sess.close()
    gate.open()
    with pytest.raises((OSError, RuntimeError, tf.errors.OpError), match="m-2|[Ss]ession"):
        saver.wait()
    assert tree(tmp_path) == before and not temporaries(tmp_path)
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "m-1")
    assert step_of(str(tmp_path / "m-1")) == 1


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np
    import tensorflow as tf
    from legacy_saver.saver import Saver

    v1 = tf.compat.v1
    v1.disable_eager_execution()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    d = sys.argv[1]
    w = v1.get_variable("w", [1 << 20], initializer=v1.ones_initializer())  # 4 MiB
    grow = w.assign_add(tf.ones_like(w))
    saver = Saver(max_to_keep=1, async_save=True)
    with v1.Session() as sess:
        sess.run(v1.global_variables_initializer())
        saver.save(sess, d + "/m", global_step=1)
        saver.wait()
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
        sess.run(grow)
        saver.save(sess, d + "/m", global_step=2)
        try:
            saver.wait()
        except Exception as e:
            print("RAISED", type(e).__name__, type(e).__mro__[1].__name__, e)
        else:
            print("NOT RAISED")
    """
)


def test_full_disk_in_the_background_write(tmp_path):
    """A file-size limit (a full disk) hit by the background write: ``wait()`` raises
    TensorFlow's error type (as a synchronous save) naming the checkpoint, the previous
    one stays the latest and whole, and no temporary file is left (``max_to_keep=1``
    deleted nothing)."""
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path)],
        env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.startswith("RAISED OutOfRangeError OpError"), out + proc.stderr[-2000:]  # TF's type
    assert "m-2' (writing its data and index)" in out and "File too large" in out, out
    assert "nothing of it was kept" in out, out
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "m-1")
    assert (load_checkpoint(str(tmp_path / "m-1")).get_tensor("w") == 1).all()
    assert not temporaries(tmp_path)
    assert not os.path.exists(tmp_path / "m-2.index")
