"""``Saver(async_save=True)``: the guarantees of legacy_saver/saver/background.py, each tested.

A "gate" holds the background write until the test opens it, so what happens while a
write is pending is observed, not guessed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver import latest_checkpoint, load_checkpoint  # noqa: E402
from legacy_saver.errors import UnsupportedFeatureError  # noqa: E402
from legacy_saver.saver import AsyncCheckpointSaverHook, Saver  # noqa: E402
from tests.helpers.crash import (  # noqa: E402
    SaverRig,
    check_saver_directory,
    replay_every_crash,
    saver_modules,
)

v1 = tf.compat.v1


def build(partitioned: bool = True):
    """Every kind of saved tensor: resource and reference variables, a string, a partitioned
    variable, a scalar step; ``set(sess, k)`` fills them all from ``k``."""
    k = v1.placeholder(tf.float32, [])
    res = v1.get_variable("res", [3, 4], initializer=v1.zeros_initializer())
    ref = v1.Variable(np.zeros(5, np.int64), name="ref", use_resource=False)
    text = v1.get_variable("text", [2], tf.string, initializer=v1.constant_initializer(""))
    step = v1.train.get_or_create_global_step()
    ops = [
        res.assign(tf.fill([3, 4], k)),
        ref.assign(tf.fill([5], tf.cast(k, tf.int64))),
        text.assign(tf.strings.as_string(tf.fill([2], k))),
        step.assign(tf.cast(k, tf.int64)),
    ]
    if partitioned:
        part = v1.get_variable("part", [6, 2], partitioner=v1.fixed_size_partitioner(2))
        ops.append(part.assign(tf.fill([6, 2], -k)))
    ops.append(res.assign_add(tf.ones([3, 4])))  # "a training step", run separately too

    def set_values(sess, value):
        sess.run(ops[:-1], {k: value})

    return set_values, ops[-1]


class Gate:
    """Holds every background write until ``open()``; counts the writes that passed."""

    def __init__(self, monkeypatch):
        self.event = threading.Event()
        self.passed = 0
        real = Saver._write_checkpoint

        def gated(saver, sess, checkpoint_file, save_op=None):
            if save_op is not None:  # the background write
                assert self.event.wait(60), "gate never opened"
                self.passed += 1
            return real(saver, sess, checkpoint_file, save_op=save_op)

        monkeypatch.setattr(Saver, "_write_checkpoint", gated)

    def open(self):
        self.event.set()


def values(prefix):
    reader = load_checkpoint(prefix)
    return {k: reader.get_tensor(k) for k in reader.keys()}


def files(directory):
    out = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            out[os.path.relpath(path, directory)] = open(path, "rb").read()
    return out


@pytest.mark.parametrize(
    "options",
    [{}, {"sharded": True}, {"digest": True, "max_to_keep": 2}, {"write_meta_graph": False}],
    ids=["plain", "sharded", "digest-retention", "no-meta"],
)
def test_files_are_bitwise_identical_to_a_synchronous_save(tmp_path, options):
    write_meta_graph = options.pop("write_meta_graph", True)
    config = v1.ConfigProto(device_count={"CPU": 2})
    for mode in ("sync", "async"):
        with tf.Graph().as_default() as g, v1.Session(graph=g, config=config) as sess:
            set_values, _ = build()
            saver = Saver(async_save=mode == "async", **options)
            sess.run(v1.global_variables_initializer())
            for step in range(3):
                set_values(sess, float(step))
                saver.save(sess, str(tmp_path / mode / "m"), global_step=step,
                           write_meta_graph=write_meta_graph)  # fmt: skip
            saver.wait()
    sync, asynchronous = files(tmp_path / "sync"), files(tmp_path / "async")
    assert sorted(sync) == sorted(asynchronous)
    for name in sync:
        if name != "checkpoint":  # the state file holds save timestamps
            assert sync[name] == asynchronous[name], name
    state = load_checkpoint(str(tmp_path / "async")).prefix
    assert state.endswith("m-2")
    if write_meta_graph:
        meta = v1.MetaGraphDef.FromString(asynchronous["m-2.meta"])
        assert not [n.name for n in meta.graph_def.node if n.name.startswith("async_snapshot")]


def test_checkpoint_holds_the_values_of_the_moment_save_was_called(tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        set_values, train = build()
        saver = Saver(async_save=True)
        sess.run(v1.global_variables_initializer())
        set_values(sess, 7.0)
        path = saver.save(sess, str(tmp_path / "m"), global_step=7)
        for _ in range(5):  # training goes on while the write waits
            sess.run(train)
        set_values(sess, 99.0)
        assert not os.path.exists(path + ".index")
        gate.open()
        saver.wait()
    got = values(path)
    assert (got["res"] == 7.0).all() and (got["ref"] == 7).all() and got["global_step"] == 7
    assert list(got["text"]) == [b"7.000000", b"7.000000"] and (got["part"] == -7.0).all()


def test_one_write_in_flight_and_readers_wait_for_it(tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        set_values, _ = build(partitioned=False)
        saver = Saver(async_save=True)
        sess.run(v1.global_variables_initializer())
        set_values(sess, 1.0)
        first = saver.save(sess, str(tmp_path / "m"), global_step=1)
        assert not os.path.exists(tmp_path / "checkpoint")  # nothing listed before it exists
        results = {}
        second = threading.Thread(
            target=lambda: results.update(second=saver.save(sess, str(tmp_path / "m"), 2))
        )
        reader = threading.Thread(target=lambda: results.update(latest=latest_checkpoint(
            str(tmp_path))))  # fmt: skip
        second.start()
        reader.start()
        time.sleep(0.5)
        assert second.is_alive() and reader.is_alive() and gate.passed == 0
        assert tf.train.latest_checkpoint(str(tmp_path)) is None  # stock readers do not wait
        gate.open()
        second.join(60)
        reader.join(60)
        saver.wait()
    assert results["latest"] == first and results["second"] == str(tmp_path / "m-2")
    assert gate.passed == 2 and latest_checkpoint(str(tmp_path)) == str(tmp_path / "m-2")


def test_background_error_is_raised_once_by_the_next_call(tmp_path, monkeypatch):
    real = Saver._write_checkpoint
    failures = iter([OSError(28, "No space left on device"), None, None])

    def failing(saver, sess, checkpoint_file, save_op=None):
        error = next(failures) if save_op is not None else None
        if error is not None:
            raise error
        return real(saver, sess, checkpoint_file, save_op=save_op)

    monkeypatch.setattr(Saver, "_write_checkpoint", failing)
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        set_values, _ = build(partitioned=False)
        saver = Saver(async_save=True)
        sess.run(v1.global_variables_initializer())
        set_values(sess, 1.0)
        saver.save(sess, str(tmp_path / "m"), global_step=1)
        with pytest.raises(OSError, match="No space left"):
            saver.save(sess, str(tmp_path / "m"), global_step=2)  # raised, not lost
        assert latest_checkpoint(str(tmp_path)) is None
        path = saver.save(sess, str(tmp_path / "m"), global_step=2)
        saver.close()  # drains; raises nothing: the error was reported once
        assert latest_checkpoint(str(tmp_path)) == path


def test_restore_waits_for_the_pending_write(tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        set_values, _ = build(partitioned=False)
        saver = Saver(async_save=True)
        sess.run(v1.global_variables_initializer())
        set_values(sess, 3.0)
        path = saver.save(sess, str(tmp_path / "m"))
        set_values(sess, 0.0)
        threading.Timer(0.3, gate.open).start()
        saver.restore(sess, path)  # would fail (no checkpoint yet) without waiting
        res = next(v for v in v1.global_variables() if v.op.name == "res")
        assert sess.run(res)[0, 0] == 3.0


def test_async_needs_its_own_ops():
    with tf.Graph().as_default():
        v1.get_variable("x", [1])
        saver_def = Saver().as_saver_def()
        with pytest.raises(UnsupportedFeatureError, match="async_save"):
            Saver(saver_def=saver_def, async_save=True)


class AsyncRig(SaverRig):
    def new_saver(self):
        with self.graph.as_default():
            return self.Saver(max_to_keep=2, sharded=self.sharded, save_relative_paths=True,
                              async_save=True)  # fmt: skip

    def save(self, saver, d, step):
        path = super().save(saver, d, step)
        saver.wait()  # the crash (or any error) of the background write surfaces here
        return path


@pytest.mark.slow
def test_crash_at_every_operation_of_a_background_write(tmp_path, monkeypatch):
    """The crash-replay harness on the async path: a crash after any file operation of the
    background write leaves the previous checkpoint the latest, whole, and nothing partial
    under a final name; the next save cleans up."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    rig = AsyncRig(tf, sharded=False)
    template = str(tmp_path / "template")
    saver = rig.new_saver()
    rig.save(saver, template, 1)
    rig.save(saver, template, 2)

    def setup(d):
        os.rmdir(d)
        shutil.copytree(template, d)

    def check(d, k, ops):
        step, _ = check_saver_directory(d)
        assert step in (2, 3), f"crash {k}: latest is step {step}"
        rig.save(rig.new_saver(), d, 4)
        assert check_saver_directory(d)[0] == 4
        assert not [n for n in os.listdir(d) if ".tmp-" in n], f"crash {k}"

    ops = replay_every_crash(str(tmp_path), setup, lambda d: rig.save(rig.new_saver(), d, 3),
                             check, saver_modules())  # fmt: skip
    assert len(ops) > 10


CHILD = textwrap.dedent("""
    import os, sys
    import numpy as np, tensorflow as tf
    from legacy_saver import Saver
    v1 = tf.compat.v1
    v1.disable_eager_execution()
    d = sys.argv[1]
    step = v1.placeholder(tf.float32, [])
    vs = [v1.get_variable(f"v{i}", [1 << 18], initializer=v1.zeros_initializer())
          for i in range(8)]
    fill = [v.assign(tf.fill([1 << 18], step)) for v in vs]
    saver = Saver(async_save=True, max_to_keep=3, fsync=False)
    with v1.Session() as sess:
        sess.run(v1.global_variables_initializer())
        for k in range(1, 10000):
            sess.run(fill, {step: float(k)})
            saver.save(sess, os.path.join(d, "model"), global_step=k)
            print(k, flush=True)
""")


@pytest.mark.slow
def test_kill_9_during_background_writes_leaves_a_loadable_latest(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for run, delay in enumerate([0.0, 0.023, 0.11]):
        d = tmp_path / f"run{run}"
        d.mkdir()
        child = subprocess.Popen([sys.executable, str(script), str(d)], stdout=subprocess.PIPE,
                                 env=env, text=True)  # fmt: skip
        for _ in range(3):  # a few saves in, then at some point inside the next one
            assert child.stdout.readline(), "child died"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        latest = latest_checkpoint(str(d))
        assert latest is not None, run
        got = values(latest)
        k = int(latest.rsplit("-", 1)[1])
        assert all((v == k).all() for v in got.values()), (run, latest)
        for name in os.listdir(d):  # every checkpoint that exists (has an index) is whole
            if name.endswith(".index") and ".tmp-" not in name:
                values(os.path.join(d, name[: -len(".index")]))


def test_monitored_training_session_with_the_async_hook(tmp_path):
    with tf.Graph().as_default():
        set_values, train = build(partitioned=False)
        step = v1.train.get_global_step()
        bump = step.assign_add(1)
        saver = Saver(async_save=True, max_to_keep=10)
        hook = AsyncCheckpointSaverHook(str(tmp_path), save_steps=2, saver=saver)
        with v1.train.MonitoredTrainingSession(hooks=[hook]) as sess:
            for _ in range(5):
                sess.run([train, bump])
    latest = latest_checkpoint(str(tmp_path))
    assert latest.endswith("-5"), latest
    assert values(latest)["global_step"] == 5


@pytest.mark.slow
def test_interpreter_exit_drains_the_pending_write(tmp_path):
    script = textwrap.dedent(f"""
        import tensorflow as tf
        from legacy_saver import Saver
        v1 = tf.compat.v1
        v1.disable_eager_execution()
        v = v1.get_variable("v", [1 << 20], initializer=v1.ones_initializer())
        sess = v1.Session()
        sess.run(v1.global_variables_initializer())
        Saver(async_save=True).save(sess, {str(tmp_path / "m")!r}, global_step=1)
    """)  # no wait(), no close: exit right after save() returns
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "m-1")
    assert (values(str(tmp_path / "m-1"))["v"] == 1).all()
