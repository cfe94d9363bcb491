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

import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver import latest_checkpoint, load_checkpoint  # noqa: E402
from legacy_saver.saver import Saver  # noqa: E402
from legacy_saver.saver import saver as saver_module  # noqa: E402
from tests.helpers.async_rig import (  # noqa: E402
    CHILD_ENV,
    Gate,
    Model,
    pending_save,
    step_of,
    temporaries,
    tree,
)

v1 = tf.compat.v1
ENV = CHILD_ENV


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
    with pending_save(monkeypatch, tmp_path, k=8, release_after=0.3) as path:
        assert step_of(path) == 8


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
    """The program closes the session before ``wait()`` (``with Session()`` left early,
    ``MonitoredSession`` after a failed step): the close waits for the pending write, which
    runs the session's save op, so the checkpoint is committed whole, then the session
    closes. (It used to close under the write: the checkpoint was lost.)"""
    model = Model()
    saver = model.saver(max_to_keep=2, async_save=True)
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    saver.wait()
    gate = Gate(monkeypatch)
    model.set(2)
    saver.save(model.sess, str(tmp_path / "m"), global_step=2)
    assert gate.waiting.wait(30)
    closing = threading.Thread(target=model.sess.close)
    closing.start()
    closing.join(0.5)
    assert closing.is_alive(), "the session closed under the pending write"
    gate.open()
    closing.join(30)
    assert not closing.is_alive()
    assert saver.wait() is True and not temporaries(tmp_path)
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "m-2")
    assert step_of(str(tmp_path / "m-2")) == 2 and step_of(str(tmp_path / "m-1")) == 1
    with pytest.raises(RuntimeError, match="closed Session"):
        model.sess.run(model.step)  # closed after all


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


STOCK_DOT_DOT = textwrap.dedent(
    """
    import sys
    import tensorflow as tf

    v1 = tf.compat.v1
    v1.disable_eager_execution()
    w = v1.get_variable("w", [3], initializer=v1.ones_initializer())
    with v1.Session() as sess:
        sess.run(v1.global_variables_initializer())
        print(v1.train.Saver().save(sess, sys.argv[1], global_step=3))
    """
)


def _dot_dot_tree(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "ckpt").mkdir()  # where the kernel resolves link/.. to
    (tmp_path / "ckpt").mkdir()  # where TensorFlow's lexical reading goes
    (tmp_path / "link").symlink_to(tmp_path / "a" / "b")
    return os.path.join("link", "..", "ckpt", "m")


@pytest.mark.parametrize("spelled", ["relative", "absolute"])
def test_stock_resolves_dot_dot_lexically(tmp_path, spelled):
    """The fact the Saver follows: stock TensorFlow writes ``link/../ckpt/m`` into
    ``ckpt/``, not through the link (its file system cleans paths lexically)."""
    prefix = _dot_dot_tree(tmp_path)
    if spelled == "absolute":
        prefix = os.path.join(str(tmp_path), prefix)
    subprocess.run([sys.executable, "-c", STOCK_DOT_DOT, prefix], cwd=tmp_path, env=ENV,
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    assert os.listdir(tmp_path / "a" / "ckpt") == []
    assert sorted(os.listdir(tmp_path / "ckpt")) == [
        "checkpoint", "m-3.data-00000-of-00001", "m-3.index", "m-3.meta"
    ]  # fmt: skip


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("spelled", ["relative", "absolute"])
def test_dot_dot_through_a_symlink_means_what_tensorflow_means(
    tmp_path, monkeypatch, mode, spelled
):
    """``link/../ckpt/m`` with ``link -> a/b``: TensorFlow's kernels write into ``ckpt/``
    (lexical), the kernel's own resolution is ``a/ckpt/``. The Saver's renames and state
    file used to follow the kernel while SaveV2 followed TensorFlow: the save returned, the
    state file named a checkpoint that was nowhere, its data stayed under temporary names.
    Now the path is read as TensorFlow reads it, for every file, and ``save()`` returns
    that spelling (stock returns the input, which ``os.path`` resolves through the link)."""
    prefix = _dot_dot_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    if spelled == "absolute":
        prefix = os.path.join(str(tmp_path), prefix)
    model = Model()
    model.set(3)
    saver = model.saver(async_save=mode == "async")
    path = saver.save(model.sess, prefix, global_step=3)
    saver.close()
    assert path == os.path.normpath(prefix) + "-3"
    assert os.listdir(tmp_path / "a" / "ckpt") == []
    assert sorted(os.listdir(tmp_path / "ckpt")) == [
        "checkpoint", "m-3.data-00000-of-00001", "m-3.index", "m-3.meta"
    ]  # fmt: skip
    assert step_of(path) == 3 and latest_checkpoint(str(tmp_path / "ckpt")).endswith("m-3")
    model.set(0)
    saver.restore(model.sess, prefix + "-3")  # the spelling given: the same checkpoint
    assert model.sess.run(model.step) == 3


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_save_path_ending_in_dot_dot_names_a_file_beside_it(tmp_path, monkeypatch, mode):
    """``sub/..`` with a step is the file ``sub/..-3`` (the step is appended to the last
    component, which is then an ordinary name), as stock TensorFlow writes it; the
    directory part is what ``..`` handling is about, never the name."""
    (tmp_path / "target").mkdir()
    (tmp_path / "sub").symlink_to(tmp_path / "target")
    monkeypatch.chdir(tmp_path)
    model = Model()
    model.set(3)
    saver = model.saver(async_save=mode == "async")
    path = saver.save(model.sess, os.path.join("sub", ".."), global_step=3)
    saver.close()
    assert path == os.path.join("sub", "..-3")
    assert os.path.exists(tmp_path / "target" / "..-3.index") and step_of(path) == 3
