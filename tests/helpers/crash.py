"""The crash-replay harness: a crash after every file operation, replayed.

``Recorder`` stands in for ``os`` (and ``open`` for writing) in the modules under
test and logs every mutating file operation (create, replace/rename, remove,
fsync, directory open). A reference run gives the sequence; ``replay_every_crash``
then replays the action in a fresh directory for every ``k`` with a ``Crash`` (a
``BaseException``) at operation ``k``: operations ``0..k-1`` happen, nothing after
does, not even ``except`` clean-ups, as if the process had been killed.
``check_durability_order`` checks that each file is fsynced before the rename that
commits it, and the directory after. Used by ``tests/test_reliability_crash.py``.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from legacy_saver import load_checkpoint
from legacy_saver.bundle import fileio as fileio_module
from legacy_saver.bundle.naming import is_temp


class Crash(BaseException):
    """The simulated power cut."""


class Recorder:
    """Logs file operations; raises ``Crash`` at operation ``crash_at`` and every one after."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.ops: list[tuple[str, str]] = []
        self.crash_at = crash_at
        self.crashed = False

    def step(self, op: str, path: str) -> None:
        if self.crashed or (self.crash_at is not None and len(self.ops) >= self.crash_at):
            self.crashed = True
            raise Crash(f"crash before {op} {path}")
        self.ops.append((op, path))


class DiskFull(Recorder):
    """Logs file operations; operation ``fail_at`` (unless a removal: a full disk still
    unlinks) raises ``OSError(ENOSPC)`` once, as a full disk does, and the rest run, so
    the code under test cleans up as it would."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__(None)
        self.fail_at = fail_at
        self.failed: tuple[str, str] | None = None

    def step(self, op: str, path: str) -> None:
        self.ops.append((op, path))
        if self.failed is None and len(self.ops) - 1 == self.fail_at and op != "remove":
            self.failed = (op, path)
            raise OSError(errno.ENOSPC, "No space left on device", path)


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


class OsProxy:
    """``os`` with the mutating calls routed through a ``Recorder``."""

    def __init__(self, rec: Recorder) -> None:
        self._rec = rec

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def replace(self, src: str, dst: str) -> None:
        self._rec.step("replace", f"{src} -> {dst}")
        os.replace(src, dst)

    def rename(self, src: str, dst: str) -> None:
        self._rec.step("replace", f"{src} -> {dst}")
        os.rename(src, dst)

    def remove(self, path: str) -> None:
        self._rec.step("remove", path)
        os.remove(path)

    unlink = remove

    def fsync(self, fd: int) -> None:
        """Recorded, not performed: the tests check the order, not the disk."""
        self._rec.step("fsync", _fd_path(fd))

    def open(self, path: str, flags: int, *args: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            self._rec.step("create", path)
        return os.open(path, flags, *args)

    def makedirs(self, path: str, *args: Any, **kwargs: Any) -> None:
        if not os.path.isdir(path):
            self._rec.step("mkdir", path)
        os.makedirs(path, *args, **kwargs)


def recording_open(rec: Recorder) -> Callable[..., Any]:
    def _open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(c in mode for c in "wax+"):
            rec.step("create", os.fspath(path))
        return builtins.open(path, mode, *args, **kwargs)

    return _open


@contextlib.contextmanager
def recording(rec: Recorder, modules: list[ModuleType]) -> Iterator[Recorder]:
    saved = [(m, m.__dict__.get("os"), m.__dict__.get("open")) for m in modules]
    try:
        for m in modules:
            m.os = OsProxy(rec)  # type: ignore[attr-defined]
            m.open = recording_open(rec)  # type: ignore[attr-defined]
        yield rec
    finally:
        for m, old_os, old_open in saved:
            m.os = old_os  # type: ignore[attr-defined]
            if old_open is None:
                del m.open  # type: ignore[attr-defined]
            else:
                m.open = old_open  # type: ignore[attr-defined]


def replay_every_crash(
    root: str,
    setup: Callable[[str], Any],
    action: Callable[[str], Any],
    check: Callable[[str, int, list[tuple[str, str]]], None],
    modules: list[ModuleType],
    points: Callable[[int], list[int]] | None = None,
) -> list[tuple[str, str]]:
    """Run ``action`` once to record its operations, then once per crash point
    (all ``0..len(ops)``, or ``points(len(ops))``) in a fresh directory,
    calling ``check(dir, k, ops)`` after each crash."""
    reference = os.path.join(root, "reference")
    os.makedirs(reference)
    setup(reference)
    with recording(Recorder(), modules) as rec:
        action(reference)
    ops = rec.ops
    for k in points(len(ops)) if points else range(len(ops) + 1):
        d = os.path.join(root, f"crash{k:03d}")
        os.makedirs(d)
        setup(d)
        with recording(Recorder(crash_at=k), modules):
            try:
                action(d)
            except Crash:
                pass
        check(d, k, ops)
    return ops


def check_durability_order(ops: list[tuple[str, str]], directory: str) -> None:
    """Every replaced file was fsynced before its rename; the directory after the last."""
    fsynced = {path for op, path in ops if op == "fsync"}
    renames = [  # commits; a rename *into* a temporary name is a deletion's first step
        i for i, (op, p) in enumerate(ops)
        if op == "replace" and not is_temp(os.path.basename(p.split(" -> ")[1]))
    ]  # fmt: skip
    assert renames, ops
    for i in renames:
        src = ops[i][1].split(" -> ")[0]
        earlier = {p for op, p in ops[:i] if op == "fsync"}
        assert os.path.realpath(src) in {os.path.realpath(p) for p in earlier}, (src, ops)
    tail = ops[renames[-1] + 1 :]
    assert ("fsync", os.path.realpath(directory)) in [
        (op, os.path.realpath(p)) for op, p in tail
    ], f"directory not fsynced after the last rename: {tail}"
    assert fsynced


# -- the Saver under crashes ------------------------------------------------


def saver_modules() -> list[ModuleType]:
    from legacy_saver.bundle import files as checkpoint_files
    from legacy_saver.bundle import state, temps
    from legacy_saver.saver import atomic, ledger, meta_graph

    return [atomic, state, checkpoint_files, ledger, meta_graph, fileio_module, temps]


class SaverRig:
    """One graph, session and variables; ``save(d, step)`` stores ``step`` in them."""

    def __init__(self, tf: Any, sharded: bool) -> None:
        from legacy_saver import Saver

        self.tf, self.sharded, self.Saver = tf, sharded, Saver
        self.graph = tf.Graph()
        config = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
        with self.graph.as_default():
            with tf.device("/cpu:0"):
                a = tf.compat.v1.get_variable("a", [3, 4], tf.float32)
            with tf.device("/cpu:1"):
                b = tf.compat.v1.get_variable("b", [5], tf.int64)
            self.step = tf.compat.v1.placeholder(tf.int64, [])
            self.assign = [
                a.assign(tf.fill([3, 4], tf.cast(self.step, tf.float32))),
                b.assign(tf.fill([5], self.step)),
            ]
            self.sess = tf.compat.v1.Session(graph=self.graph, config=config)
            self.sess.run(tf.compat.v1.global_variables_initializer())

    def new_saver(self) -> Any:
        with self.graph.as_default():
            return self.Saver(max_to_keep=2, sharded=self.sharded, save_relative_paths=True)

    def save(self, saver: Any, d: str, step: int) -> str:
        self.sess.run(self.assign, {self.step: step})
        return saver.save(self.sess, os.path.join(d, "model"), global_step=step)  # type: ignore[no-any-return]


def step_of(prefix: str) -> int:
    reader = load_checkpoint(prefix)
    a, b = reader.get_tensor("a"), reader.get_tensor("b")
    assert (a == a.flat[0]).all() and (b == b[0]).all() and int(a.flat[0]) == int(b[0]), prefix
    return int(b[0])


def check_saver_directory(d: str) -> tuple[int, list[str]]:
    """The invariants after a crash; returns (latest step, orphaned file names)."""
    from legacy_saver.state import get_checkpoint_state, latest_checkpoint

    latest = latest_checkpoint(d)
    assert latest is not None
    step = step_of(latest)
    assert latest.endswith(f"model-{step}")
    listed = get_checkpoint_state(d).all_model_checkpoint_paths
    for prefix in listed:  # every listed checkpoint is whole: .index, data, .meta
        assert os.path.exists(prefix + ".index") and os.path.exists(prefix + ".meta"), prefix
        assert step_of(prefix) == int(prefix.rsplit("-", 1)[1])
    for name in os.listdir(d):  # listed or not: every checkpoint that exists is whole
        if name.endswith(".index") and ".tmp-" not in name:
            step_of(os.path.join(d, name[: -len(".index")]))
    names = {os.path.basename(p) for p in listed}
    orphans = [n for n in os.listdir(d) if n != "checkpoint" and n.split(".")[0] not in names]
    return step, orphans
