"""``Saver``: a graph-mode TF1 Saver, drop-in for ``tf.compat.v1.train.Saver``.

Same constructor, methods and files; it builds its own ``SaveV2``/``RestoreV2``
subgraph and ``SaverDef`` (``builder.py``) and fixes the traps of TensorFlow's:

* ``save`` writes under a temporary prefix and renames, ``.index`` last, then the
  ``.meta`` (also renamed into place), fsyncs, and only then updates the state file
  (``atomic.py``); it creates a missing parent directory.
* ``restore`` checks every key, shape and dtype against the checkpoint's index before
  running anything and raises one ``RestoreMismatchError`` listing all problems
  (``checks.py``); TF2 object-based checkpoints restore through ``full_name``.
* retention survives restarts: timestamps and ``last_preserved_timestamp`` go to the
  state file, a new Saver adopts what it lists, every surplus checkpoint is deleted
  (``ledger.py``, ``retention.py``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import meta_graph as tf_meta_graph

from ..bundle import files, pending
from ..bundle.digest import write_digest
from ..bundle.naming import as_tensorflow_means, local_path, meta_path, state_path
from ..errors import UnsupportedFeatureError
from . import atomic, eager, tf_metrics
from .builder import (
    SAVER_DEF_V2,
    V1_DEPRECATION,
    BuildOptions,
    all_saveables,
    build_saver,
    check_write_version,
)
from .ledger import Ledger
from .meta_graph import (
    debug_info,
    debug_info_path,
    export_meta_graph,
    require_graph_mode,
    write_meta_graph_file,
)
from .naming import as_str, prepend_scope, step_tensor, strip_scope, v1_any_count
from .restoring import GraphRestorer
from .retention import RetentionOptions
from .specs import with_reshape
from .tf_errors import saving_error
from .tf_types import Proto, SaverDef, Session, Tensor, VarList

if TYPE_CHECKING:
    from .background import AsyncSaves

DEFAULT_LATEST_FILENAME = "checkpoint"


class Saver:
    """Saves and restores variables, as ``tf.compat.v1.train.Saver`` (same arguments).

    Differences: ``builder`` must be None (this Saver builds its own ops) and
    ``write_version`` must be V2; both raise ``UnsupportedFeatureError`` otherwise.
    ``max_to_keep=None``/0 keeps every checkpoint and lists them all in the state file.
    One extra keyword: ``fsync=True`` flushes checkpoint files, the ``.meta``, the state
    file and the directory to disk before the state file points at them (TensorFlow
    never fsyncs); ``fsync=False`` keeps the renames (atomicity) but not durability.
    ``digest=True`` also writes ``<prefix>.sha256`` over the ``.meta``, ``.index`` and data
    shards before the state file points at them; ``restore`` verifies any such manifest,
    so a tampered ``.meta`` (which has no checksum of its own) is refused.
    ``async_save=True`` makes ``save()`` return once the values are snapshotted; the
    checkpoint is written and committed in a background thread (``background.py``);
    ``wait()`` blocks until it is committed, ``close()`` drains before the session closes.
    """

    def __init__(
        self,
        var_list: VarList | None = None,
        reshape: bool = False,
        sharded: bool = False,
        max_to_keep: int | None = 5,
        keep_checkpoint_every_n_hours: float = 10000.0,
        name: str | None = None,
        restore_sequentially: bool = False,
        saver_def: SaverDef | None = None,
        builder: object = None,
        defer_build: bool = False,
        allow_empty: bool = False,
        write_version: int = SAVER_DEF_V2,
        pad_step_number: bool = False,
        save_relative_paths: bool = False,
        filename: str | None = None,
        *,
        fsync: bool = True,
        digest: bool = False,
        async_save: bool = False,
    ) -> None:
        self._eager = tf.executing_eagerly()
        if self._eager and var_list is None and saver_def is None:
            raise RuntimeError(eager.NEEDS_VAR_LIST)
        if builder is not None:
            raise UnsupportedFeatureError(
                "builder: this Saver builds its own save/restore ops; a TensorFlow "
                "BaseSaverBuilder cannot be used. Pass builder=None."
            )
        if defer_build and var_list:
            raise ValueError(
                "If `var_list` is provided then build cannot be deferred. "
                "Either set defer_build=False or var_list=None."
            )
        if saver_def is None:
            check_write_version(write_version)
        elif not isinstance(saver_def, tf.compat.v1.train.SaverDef):
            raise ValueError(f"saver_def must be a saver_pb2.SaverDef: {saver_def!r}")
        if async_save and saver_def is not None:
            raise UnsupportedFeatureError(
                "async_save=True needs a Saver that builds its own ops (no saver_def): the "
                "snapshot mirrors the save op it builds"
            )
        if async_save and (self._eager or write_version != SAVER_DEF_V2):
            raise UnsupportedFeatureError(
                "async_save=True works in graph mode with write_version=SaverDef.V2"
            )
        self._write_version = write_version if saver_def is None else saver_def.version
        self._var_list = var_list
        self._options = BuildOptions(
            reshape=reshape,
            sharded=sharded,
            max_to_keep=max_to_keep or 0,
            keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours,
            name=name,
            restore_sequentially=restore_sequentially,
            filename=filename,
            write_version=self._write_version,
        )
        self.saver_def: SaverDef | None = None if saver_def is None else _copy(saver_def)
        self._name = name
        self._allow_empty = allow_empty
        self._pad_step_number = pad_step_number
        self._save_relative_paths = save_relative_paths
        self._fsync = fsync
        self._digest = digest
        self._async_save = async_save
        self._background: AsyncSaves | None = None  # built with the save ops
        self._fresh: dict[str, bool] = {}  # written, not yet published: did it create it?
        self._is_built = False
        self._is_empty: bool | None = None  # None: not built yet
        self._restorer = GraphRestorer()
        self._ledger = Ledger(
            RetentionOptions(max_to_keep, keep_checkpoint_every_n_hours),
            scope=None if self._eager else tf.compat.v1.get_default_graph(),
        )
        tf_metrics.started()
        if self._eager:  # stock's eager Saver: ops run at each save and restore
            self.saver_def = self.saver_def or eager.saver_def(self._options)
            self._is_empty = False
        elif not defer_build:
            self.build()

    # -- building -------------------------------------------------------------------

    def build(self) -> None:
        """Builds the save/restore ops (once); needed after ``defer_build=True``."""
        if self._eager:
            raise RuntimeError(eager.NO_BUILD)
        if self._is_built:
            return
        self._is_built = True
        if self.saver_def is None:
            var_list = all_saveables() if self._var_list is None else self._var_list
            if not var_list:
                if self._allow_empty:
                    self._is_empty = True
                    return
                raise ValueError("No variables to save")
            built = build_saver(var_list, self._options)
            self.saver_def = built.saver_def
            if self._async_save:
                from .background import AsyncSaves

                self._background = AsyncSaves(self, built)
            self._restorer.specs = with_reshape(built.specs, self._options.reshape)
        elif self._name:  # an import scope, as TF overloads ``name``
            for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
                setattr(
                    self.saver_def, field, prepend_scope(getattr(self.saver_def, field), self._name)
                )
        self._is_empty = False
        self._check_saver_def()
        self._ledger.created = _now()
        self._ledger.options = RetentionOptions(  # the SaverDef's, as stock's (from_proto)
            self.saver_def.max_to_keep, self.saver_def.keep_checkpoint_every_n_hours
        )

    def _check_saver_def(self) -> None:
        saver_def = self._built_saver_def()
        if not saver_def.save_tensor_name:
            raise ValueError(f"saver_def must specify the save_tensor_name: {saver_def}")
        if not saver_def.restore_op_name:
            raise ValueError(f"saver_def must specify the restore_op_name: {saver_def}")

    def _eager_var_list(self) -> VarList:
        """Eager saves and restores run on ``var_list``: a Saver made from a ``saver_def``
        alone has none, and raises stock's RuntimeError at save and restore."""
        if self._var_list is None:
            raise RuntimeError(eager.NEEDS_VAR_LIST)
        return self._var_list

    def _built_saver_def(self) -> SaverDef:
        """The ``SaverDef`` that save and restore run (an empty or unbuilt Saver has none)."""
        if self.saver_def is None:
            raise RuntimeError("this Saver has no SaverDef: it is empty, or not built yet")
        return self.saver_def

    def as_saver_def(self) -> SaverDef | None:
        return self.saver_def

    def to_proto(self, export_scope: str | None = None) -> SaverDef | None:
        """The ``SaverDef``, with ``export_scope`` stripped (None if outside it, and for an
        empty Saver, which has none: TensorFlow's exporter then leaves it out)."""
        if export_scope is None or self.saver_def is None:
            return self.saver_def
        names = [
            self.saver_def.filename_tensor_name,
            self.saver_def.save_tensor_name,
            self.saver_def.restore_op_name,
        ]
        if not all(n.startswith(export_scope) for n in names):
            return None
        saver_def = _copy(self.saver_def)
        for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
            setattr(saver_def, field, strip_scope(getattr(saver_def, field), export_scope))
        return saver_def

    @staticmethod
    def _add_collection_def(
        meta_graph_def: Proto, key: str, export_scope: str | None = None
    ) -> None:
        """Adds collection ``key`` of the default graph to ``meta_graph_def`` (stock's)."""
        tf_meta_graph.add_collection_def(meta_graph_def, key, export_scope=export_scope)

    @staticmethod
    def from_proto(saver_def: SaverDef, import_scope: str | None = None) -> Saver:
        return Saver(saver_def=saver_def, name=import_scope)

    # -- the checkpoints this Saver keeps ------------------------------------------

    @property
    def last_checkpoints(self) -> list[str]:
        """Prefixes of the checkpoints ``max_to_keep`` counts (not yet deleted), oldest
        first, as stock's: empty when ``max_to_keep`` is None or 0, and without those
        ``keep_checkpoint_every_n_hours`` preserved. (The state file lists them all.)"""
        return self._ledger.active_paths if self._ledger.options.max_to_keep else []

    def set_last_checkpoints(self, last_checkpoints: list[str]) -> None:
        """Deprecated in TF: ``set_last_checkpoints_with_time`` (times are now)."""
        if not isinstance(last_checkpoints, list):
            raise TypeError("last_checkpoints must be a list.")
        self._ledger.set((p, _now()) for p in last_checkpoints)

    def set_last_checkpoints_with_time(
        self, last_checkpoints_with_time: list[tuple[str, float]]
    ) -> None:
        if not isinstance(last_checkpoints_with_time, list):
            raise TypeError("last_checkpoints_with_time must be a list.")
        self._ledger.set(last_checkpoints_with_time)

    def recover_last_checkpoints(self, checkpoint_paths: Iterable[str]) -> None:
        """Adopts these checkpoints with their files' mtimes (missing ones are skipped)."""
        self._ledger.recover(checkpoint_paths)

    # -- save ----------------------------------------------------------------------

    def save(
        self,
        sess: Session | None,
        save_path: str | bytes | os.PathLike[str],
        global_step: int | np.integer | Tensor | str | None = None,
        latest_filename: str | None = None,
        meta_graph_suffix: str = "meta",
        write_meta_graph: bool = True,
        write_state: bool = True,
        strip_default_attrs: bool = False,
        save_debug_info: bool = False,
    ) -> str | None:
        """Saves; returns the checkpoint prefix (None for an empty Saver).

        Order: data files, ``.index``, ``.meta``, state file, deletions; each file is
        complete under its final name before anything points at it.
        """
        start = time.time()
        if not self._is_built and not self._eager:
            raise RuntimeError("`build()` should be called before save if defer_build==True")
        latest_filename = latest_filename or DEFAULT_LATEST_FILENAME
        if self._write_version != SAVER_DEF_V2:
            for line in V1_DEPRECATION:  # as stock's, at every save
                tf.compat.v1.logging.warning(line)
        if os.path.split(latest_filename)[0]:
            raise ValueError("'latest_filename' must not contain path components")
        if not self._eager:
            _session(sess)
        save_path = as_tensorflow_means(local_path(as_str(save_path)))
        if os.path.basename(save_path) in (os.curdir, os.pardir) and global_step is None:
            raise ValueError(  # "a/.." would be listed as "..": the state file's parent
                f"'save_path' names a directory, not a checkpoint: {save_path!r}"
            )
        step = self._step(sess, save_path, global_step, latest_filename)
        save_dir = os.path.dirname(save_path)
        if save_dir and atomic.is_local(save_dir):
            atomic.make_parent(save_dir, save_path)  # TF raises here instead
        if self._background is not None:  # snapshot now; write and commit in a thread
            # A step tensor is read after the previous write finished, from the snapshot
            # of its variable: the name says the step of the values the checkpoint holds.
            return self._background.save(
                sess, functools.partial(self._named, save_path), step, save_dir,
                latest_filename, meta_graph_suffix, write_meta_graph, write_state,
                strip_default_attrs, save_debug_info,
            )  # fmt: skip
        if step is not None and not isinstance(step, int):
            step = int(_session(sess).run(step))
        checkpoint_file = self._named(save_path, step)
        path = None if self._is_empty else self._write_checkpoint(sess, checkpoint_file)
        meta = debug = None  # eager: no graph, no .meta (as stock)
        if write_meta_graph and not self._eager:
            meta, debug = self._meta_graph_def(_session(sess), strip_default_attrs, save_debug_info)
        self._publish(path, checkpoint_file, save_dir, meta, latest_filename,
                      meta_graph_suffix, write_state, debug)  # fmt: skip
        if path is not None and atomic.is_local(path):
            tf_metrics.wrote(start, path, self._write_version, meta_graph_suffix)
        return path

    def _meta_graph_def(
        self, sess: Session, strip_default_attrs: bool, save_debug_info: bool = False
    ) -> tuple[Proto, Proto | None]:
        """The ``.meta`` to write for a save from ``sess``, and its debug info (or None),
        both taken from the session's graph now (an async write runs in another thread,
        whose default graph is not the session's)."""
        with sess.graph.as_default():
            meta = self.export_meta_graph(strip_default_attrs=strip_default_attrs)
            return meta, debug_info(meta, sess.graph) if save_debug_info else None

    def _publish(
        self, path: str | None, checkpoint_file: str, save_dir: str,
        meta_graph_def: Proto | None, latest_filename: str, meta_graph_suffix: str,
        write_state: bool, debug: Proto | None = None,
    ) -> None:  # fmt: skip
        """After the data and index: the ``.meta``, the digest, the state file, retention.

        If one of them fails (a full disk), the checkpoint this save created is removed
        again, so nothing complete but unlisted stays behind, and the error names it
        (``_failed``). A checkpoint that replaced an existing prefix stays: it is whole.
        """
        fresh = path is not None and self._fresh.pop(path, False)
        step = "its .meta"
        try:
            if meta_graph_def is not None:
                filename = meta_path(checkpoint_file, meta_graph_suffix)
                write_meta_graph_file(meta_graph_def, filename, fsync=self._fsync)
                if debug is not None:  # save_debug_info: <name>.debug, as stock's exporter
                    write_meta_graph_file(debug, debug_info_path(filename), fsync=self._fsync)
            step = "its digest"
            if self._digest and path is not None and atomic.is_local(path):
                write_digest(path, fsync=self._fsync)  # .meta, .index, data: before the state
            step = "the state file " + state_path(save_dir or ".", latest_filename)
            if path is not None and write_state:
                self._ledger.record(
                    save_dir,
                    path,
                    latest_filename=latest_filename,
                    save_relative_paths=self._save_relative_paths,
                    version=self._built_saver_def().version,
                    meta_graph_suffix=meta_graph_suffix,
                    fsync=self._fsync,
                )
        except (OSError, tf.errors.OpError) as error:
            kept = not fresh
            if fresh and path is not None and atomic.is_local(path):
                files.remove_checkpoint(path, self._built_saver_def().version, meta_graph_suffix)
            raise saving_error(error, checkpoint_file, f"writing {step}", kept) from error

    def wait(self, timeout: float | None = None) -> bool:
        """``async_save``: block until the pending save is committed (True), or ``timeout``
        seconds passed (False); raises that save's error. Returns True at once otherwise."""
        return True if self._background is None else self._background.wait(timeout)

    def close(self) -> None:
        """Drain a pending background save (raising its error); call before closing the
        session it uses. A no-op for synchronous savers."""
        self.wait()

    def _step(
        self,
        sess: Session | None,
        save_path: str,
        global_step: int | np.integer | Tensor | str | None,
        latest_filename: str,
    ) -> int | Tensor | None:
        """The step that names the checkpoint: None, an int, or (graph mode) the tensor to
        read it from when the values are taken."""
        if global_step is None:
            if os.path.basename(save_path) == latest_filename and not self._options.sharded:
                raise ValueError(
                    f"'latest_filename' collides with 'save_path': "
                    f"'{latest_filename}' and '{save_path}'"
                )
            return None
        if self._eager:
            return int(eager.global_step_value(global_step))
        if isinstance(global_step, int | np.integer):
            return int(global_step)
        graph_sess = _session(sess)
        step = step_tensor(graph_sess.graph, global_step)
        if not hasattr(step, "op"):  # stock's session.run would say so after the wait
            raise TypeError(
                "global_step must be an int, a tensor, a variable or the name of one; got "
                f"{global_step!r} ({type(global_step).__name__})"
            )
        return step

    def _named(self, save_path: str, step: int | None) -> str:
        if step is None:
            return save_path
        if self._pad_step_number:
            return f"{save_path}-{step:08d}"
        return f"{save_path}-{step}"

    def _write_checkpoint(
        self,
        sess: Session | None,
        checkpoint_file: str,
        save_op: tuple[Tensor, Tensor] | None = None,
    ) -> str:
        """Run the save op (``save_op``: ``(save tensor, filename tensor)``, by default the
        SaverDef's) into a temporary prefix and commit it as ``checkpoint_file``."""
        if save_op is None:
            saver_def = self._built_saver_def()
            save_op = (saver_def.save_tensor_name, saver_def.filename_tensor_name)
        save_tensor, feed_name = save_op

        def run(prefix: str) -> str:
            if self._eager:
                return eager.save_to(self._eager_var_list(), prefix, self._options)
            fed = _for_kernels(prefix)
            written = as_str(_session(sess).run(save_tensor, {feed_name: fed}))
            return prefix + written[len(fed) :] if written.startswith(fed) else written

        if not atomic.is_local(checkpoint_file):
            return run(checkpoint_file)
        atomic.sweep_stale(os.path.dirname(checkpoint_file))
        fresh = not files.checkpoint_exists(checkpoint_file)
        try:
            with atomic.claimed(checkpoint_file) as temp:
                try:
                    with atomic.flushing(temp) if self._fsync else contextlib.nullcontext():
                        written = run(temp)
                    if not atomic.commit(temp, checkpoint_file, fsync=self._fsync):
                        raise FileNotFoundError(  # never a silent no-op, nor the old files
                            errno.ENOENT, "the save op wrote no checkpoint files", temp
                        )
                except BaseException:
                    atomic.abandon(temp)
                    raise
        except (OSError, tf.errors.OpError) as error:
            raise saving_error(error, checkpoint_file, "writing its data and index") from error
        # The save tensor may add a V1 shard pattern ("-?????-of-00002") to the prefix.
        path = (
            checkpoint_file + written[len(temp) :] if written.startswith(temp) else checkpoint_file
        )
        self._fresh[path] = fresh
        return path

    # -- restore -------------------------------------------------------------------

    def restore(
        self, sess: Session | None, save_path: str | bytes | os.PathLike[str] | None
    ) -> None:
        """Restores after checking every key, shape and dtype (see ``checks.py``).

        When the checkpoint's index holds every key with the expected dtype and
        shape (``QuickCheck``: raw bytes compared, nothing decoded), the restore op
        runs at once; otherwise ``plan_restore`` reads the index, raises the one
        error naming every problem, or maps the keys of a TF2 object-based
        checkpoint through ``full_name``.

        Raises:
            ValueError: ``save_path`` is None.
            CheckpointNotFoundError: No checkpoint at ``save_path``.
            RestoreMismatchError: Keys missing or shapes/dtypes differing; nothing
                was restored.
        """
        if self._is_empty:
            return
        if not self._is_built and not self._eager:
            raise RuntimeError("`build()` should be called before restore if defer_build==True")
        self.wait()  # an async save in flight: restore what it commits, never a half
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        save_path = as_tensorflow_means(local_path(as_str(save_path)), prefix=False)
        save_path = v1_any_count(save_path)  # stock's glob, resolved
        pending.wait_for_checkpoint(save_path, files.readable_now)  # another Saver's write
        start = time.time()
        if self._eager:
            eager.restore(self._eager_var_list(), save_path, self._options)
        else:
            self._restorer.restore(_session(sess), self._built_saver_def(), save_path)
        tf_metrics.read(start)

    # -- meta graph ----------------------------------------------------------------

    def export_meta_graph(
        self,
        filename: str | os.PathLike[str] | None = None,
        collection_list: Iterable[str] | None = None,
        as_text: bool = False,
        export_scope: str | None = None,
        clear_devices: bool = False,
        clear_extraneous_savers: bool = False,
        strip_default_attrs: bool = False,
        save_debug_info: bool = False,
    ) -> Proto:
        """Exports the default graph with this Saver's ``SaverDef`` (atomic write)."""
        require_graph_mode("Saver.export_meta_graph")
        graph = tf.compat.v1.get_default_graph()
        graph_def = graph.as_graph_def(add_shapes=True)
        if self._background is not None:
            graph_def = self._background.without_snapshot(graph_def)
        return export_meta_graph(
            filename=filename,
            graph_def=graph_def,
            saver_def=self.saver_def,
            collection_list=collection_list,
            as_text=as_text,
            export_scope=export_scope,
            clear_devices=clear_devices,
            clear_extraneous_savers=clear_extraneous_savers,
            strip_default_attrs=strip_default_attrs,
            save_debug_info=save_debug_info,
        )


PATH_MAX = 4096  # Linux's limit on a path passed to the kernel


def _for_kernels(prefix: str) -> str:
    """The prefix to feed TensorFlow's save kernels, which run in its thread pool and so
    resolve a relative path against the process's working directory. In an async write's
    thread, whose working directory is the one of ``save()`` (``background.py``), a
    relative prefix is joined to it (joined, not normalized: ``..`` was settled by
    ``as_tensorflow_means``), unless that is too long for the kernel; everywhere else the
    prefix is fed as given, as stock TensorFlow does."""
    if not pending.has_private_cwd() or not atomic.is_local(prefix) or os.path.isabs(prefix):
        return prefix
    joined = os.path.join(os.getcwd(), prefix)
    return joined if len(os.fsencode(joined)) < PATH_MAX else prefix


def _copy(saver_def: SaverDef) -> SaverDef:
    copy: SaverDef = tf.compat.v1.train.SaverDef()
    copy.CopyFrom(saver_def)
    return copy


def _session(sess: Session | None) -> Session:
    """Graph mode runs ops in ``sess`` (stock's TypeError for anything else, None too)."""
    if sess is None or not hasattr(sess, "run"):
        raise TypeError(f"'sess' must be a Session; {sess}")
    return sess


def _now() -> float:
    return time.time()
