"""Saves that do not stop training: ``Saver(async_save=True)`` in graph mode.

A save has two parts:

1. **Snapshot** (``save()`` blocks for this only): one ``session.run`` copies every saved
   tensor (each slice of a partitioned variable) into a *shadow* variable on the host. The
   shadows are created once, when the Saver is built, so every save copies into the same
   buffers: a steady-state save allocates nothing and faults no fresh pages (on these
   machines a fresh 2 GB allocation costs seconds; a copy into existing memory a fraction
   of that). They are reference variables filled by ``Assign``, which copies into the
   shadow's buffer once it is initialized (and never adopts the source's buffer: a
   resource variable filled by ``AssignVariableOp`` from a reference variable would alias
   it, and training would change the snapshot).
2. **Write and commit** (a background thread): the shadow save op, which is the
   synchronous save op's very structure (``builder.add_save_ops`` /
   ``add_sharded_save_ops``: the same ``SaveV2`` kernel, keys, slice specs and shards) fed
   from the shadows, writes the checkpoint under a temporary prefix; then the usual commit
   order follows: data and index renamed into place (``atomic``), the ``.meta`` (serialized
   at ``save()`` time), the digest, the state file, retention. The files are therefore
   bitwise identical to a synchronous save of the same values.

Guarantees: the checkpoint holds the values at the moment ``save()`` ran (training steps
after it change the variables, never the shadows); at most one write is in flight (the next
``save()`` waits for it); nothing reaches the state file before its files are complete;
``restore()`` of any Saver, ``load_checkpoint`` and this package's
``latest_checkpoint``/``get_checkpoint_state`` wait for a pending write of what they read
(``bundle.pending``); a tensor ``global_step`` is read from its variable's snapshot
(``Snapshot.step_shadow``); relative paths mean what they meant at ``save()``
(``_working_directory``); an error in the background is
raised by the next ``save()``, ``wait()`` or ``close()`` and never lost; at interpreter exit
pending writes are drained, for at most ``EXIT_TIMEOUT_S`` each, with a log line either way.

The write runs the session's save op: closing the session waits for it (``guard_close``).
Call ``saver.wait()`` (or ``close()``) to have its error raised (``AsyncCheckpointSaverHook``
does this for ``MonitoredTrainingSession``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import functools
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
from tensorflow.python.client.session import BaseSession
from tensorflow.python.training.saving import saveable_object_util

from ..bundle import pending
from .builder import BuiltSaver, SaveGroup, add_save_ops, add_sharded_save_ops

log = logging.getLogger(__name__)

SNAPSHOT_SCOPE = "async_snapshot"  # name scope of the shadows; left out of exported graphs
EXIT_TIMEOUT_S = 600.0  # at interpreter exit, wait this long for each pending write


@dataclass(frozen=True)
class Snapshot:
    """The ops an async Saver adds: copy into the shadows, and save from them."""

    scope: str  # the name scope holding every node below (stripped from exports)
    copy_op: Any  # run to take the snapshot
    filename: Any  # feed the (temporary) prefix here
    save_tensor: Any  # run to write the shadows' checkpoint; its value is the prefix
    shadow_of: dict[Any, Any]  # variable op -> the shadow of its whole value

    def step_shadow(self, step: Any) -> Any | None:
        """The shadow holding the snapshot of the variable behind ``step`` (a global-step
        tensor of this graph), or None if this Saver does not save it whole or reading
        ``step`` does more than read it (a control dependency runs an op)."""
        op = _variable_op(step)
        return None if op is None else self.shadow_of.get(op)


def _variable_op(tensor: Any) -> Any | None:
    """The op behind a variable's value tensor, through plain reads and identities; None
    where one of them carries control dependencies (reading the tensor runs other ops)."""
    op = tensor.op
    while op.type in ("Identity", "ReadVariableOp") and len(op.inputs):
        if op.control_inputs:
            return None
        op = op.inputs[0].op
    return None if op.control_inputs else op


def build_snapshot(built: BuiltSaver, sharded: bool) -> Snapshot:
    """Adds shadows of every tensor ``built``'s save op writes, and a save op over them."""
    with tf.compat.v1.name_scope(SNAPSHOT_SCOPE) as scope:
        filename = tf.compat.v1.placeholder(tf.string, shape=(), name="filename")
        copies, shadow_groups = [], []
        shadow_of: dict[Any, Any] = {}
        for i, group in enumerate(built.groups):
            with tf.device(saveable_object_util.set_cpu0(group.device) if sharded else "/cpu:0"):
                handles = [_shadow(t, f"shadow_{i}_{j}") for j, t in enumerate(group.tensors)]
                for t, spec, h in zip(group.tensors, group.slices, handles, strict=True):
                    source = _variable_op(t)
                    if not spec and source is not None:  # a whole variable, not a slice
                        shadow_of.setdefault(source, h)
                copies += [
                    tf.raw_ops.Assign(ref=h, value=t, validate_shape=False, use_locking=True)
                    for h, t in zip(handles, group.tensors, strict=True)
                ]
            shadow_groups.append((group, handles))
        copy_op = tf.group(*copies, name="copy")
        if sharded:
            inputs = [(g.device, _reader(g, handles)) for g, handles in shadow_groups]
            save_tensor, _ = add_sharded_save_ops(filename, inputs)
        else:
            group, handles = shadow_groups[0]
            save_tensor = add_save_ops(filename, SaveGroup("", *_reader(group, handles)()))
    return Snapshot(scope.rstrip("/"), copy_op, filename, save_tensor, shadow_of)


def _shadow(tensor: Any, name: str) -> Any:
    graph = tf.compat.v1.get_default_graph()
    unique = graph.unique_name(name, mark_as_used=False)
    return tf.raw_ops.VariableV2(
        shape=tensor.shape, dtype=tensor.dtype.base_dtype, shared_name=unique, name=name
    )


def _reader(group: SaveGroup, handles: list[Any]) -> Callable[[], tuple[Any, Any, Any]]:
    """A thunk of ``(names, slices, tensors)`` reading the shadows (called in the shard's
    device scope by the builder, as for the real tensors)."""

    def inputs() -> tuple[Any, Any, Any]:
        return group.names, group.slices, tuple(handles)  # SaveV2 reads the refs

    return inputs


class BackgroundWriter:
    """At most one background write at a time, its error kept for the next caller."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._launched = threading.Event()
        self._launched.set()
        self._session: Callable[[], Any] | None = None
        self._target: str | None = None
        self._error: BaseException | None = None
        self._directory: str | None = None
        self._lock = threading.Lock()
        _LIVE.add(self)

    @property
    def pending(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def writes_with(self, session: Any) -> bool:
        """Whether the pending write runs on ``session``."""
        ref = self._session
        return self.pending and ref is not None and ref() is session

    def drain(self, timeout: float | None = None, why: str = "") -> None:
        """Waits up to ``timeout`` (None: until done) for the pending write, its error kept
        for the owner; logs if it did not finish. The writer thread never waits for itself."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        self._join(thread, timeout)
        if thread.is_alive():
            log.error("legacy_saver: a background save did not finish in %.0f s before %s; "
                      "the previous checkpoint stays the latest", timeout, why)  # fmt: skip

    def targets(self, prefix: str) -> bool:
        """The ``pending`` protocol: whether the pending write is of checkpoint ``prefix``."""
        return self._target is not None and os.path.abspath(prefix) == self._target

    def start(
        self, directory: str, work: Callable[[], None], session: Any = None,
        target: str | None = None,
    ) -> None:  # fmt: skip
        """Runs ``work`` in a thread (after the previous write finished; call ``wait``),
        in the working directory of now (``_working_directory``)."""
        with self._lock:
            if self.pending:
                raise RuntimeError("a background save is still running; call wait() first")
            self._directory = os.path.realpath(directory or ".")
            cwd = _open_cwd()
            thread = threading.Thread(
                target=self._run, args=(work, cwd), name="legacy-saver-async-save", daemon=True
            )
            launched = threading.Event()  # joins wait for it: start() may still be running
            self._launched = launched  # before the thread: a join sees it unset, and waits
            self._thread = thread
            self._session = _weak_or_none(session)
            self._target = None if target is None else os.path.abspath(target)
            pending.register(self._directory, self)  # readers wait from now on
            try:
                thread.start()
            except BaseException:
                self._thread = None  # never started: nothing to wait for
                if cwd is not None:
                    os.close(cwd)
                pending.unregister(self._directory, self)
                raise
            finally:
                launched.set()

    def _join(self, thread: threading.Thread, timeout: float | None = None) -> None:
        """Joins ``thread`` once ``start()`` has returned (a reader may come between the
        registration and the start); a thread whose start failed is not waited for."""
        self._launched.wait()
        if thread is self._thread or thread.ident is not None:
            thread.join(timeout)

    def _run(self, work: Callable[[], None], cwd: int | None) -> None:
        try:
            with pending.writing(), _working_directory(cwd):  # reads wait for no one
                work()
        except BaseException as error:  # noqa: BLE001 - kept and re-raised to the caller
            self._error = error
            log.error("legacy_saver: background save failed (raised by the next save(), "
                      "wait() or close()): %s", error)  # fmt: skip
        finally:
            if self._directory is not None:
                pending.unregister(self._directory, self)

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the pending write is committed (True) or ``timeout`` passes
        (False); raises the write's error once. The writer thread itself never waits."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            self._join(thread, timeout)
            if thread.is_alive():
                return False
        error, self._error = self._error, None
        if error is not None:
            raise error
        return True

    # the ``pending`` registry's protocol: readers of the state file wait for us
    def __call__(self) -> None:
        self.drain()


_LIVE: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()

CLONE_FS = 0x00000200  # linux/sched.h: the working directory, root and umask


def _open_cwd() -> int | None:
    """A descriptor of the working directory (``O_PATH``: no read permission needed), or
    None where it cannot be opened (then the write uses whatever is current)."""
    try:
        return os.open(".", getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0))
    except OSError as error:
        log.warning("legacy_saver: cannot open the working directory (%s); relative paths "
                    "of this async save follow later os.chdir calls", error)  # fmt: skip
        return None


@contextlib.contextmanager
def _working_directory(cwd: int | None) -> Iterator[None]:
    """Runs the body in the directory ``cwd`` (a descriptor, closed here) was opened on at
    ``save()``: relative paths mean what they meant then, as for a synchronous save, even
    if the program changes its working directory while the write is pending.

    On Linux this thread gets a working directory of its own (``unshare(CLONE_FS)``,
    unprivileged; threads it starts share it), so ``os.chdir`` elsewhere does not reach
    it. TensorFlow's kernels run in its own thread pool, whose working directory is the
    process's: the Saver feeds them absolute prefixes. Where a private working directory
    is not available, a changed one is refused before anything is written (``OSError``
    naming the current one), and a change during the write is not noticed (docs/saver.md)."""
    if cwd is None:
        yield
        return
    try:
        private = _private_cwd()
        if private:
            os.fchdir(cwd)
        elif not os.path.samestat(os.fstat(cwd), os.stat(".")):
            raise OSError(
                errno.ESTALE,
                "the working directory changed while an async save was pending (relative "
                f"save paths would land elsewhere): now {os.getcwd()!r}",
            )
    finally:
        os.close(cwd)
    with pending.private_cwd() if private else contextlib.nullcontext():
        yield


def follow_process_umask() -> None:
    """A private working directory comes with a private umask (``CLONE_FS``), copied when
    the thread made it: before writing its own files (the ``.meta``, digest, state file)
    the write takes the process's umask of now, which TensorFlow's kernels used for the
    data and index, so every file of one checkpoint gets the same mode."""
    if not pending.has_private_cwd():
        return
    mask = _process_umask()
    if mask is not None:
        os.umask(mask)


def _process_umask() -> int | None:
    """The umask the process's other threads share: the main thread's, or (once it has
    exited: a zombie leader's status has no umask) another thread's, not this one's
    (``/proc/self/task/<tid>/status``); None without ``/proc``."""
    me = str(threading.get_native_id())
    try:
        tasks = sorted(os.listdir("/proc/self/task"), key=lambda t: (t != str(os.getpid()), t))
    except OSError:
        return None
    for task in tasks:
        if task == me:
            continue
        try:
            with open(f"/proc/self/task/{task}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("Umask:"):
                        return int(line.split()[1], 8)
        except (OSError, ValueError):
            continue  # gone meanwhile, or unreadable
    return None


def _private_cwd() -> bool:
    """Gives the calling thread its own working directory (Linux); False if impossible."""
    unshare = _libc_unshare()
    if unshare is None:
        return False
    if unshare(CLONE_FS) == 0:
        return True
    log.warning("legacy_saver: unshare(CLONE_FS) failed (%s); an async save uses the "
                "process's working directory", os.strerror(ctypes.get_errno()))  # fmt: skip
    return False


@functools.cache
def _libc_unshare() -> Any:
    """libc's ``unshare`` (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        unshare = ctypes.CDLL(None, use_errno=True).unshare
    except (OSError, AttributeError):
        return None
    unshare.argtypes = [ctypes.c_int]
    unshare.restype = ctypes.c_int
    return unshare


@atexit.register
def _drain_at_exit() -> None:
    for writer in list(_LIVE):
        if not writer.pending:
            continue
        log.warning("legacy_saver: waiting up to %.0f s for a background save to finish",
                    EXIT_TIMEOUT_S)  # fmt: skip
        try:
            done = writer.wait(EXIT_TIMEOUT_S)
        except BaseException as error:  # noqa: BLE001 - exiting: report, do not raise
            log.error("legacy_saver: the last background save failed: %s", error)
            continue
        if not done:
            log.error("legacy_saver: a background save did not finish in %.0f s; the "
                      "previous checkpoint stays the latest", EXIT_TIMEOUT_S)  # fmt: skip


def guard_close(raw: Any, writer: BackgroundWriter) -> None:
    """Makes closing the session ``raw`` (``_raw_session``: the innermost one) first wait
    for ``writer``'s pending write *on that session*, which runs the session's save op: a
    ``with Session()`` block left by ``sys.exit()`` or an exception, ``MonitoredTrainingSession``
    skipping the hooks' ``end()`` after a failed step, or a stock ``CheckpointSaverHook`` would
    otherwise close it under the write and lose the checkpoint. The wait is bounded as the
    exit drain's (``EXIT_TIMEOUT_S``, logged); the write's error stays for the Saver's next
    call; the session is closed either way. A session object that cannot be guarded (no
    ``close``, no weak references, no attributes) is left as it is."""
    try:
        writers = raw.__dict__.get("_legacy_saver_writers")
        if writers is None:
            writers = weakref.WeakSet()
            close = type(raw).close  # the class's: no reference cycle through the session
            session = weakref.ref(raw)

            def drained_close() -> None:
                alive = session()
                for pending_writer in list(writers):
                    if alive is not None and pending_writer.writes_with(alive):
                        pending_writer.drain(EXIT_TIMEOUT_S, "closing its session")
                if alive is not None:
                    close(alive)

            raw.close = drained_close
            raw._legacy_saver_writers = writers
    except (AttributeError, TypeError):
        return  # a session we cannot guard: close() after wait() (docs/saver.md)
    writers.add(writer)


def _weak_or_none(obj: Any) -> Callable[[], Any] | None:
    if obj is None:
        return None
    try:
        return weakref.ref(obj)
    except TypeError:
        return None


def _raw_session(sess: Any) -> Any:
    """The session (``BaseSession``) under ``MonitoredSession``'s wrappers (``_sess``)."""
    for _ in range(16):
        if isinstance(sess, BaseSession) or not hasattr(sess, "_sess"):
            return sess
        sess = sess._sess
    return sess


class AsyncSaves:
    """The async half of one ``Saver``: its snapshot ops and its background writer."""

    def __init__(self, saver: Any, built: BuiltSaver) -> None:
        self._saver = saver
        self.snapshot = build_snapshot(built, saver._options.sharded)
        self._writer = BackgroundWriter()
        self._saving = threading.Lock()

    def save(
        self, sess: Any, named: Callable[[int | None], str], step: Any, save_dir: str,
        latest_filename: str, meta_graph_suffix: str, write_meta_graph: bool,
        write_state: bool, strip_default_attrs: bool, save_debug_info: bool,
    ) -> str:  # fmt: skip
        """Wait for the previous write, snapshot, hand the rest to the thread; the prefix.

        ``step`` is None, an int, or a tensor, read after the previous write finished:
        the snapshot of its variable when this Saver saves it (the name ``named(step)``
        is then the step the checkpoint holds, whatever training does meanwhile), else
        in a run of its own before the snapshot, as a synchronous save reads it."""
        saver = self._saver
        with self._saving:  # save() from two threads: one after the other, as sync saves
            self._writer.wait()  # at most one in flight; its error surfaces here
            if step is None or isinstance(step, int):
                sess.run(self.snapshot.copy_op)
            elif (shadow := self.snapshot.step_shadow(step)) is not None:
                sess.run(self.snapshot.copy_op)
                step = int(sess.run(shadow))
            else:  # as a synchronous save: the step's own run (its ops too), then the copy
                step = int(sess.run(step))
                sess.run(self.snapshot.copy_op)
            checkpoint_file = named(step)
            meta = debug = None
            if write_meta_graph:
                meta, debug = saver._meta_graph_def(sess, strip_default_attrs, save_debug_info)
            op = (self.snapshot.save_tensor, self.snapshot.filename)

            def write_and_commit() -> None:
                path = saver._write_checkpoint(sess, checkpoint_file, save_op=op)
                follow_process_umask()
                saver._publish(path, checkpoint_file, save_dir, meta, latest_filename,
                               meta_graph_suffix, write_state, debug)  # fmt: skip

            raw = _raw_session(sess)
            guard_close(raw, self._writer)
            self._writer.start(save_dir, write_and_commit, raw, checkpoint_file)
        return checkpoint_file

    def wait(self, timeout: float | None = None) -> bool:
        return self._writer.wait(timeout)

    def without_snapshot(self, graph_def: Any) -> Any:
        """``graph_def`` without the shadow nodes: the exported graph is the one a
        synchronous Saver exports."""
        prefix = self.snapshot.scope + "/"
        kept = [n for n in graph_def.node if not n.name.startswith(prefix)]
        if len(kept) == len(graph_def.node):
            return graph_def
        out = type(graph_def)()
        out.CopyFrom(graph_def)
        del out.node[:]
        out.node.extend(kept)
        return out
