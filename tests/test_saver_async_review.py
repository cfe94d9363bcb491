"""The async Saver under concurrency and debug info (found by an adversarial review).

Each test fails on the code before its fix and names, in its docstring, the defect.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from tests.helpers.paths import ROOT

TWO_SAVERS_ONE_DIRECTORY = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
from legacy_saver.saver import Saver
v1 = tf.compat.v1
v1.disable_eager_execution()
work = sys.argv[1]
with tf.Graph().as_default():
    a = v1.get_variable("a", [64, 64], initializer=v1.zeros_initializer())
    b = v1.get_variable("b", [64, 64], initializer=v1.zeros_initializer())
    sa, sb = Saver([a], async_save=True), Saver([b], async_save=True)
    with v1.Session() as sess:
        sess.run(v1.global_variables_initializer())
        sa.save(sess, os.path.join(work, "a"), latest_filename="state_a", write_meta_graph=False)
        sb.save(sess, os.path.join(work, "b"), latest_filename="state_b", write_meta_graph=False)
        done = sa.wait(timeout=20) and sb.wait(timeout=20)
        print("done" if done else "deadlocked", flush=True)
        os._exit(0)  # a deadlocked writer would hold the interpreter's exit for 600 s
"""


def _assert_done(script: str, tmp_path) -> None:
    """Run ``script`` in a child; it prints "done" unless its savers deadlocked (a child
    stuck for good is killed by the timeout, and that fails too)."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert done.stdout.strip().splitlines()[-1:] == ["done"], done.stdout + done.stderr[-2000:]


@pytest.mark.tf
def test_two_async_savers_sharing_a_directory_do_not_deadlock(tmp_path):
    """Each background thread's state-file read (ledger.adopt) joins the other thread: deadlock."""
    pytest.importorskip("tensorflow")
    _assert_done(TWO_SAVERS_ONE_DIRECTORY, tmp_path)


@pytest.mark.tf
def test_concurrent_saves_on_one_async_saver_all_succeed(tmp_path):
    """save() checks 'nothing pending' and starts the thread without a lock: RuntimeError."""
    tf = pytest.importorskip("tensorflow")
    from legacy_saver.saver import Saver

    v1 = tf.compat.v1
    errors: list[str] = []
    with tf.Graph().as_default() as g:
        v = v1.get_variable("v", [100, 100], initializer=v1.zeros_initializer())
        saver = Saver(async_save=True, max_to_keep=3)
        with v1.Session(graph=g) as sess:
            sess.run(v.initializer)

            def go(i: int) -> None:
                for j in range(10):
                    try:
                        saver.save(sess, str(tmp_path / "m"), global_step=100 * i + j,
                                   write_meta_graph=False)  # fmt: skip
                    except BaseException as exc:  # noqa: BLE001 - the defect is what is raised
                        errors.append(f"{type(exc).__name__}: {exc}")

            threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            saver.wait()
    assert errors == []


@pytest.mark.tf
def test_async_save_debug_info_exports_the_sessions_graph(tmp_path):
    """save_debug_info: the background thread re-exports its own default graph (empty or error)."""
    tf = pytest.importorskip("tensorflow")
    from legacy_saver.saver import Saver

    v1 = tf.compat.v1
    from tensorflow.core.framework import graph_debug_info_pb2

    counts = {}
    for mode in (False, True):
        with tf.Graph().as_default() as g:
            v = v1.get_variable("v", [3], initializer=v1.zeros_initializer())
            saver = Saver(async_save=mode)
            with v1.Session(graph=g) as sess:
                sess.run(v.initializer)
                saver.save(sess, str(tmp_path / str(mode) / "m"), save_debug_info=True)
                saver.wait()
        meta = v1.MetaGraphDef()
        with open(tmp_path / str(mode) / "m.meta", "rb") as f:
            meta.ParseFromString(f.read())
        counts[mode] = len(meta.graph_def.node)
        info = graph_debug_info_pb2.GraphDebugInfo()  # stock's <name>.debug beside the .meta
        with open(tmp_path / str(mode) / "m.debug", "rb") as f:
            info.ParseFromString(f.read())
        assert "v" in set(info.traces) | {k.split("@")[0] for k in info.name_to_trace_id}
    assert counts[True] == counts[False] > 0


SYNC_AND_ASYNC_ONE_STATE_FILE = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
from legacy_saver.saver import Saver
v1 = tf.compat.v1
v1.disable_eager_execution()
work = sys.argv[1]
with tf.Graph().as_default():
    a = v1.get_variable("a", [256, 256], initializer=v1.zeros_initializer())
    b = v1.get_variable("b", [256, 256], initializer=v1.zeros_initializer())
    sync, background = Saver([a]), Saver([b], async_save=True)
    with v1.Session() as sess:
        sess.run(v1.global_variables_initializer())
        for step in range(6):
            background.save(sess, os.path.join(work, "b"), global_step=step)
            sync.save(sess, os.path.join(work, "a"), global_step=step)  # same state file
        done = background.wait(timeout=30)
        print("done" if done else "deadlocked", flush=True)
        os._exit(0)
"""


@pytest.mark.tf
def test_a_sync_and_an_async_saver_sharing_a_state_file_do_not_deadlock(tmp_path):
    """The sync Saver read the state file while holding its lock, and that read waited for
    the async Saver's commit, which waited for the lock: deadlock (found by review)."""
    pytest.importorskip("tensorflow")
    _assert_done(SYNC_AND_ASYNC_ONE_STATE_FILE, tmp_path)
    listed = (tmp_path / "checkpoint").read_text()
    assert "a-5" in listed and "b-5" in listed
