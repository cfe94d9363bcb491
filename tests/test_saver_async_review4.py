"""Fourth review of ``Saver(async_save=True)``: the commit after the third review
(``background.guard_close``: closing a session waits for its pending writes; the writer
registered before its thread starts; restore/load of an existing checkpoint read at once;
``latest_checkpoint`` re-reading a changing state file), attacked as a careless user would.

Sessions closed from a listener, from another thread during ``save()``, inside
``as_default()``, twice, as an ``InteractiveSession``, by ``del`` or the garbage collector
under a pending write, by ``Session.reset``; sessions freed by refcount after async saves;
a session shared by two Savers and a Saver shared by two sessions; sessions that refuse
attribute assignment and duck-typed ones; a failed write's error after the close; a state
file that keeps changing; restores of an overwritten prefix, a directory and a V1 pattern
while a write is pending.

Seven defects at cb2af70; six are fixed since (each test failed before): ``close()``
waited for a stuck write without bound or log line (now ``EXIT_TIMEOUT_S``, logged); a
Saver's writer stayed in an earlier session's set, so closing that session waited for a
write on another (writers now say which session they write with); ``guard_close`` raised
out of ``save()`` for a ``__slots__`` wrapper and for a duck-typed session without
``close``; a reader of a prefix being overwritten got the previous values (a reader of an
existing checkpoint now waits for a write of that very prefix); an existing V1 pattern path
(``-?????-of-0000N``) waited for an unrelated write (``files.readable_now`` looks for its
first shard, never globbing). One stays a strict xfail, known and documented:
``Session.reset`` closes sessions inside TensorFlow, past the guard, and the pending
checkpoint is lost (its error is raised).
"""

from __future__ import annotations

import errno
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import weakref

import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver import latest_checkpoint, load_checkpoint  # noqa: E402
from legacy_saver.bundle import pending  # noqa: E402
from legacy_saver.bundle import state as state_module  # noqa: E402
from legacy_saver.errors import CheckpointNotFoundError  # noqa: E402
from legacy_saver.saver import AsyncCheckpointSaverHook, Saver, background  # noqa: E402
from tests.helpers.async_rig import (  # noqa: E402
    CHILD_ENV,
    Gate,
    Model,
    StepGate,  # noqa: E402
    pending_save,
    step_of,
    temporaries,
)
from tests.helpers.paths import ROOT  # noqa: E402

v1 = tf.compat.v1
ENV = CHILD_ENV


def later(seconds: float, action) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer


def in_thread(target, *args) -> tuple[threading.Thread, dict]:
    """Runs ``target(*args)`` in a daemon thread; the dict gets its "result" or "error"."""
    out: dict = {}

    def run():
        try:
            out["result"] = target(*args)
        except BaseException as e:  # noqa: BLE001 - inspected by the test
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def fresh_session(model: Model):
    sess = v1.Session(graph=model.graph)
    sess.run([v.initializer for v in model.graph.get_collection("variables")])
    return sess


# -- closing the session --------------------------------------------------------------


class ClosingListener(v1.train.CheckpointSaverListener):
    """Closes the session it is given in ``after_save`` of step ``at`` or later."""

    def __init__(self, at: int):
        self.at, self.closed = at, []

    def after_save(self, session, global_step_value):
        if global_step_value >= self.at:
            session.close()
            self.closed.append(global_step_value)


def test_a_listener_closing_the_session_in_after_save_waits_for_the_write(tmp_path, monkeypatch):
    gate = StepGate(monkeypatch, 3)
    with tf.Graph().as_default():
        step = v1.train.get_or_create_global_step()
        w = v1.get_variable("w", [4], initializer=v1.zeros_initializer())
        with tf.control_dependencies([step.assign_add(1)]):
            train = w.assign(tf.fill([4], tf.cast(step.read_value(), tf.float32)))
        saver = Saver(async_save=True)
        listener = ClosingListener(3)
        hook = AsyncCheckpointSaverHook(
            str(tmp_path), save_steps=100, saver=saver, listeners=[listener]
        )
        later(0.3, gate.open)
        with v1.train.MonitoredTrainingSession(hooks=[hook]) as sess:
            for _ in range(3):
                sess.run(train)
    assert listener.closed == [3]
    assert load_checkpoint(str(tmp_path / "model.ckpt-3")).get_tensor("global_step") == 3
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-3")
    assert temporaries(tmp_path) == []


def test_closing_from_another_thread_while_save_waits_for_the_previous_write(tmp_path, monkeypatch):
    """save(2) is blocked behind write 1 when another thread closes the session: write 1
    is committed whole; save(2) either fails itself or its write's error is raised by
    wait(); nothing hangs, nothing partial stays."""
    gate = StepGate(monkeypatch, 1)
    model = Model()
    saver = model.saver(async_save=True)
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    assert gate.waiting.wait(10)
    model.set(2)
    saving, saved = in_thread(saver.save, model.sess, str(tmp_path / "m"), 2)
    time.sleep(0.2)  # save(2) waits for write 1
    closing, closed = in_thread(model.sess.close)
    time.sleep(0.2)
    assert closing.is_alive()  # close waits for write 1
    gate.open()
    closing.join(10)
    saving.join(10)
    assert not closing.is_alive() and not saving.is_alive()
    assert "error" not in closed
    assert step_of(str(tmp_path / "m-1")) == 1
    try:
        saver.wait()
    except Exception:  # noqa: BLE001 - the closed session's error, raised once
        pass
    assert saver.wait() is True
    if "error" not in saved and os.path.exists(tmp_path / "m-2.index"):
        assert step_of(str(tmp_path / "m-2")) == 2
    assert temporaries(tmp_path) == []


def test_close_inside_as_default_and_twice(tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    model.set(5)
    with model.sess.as_default():
        path = saver.save(model.sess, str(tmp_path / "m"), global_step=5)
        assert gate.waiting.wait(10)
        later(0.3, gate.open)
        model.sess.close()
        assert step_of(path) == 5  # committed before the close returned
        model.sess.close()
    model.sess.close()
    assert saver.wait() is True
    assert latest_checkpoint(str(tmp_path)) == path


def test_an_interactive_session_closed_under_a_pending_write(tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    sess = v1.InteractiveSession(graph=model.graph)
    try:
        sess.run([v.initializer for v in model.graph.get_collection("variables")])
        sess.run(model.fill, {model.k: 6})
        path = saver.save(sess, str(tmp_path / "m"), global_step=6)
        assert gate.waiting.wait(10)
        later(0.3, gate.open)
        sess.close()
        assert step_of(path) == 6
    finally:
        gate.open()
        sess.close()
    sess.close()
    assert saver.wait() is True
    assert v1.get_default_session() is None


def test_del_session_under_a_pending_write_commits_and_frees_it(tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    sess = fresh_session(model)
    sess.run(model.fill, {model.k: 4})
    ref = weakref.ref(sess)
    gc.disable()
    try:
        path = saver.save(sess, str(tmp_path / "m"), global_step=4)
        del sess
        assert gate.waiting.wait(10)
        assert ref() is not None  # the write holds it
        gate.open()
        assert saver.wait() is True
        assert ref() is None  # freed by refcount, after the write
    finally:
        gate.open()
        gc.enable()
    assert step_of(path) == 4


def test_a_session_in_a_reference_cycle_collected_after_its_write(tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    sess = fresh_session(model)
    sess.run(model.fill, {model.k: 3})
    holder: dict = {"sess": sess}
    holder["self"] = holder  # a cycle: only the collector frees it
    ref = weakref.ref(sess)
    path = saver.save(sess, str(tmp_path / "m"), global_step=3)
    del sess, holder
    assert gate.waiting.wait(10)
    gc.collect()  # the write still holds the session: nothing to collect yet
    assert ref() is not None
    gate.open()
    assert saver.wait() is True
    gc.collect()
    assert ref() is None
    assert step_of(path) == 3


def test_fifty_sessions_with_async_saves_are_freed_by_refcount(tmp_path):
    """No reference cycle through the guard: each session is freed the moment it is
    dropped, without the garbage collector."""
    model = Model()
    saver = model.saver(async_save=True)
    refs = []
    gc.disable()
    try:
        for i in range(50):
            sess = fresh_session(model)
            saver.save(sess, str(tmp_path / "m"), global_step=i, write_meta_graph=False)
            saver.wait()
            refs.append(weakref.ref(sess))
            del sess
        alive = [i for i, r in enumerate(refs) if r() is not None]
    finally:
        gc.enable()
    assert alive == []
    assert str(os.path.realpath(tmp_path)) not in pending._WAITERS


SESSION_RESET = textwrap.dedent(
    """
    import os, sys, threading
    import tensorflow as tf
    from legacy_saver.saver import Saver
    from tests.helpers.async_rig import Model, step_of

    held = threading.Event()
    real = Saver._write_checkpoint

    def gated(saver, sess, checkpoint_file, save_op=None):
        if save_op is not None:
            assert held.wait(30)
        return real(saver, sess, checkpoint_file, save_op=save_op)

    Saver._write_checkpoint = gated
    model = Model()
    saver = model.saver(async_save=True)
    model.set(4)
    path = saver.save(model.sess, os.path.join(sys.argv[1], "m"), global_step=4)
    tf.compat.v1.Session.reset("")  # closes every in-process session
    held.set()
    try:
        saver.wait()
    except Exception as e:
        print("LOST", type(e).__name__, e)
        sys.exit(3)
    assert step_of(path) == 4
    """
)


@pytest.mark.xfail(
    strict=True,
    reason="Session.reset('') closes the session in C++, past the guarded Python close(): "
    "the pending write fails with CancelledError 'Session has been closed' and the "
    "checkpoint whose snapshot save() took is lost (a sync save of that moment was on disk)",
)
def test_session_reset_under_a_pending_write_keeps_the_checkpoint(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", SESSION_RESET, str(tmp_path)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
    )
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]


def test_closing_under_a_stuck_write_is_bounded_like_the_exit_drain(tmp_path, monkeypatch, caplog):
    """A write that does not finish: closing the session gives up after ``EXIT_TIMEOUT_S``
    with a log line (as the exit drain), then closes; the write, resumed later, fails on
    the closed session and that error is raised by the Saver, nothing of it kept."""
    monkeypatch.setattr(background, "EXIT_TIMEOUT_S", 0.3)
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    model.set(2)
    saver.save(model.sess, str(tmp_path / "m"), global_step=2)
    assert gate.waiting.wait(10)
    closing, _ = in_thread(model.sess.close)
    try:
        closing.join(3.0)
        stuck = closing.is_alive()
    finally:
        gate.open()
        closing.join(10)
        with pytest.raises(RuntimeError, match="closed Session"):
            saver.close()
    assert not stuck, "close() still waiting 3 s after EXIT_TIMEOUT_S (0.3 s)"
    assert "did not finish in 0 s before closing its session" in caplog.text
    assert not temporaries(tmp_path) and latest_checkpoint(str(tmp_path)) is None


# -- sessions and Savers shared ---------------------------------------------------------


def test_one_session_two_async_savers_close_waits_for_both(tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    model = Model()
    first = model.saver(async_save=True)
    second = model.saver(async_save=True)
    model.set(7)
    a = first.save(model.sess, str(tmp_path / "a" / "m"), global_step=7)
    b = second.save(model.sess, str(tmp_path / "b" / "m"), global_step=7)
    assert gate.waiting.wait(10)
    later(0.3, gate.open)
    model.sess.close()
    assert not first._background._writer.pending and not second._background._writer.pending
    assert step_of(a) == 7 and step_of(b) == 7
    assert first.wait() and second.wait()


def test_closing_a_session_does_not_wait_for_a_write_of_another_session(tmp_path, monkeypatch):
    gate = StepGate(monkeypatch, 2)
    model = Model()
    saver = model.saver(async_save=True)
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    saver.wait()
    other = fresh_session(model)
    other.run(model.fill, {model.k: 2})
    saver.save(other, str(tmp_path / "m"), global_step=2)
    assert gate.waiting.wait(10)
    closing, _ = in_thread(model.sess.close)
    try:
        closing.join(1.5)
        waited = closing.is_alive()
    finally:
        gate.open()
        closing.join(10)
        saver.close()
        other.close()
    assert step_of(str(tmp_path / "m-2")) == 2
    assert not waited, "closing session A waited for the write on session B"


# -- sessions the guard cannot decorate -----------------------------------------------


class FrozenSession(v1.Session):
    """A session class that refuses new instance attributes (``close`` among them)."""

    def __setattr__(self, name, value):
        if name in ("close", "_legacy_saver_writers"):
            raise AttributeError(f"{type(self).__name__} is frozen: {name}")
        super().__setattr__(name, value)


def test_a_session_refusing_attributes_saves_unguarded(tmp_path):
    model = Model()
    saver = model.saver(async_save=True)
    sess = FrozenSession(graph=model.graph)
    sess.run([v.initializer for v in model.graph.get_collection("variables")])
    sess.run(model.fill, {model.k: 9})
    path = saver.save(sess, str(tmp_path / "m"), global_step=9)
    assert saver.wait() is True
    assert "close" not in sess.__dict__
    sess.close()
    assert step_of(path) == 9


class SlottedSession:
    """A session-like wrapper with no ``__dict__`` (``__slots__``)."""

    __slots__ = ("inner",)

    def __init__(self, inner):
        self.inner = inner

    @property
    def graph(self):
        return self.inner.graph

    def run(self, *args, **kwargs):
        return self.inner.run(*args, **kwargs)

    def close(self):
        self.inner.close()


def test_a_slotted_session_wrapper_saves(tmp_path):
    model = Model()
    model.set(3)
    model.saver().save(SlottedSession(model.sess), str(tmp_path / "sync"), global_step=3)
    saver = model.saver(async_save=True)
    path = saver.save(SlottedSession(model.sess), str(tmp_path / "m"), global_step=3)
    assert saver.wait() is True
    assert step_of(path) == 3


class DuckSession:
    """What a synchronous save needs of a session: ``run`` and ``graph``, no ``close``."""

    def __init__(self, inner):
        self._inner, self.graph = inner, inner.graph

    def run(self, *args, **kwargs):
        return self._inner.run(*args, **kwargs)


def test_a_duck_typed_session_without_close_saves_as_sync(tmp_path):
    model = Model()
    model.set(4)
    sync = model.saver()
    sync.save(DuckSession(model.sess), str(tmp_path / "sync"), global_step=4)
    saver = model.saver(async_save=True)
    path = saver.save(DuckSession(model.sess), str(tmp_path / "m"), global_step=4)
    assert saver.wait() is True
    assert step_of(path) == 4


# -- errors -----------------------------------------------------------------------------


def test_a_failed_write_is_raised_by_the_saver_after_the_session_closed(tmp_path, monkeypatch):
    started = threading.Event()

    def failing(saver, sess, checkpoint_file, save_op=None):
        started.set()
        time.sleep(0.3)
        raise OSError(errno.ENOSPC, "No space left on device (test)", checkpoint_file)

    monkeypatch.setattr(Saver, "_write_checkpoint", failing)
    model = Model()
    saver = model.saver(async_save=True)
    model.set(2)
    saver.save(model.sess, str(tmp_path / "m"), global_step=2)
    assert started.wait(10)
    model.sess.close()  # waits; the error stays for the Saver
    assert not saver._background._writer.pending
    with pytest.raises(OSError, match="No space left"):
        saver.wait()
    assert saver.wait() is True  # raised once
    assert latest_checkpoint(str(tmp_path)) is None
    assert temporaries(tmp_path) == []


# -- latest_checkpoint with a changing state file ---------------------------------------


def test_latest_checkpoint_reads_a_state_file_that_always_changes_at_most_three_times(
    tmp_path, monkeypatch
):
    model = Model()
    saver = model.saver()
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    real = state_module._load
    calls = []

    def ever_new(directory, name, allow_outside):
        path, state = real(directory, name, allow_outside)
        calls.append(1)
        missing = str(tmp_path / f"gone-{len(calls)}")
        state.model_checkpoint_path = missing
        del state.all_model_checkpoint_paths[:]
        state.all_model_checkpoint_paths.append(missing)
        return path, state

    monkeypatch.setattr(state_module, "_load", ever_new)
    with pytest.raises(CheckpointNotFoundError, match="gone-3"):
        latest_checkpoint(str(tmp_path))
    assert len(calls) == state_module.STATE_REREADS == 3


def test_latest_checkpoint_beside_a_writer_looping_on_the_state_file(tmp_path):
    """A thread rewrites the state file as fast as it can, each time naming a missing
    latest beside the one checkpoint that exists: every read ends, in bounded time,
    with that checkpoint (and a warning)."""
    model = Model()
    saver = model.saver()
    model.set(1)
    kept = saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    stop = threading.Event()

    def loop():
        i = 0
        while not stop.is_set():
            i += 1
            v1.train.update_checkpoint_state(
                str(tmp_path), str(tmp_path / f"gone-{i}"), [kept, str(tmp_path / f"gone-{i}")]
            )

    writer = threading.Thread(target=loop, daemon=True)
    writer.start()
    got = []
    start = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(50):
                got.append(latest_checkpoint(str(tmp_path)))
    finally:
        stop.set()
        writer.join(10)
    assert time.monotonic() - start < 5
    assert set(got) == {kept}


# -- readers of what a pending write replaces -------------------------------------------


@pytest.mark.parametrize("reader", ["restore", "load_checkpoint"])
def test_a_reader_of_an_overwritten_prefix_gets_what_save_returned(tmp_path, monkeypatch, reader):
    model = Model()
    saver = model.saver(async_save=True)
    evaluator = model.saver()
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"))
    saver.wait()
    gate = Gate(monkeypatch)
    model.set(2)
    path = saver.save(model.sess, str(tmp_path / "m"))
    assert gate.waiting.wait(10)
    later(0.3, gate.open)
    try:
        if reader == "restore":
            model.set(0)
            evaluator.restore(model.sess, path)
            got = int(model.sess.run(model.step))
        else:
            got = int(load_checkpoint(path).get_tensor("global_step"))
    finally:
        gate.open()
        saver.close()
    assert step_of(path) == 2
    assert got == 2


@pytest.mark.parametrize("reader", ["restore", "load_checkpoint"])
def test_a_reader_of_the_directory_waits_for_the_pending_write(tmp_path, monkeypatch, reader):
    model = Model()
    saver = model.saver(async_save=True)
    evaluator = model.saver()
    model.set(1)
    saver.save(model.sess, str(tmp_path / "m"), global_step=1)
    saver.wait()
    gate = Gate(monkeypatch)
    model.set(8)
    saver.save(model.sess, str(tmp_path / "m"), global_step=8)
    assert gate.waiting.wait(10)
    later(0.3, gate.open)
    try:
        if reader == "restore":
            model.set(0)
            evaluator.restore(model.sess, str(tmp_path))
            got = int(model.sess.run(model.step))
        else:
            got = int(load_checkpoint(str(tmp_path)).get_tensor("global_step"))
    finally:
        gate.open()
        saver.close()
    assert got == 8


@pytest.mark.parametrize("reader", ["restore", "load_checkpoint"])
def test_an_existing_v1_pattern_is_read_at_once_beside_a_pending_write(
    tmp_path, monkeypatch, reader
):
    model = Model()
    v1_saver = model.saver(write_version=tf.compat.v1.train.SaverDef.V1, sharded=True)
    model.set(5)
    pattern = v1_saver.save(model.sess, str(tmp_path / "old"), global_step=5)
    assert "?????" in pattern
    saver = model.saver(async_save=True)
    gate = Gate(monkeypatch)
    model.set(6)
    saver.save(model.sess, str(tmp_path / "m"), global_step=6)
    assert gate.waiting.wait(10)
    later(2.0, gate.open)
    start = time.monotonic()
    try:
        if reader == "restore":
            model.set(0)
            v1_saver.restore(model.sess, pattern)
            got = int(model.sess.run(model.step))
        else:
            got = int(load_checkpoint(pattern).get_tensor("global_step"))
        elapsed = time.monotonic() - start
    finally:
        gate.open()
        saver.close()
    assert got == 5
    assert step_of(str(tmp_path / "m-6")) == 6
    assert elapsed < 1.5, f"waited {elapsed:.1f} s for the unrelated write"


def test_readers_look_at_no_file_for_pending_writes_when_none_is_pending(tmp_path, monkeypatch):
    """``wait_for_checkpoint`` (every restore and ``load_checkpoint``) costs nothing while no
    async write is pending in the process: neither the existence check nor ``isdir`` runs."""
    assert not pending._WAITERS

    def exists(path):
        raise AssertionError(f"looked at {path}")

    pending.wait_for_checkpoint(str(tmp_path / "m-1"), exists)
    with pending_save(monkeypatch, tmp_path, release_after=0.2):  # one pending: it runs
        with pytest.raises(AssertionError, match="looked at"):
            pending.wait_for_checkpoint(str(tmp_path / "m-1"), exists)
