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
import os
import time

import numpy as np
import tensorflow as tf

from ..bundle import load_checkpoint
from ..bundle.digest import verify_digest, write_digest
from ..bundle.naming import digest_path, local_path, meta_path
from ..errors import CheckpointNotFoundError, UnsupportedFeatureError
from . import atomic
from .builder import SAVER_DEF_V2, BuildOptions, all_saveables, build_saver, check_write_version
from .checks import QuickCheck, contents_of, plan_restore
from .ledger import Ledger
from .meta_graph import export_meta_graph, require_graph_mode, write_meta_graph_file
from .naming import as_str, prepend_scope, step_tensor, strip_scope
from .retention import RetentionOptions
from .specs import specs_from_graph, with_reshape

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
        var_list=None,
        reshape=False,
        sharded=False,
        max_to_keep=5,
        keep_checkpoint_every_n_hours=10000.0,
        name=None,
        restore_sequentially=False,
        saver_def=None,
        builder=None,
        defer_build=False,
        allow_empty=False,
        write_version=SAVER_DEF_V2,
        pad_step_number=False,
        save_relative_paths=False,
        filename=None,
        *,
        fsync=True,
        digest=False,
        async_save=False,
    ):
        require_graph_mode("Saver")
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
        self._var_list = var_list
        self._options = BuildOptions(
            reshape=reshape,
            sharded=sharded,
            max_to_keep=max_to_keep or 0,
            keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours,
            name=name,
            restore_sequentially=restore_sequentially,
            filename=filename,
        )
        self.saver_def = None if saver_def is None else _copy(saver_def)
        self._name = name
        self._allow_empty = allow_empty
        self._pad_step_number = pad_step_number
        self._save_relative_paths = save_relative_paths
        self._fsync = fsync
        self._digest = digest
        self._async_save = async_save
        self._background = None  # background.AsyncSaves, built with the save ops
        self._is_built = False
        self._is_empty = None
        self._specs = None
        self._graph_specs: dict[int, object] = {}
        self._quick: QuickCheck | None = None  # the restore shortcut for self._specs
        self._ledger = Ledger(RetentionOptions(max_to_keep, keep_checkpoint_every_n_hours))
        if not defer_build:
            self.build()

    # -- building -------------------------------------------------------------------

    def build(self) -> None:
        """Builds the save/restore ops (once); needed after ``defer_build=True``."""
        require_graph_mode("Saver.build")
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
            self._specs = with_reshape(built.specs, self._options.reshape)
        elif self._name:  # an import scope, as TF overloads ``name``
            for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
                setattr(
                    self.saver_def, field, prepend_scope(getattr(self.saver_def, field), self._name)
                )
        self._is_empty = False
        self._check_saver_def()
        self._ledger.created = _now()

    def _check_saver_def(self) -> None:
        if not self.saver_def.save_tensor_name:
            raise ValueError(f"saver_def must specify the save_tensor_name: {self.saver_def}")
        if not self.saver_def.restore_op_name:
            raise ValueError(f"saver_def must specify the restore_op_name: {self.saver_def}")

    def as_saver_def(self):
        return self.saver_def

    def to_proto(self, export_scope=None):
        """The ``SaverDef``, with ``export_scope`` stripped (None if outside it)."""
        if export_scope is None:
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
    def from_proto(saver_def, import_scope=None):
        return Saver(saver_def=saver_def, name=import_scope)

    # -- the checkpoints this Saver keeps ------------------------------------------

    @property
    def last_checkpoints(self) -> list[str]:
        """Prefixes of the checkpoints kept (and not yet deleted), oldest first."""
        return self._ledger.paths

    def set_last_checkpoints(self, last_checkpoints) -> None:
        """Deprecated in TF: ``set_last_checkpoints_with_time`` (times are now)."""
        if not isinstance(last_checkpoints, list):
            raise TypeError("last_checkpoints must be a list.")
        self._ledger.set((p, _now()) for p in last_checkpoints)

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time) -> None:
        if not isinstance(last_checkpoints_with_time, list):
            raise TypeError("last_checkpoints_with_time must be a list.")
        self._ledger.set(last_checkpoints_with_time)

    def recover_last_checkpoints(self, checkpoint_paths) -> None:
        """Adopts these checkpoints with their files' mtimes (missing ones are skipped)."""
        self._ledger.recover(checkpoint_paths)

    # -- save ----------------------------------------------------------------------

    def save(
        self,
        sess,
        save_path,
        global_step=None,
        latest_filename=None,
        meta_graph_suffix="meta",
        write_meta_graph=True,
        write_state=True,
        strip_default_attrs=False,
        save_debug_info=False,
    ):
        """Saves; returns the checkpoint prefix (None for an empty Saver).

        Order: data files, ``.index``, ``.meta``, state file, deletions; each file is
        complete under its final name before anything points at it.
        """
        if not self._is_built:
            raise RuntimeError("`build()` should be called before save if defer_build==True")
        latest_filename = latest_filename or DEFAULT_LATEST_FILENAME
        if os.path.split(latest_filename)[0]:
            raise ValueError("'latest_filename' must not contain path components")
        if not hasattr(sess, "run"):
            raise TypeError(f"'sess' must be a Session; {sess}")
        save_path = local_path(as_str(save_path))
        checkpoint_file = self._checkpoint_file(sess, save_path, global_step, latest_filename)
        save_dir = os.path.dirname(save_path)
        if save_dir and atomic.is_local(save_dir):
            os.makedirs(save_dir, exist_ok=True)  # TF raises here instead
        if self._background is not None:  # snapshot now; write and commit in a thread
            return self._background.save(
                sess, checkpoint_file, save_dir, latest_filename, meta_graph_suffix,
                write_meta_graph, write_state, strip_default_attrs, save_debug_info,
            )  # fmt: skip
        path = None if self._is_empty else self._write_checkpoint(sess, checkpoint_file)
        meta = self._meta_graph_def(sess, strip_default_attrs) if write_meta_graph else None
        self._publish(path, checkpoint_file, save_dir, meta, latest_filename,
                      meta_graph_suffix, write_state, save_debug_info)  # fmt: skip
        return path

    def _meta_graph_def(self, sess, strip_default_attrs):
        with sess.graph.as_default():
            return self.export_meta_graph(strip_default_attrs=strip_default_attrs)

    def _publish(self, path, checkpoint_file, save_dir, meta_graph_def, latest_filename,
                 meta_graph_suffix, write_state, save_debug_info) -> None:  # fmt: skip
        """After the data and index: the ``.meta``, the digest, the state file, retention."""
        if meta_graph_def is not None:
            filename = meta_path(checkpoint_file, meta_graph_suffix)
            write_meta_graph_file(meta_graph_def, filename, fsync=self._fsync)
            if save_debug_info:  # rare: let the exporter write both files
                self.export_meta_graph(filename, save_debug_info=True)
        if self._digest and path is not None and atomic.is_local(path):
            write_digest(path, fsync=self._fsync)  # .meta, .index, data: before the state
        if path is not None and write_state:
            self._ledger.record(
                save_dir,
                path,
                latest_filename=latest_filename,
                save_relative_paths=self._save_relative_paths,
                version=self.saver_def.version,
                meta_graph_suffix=meta_graph_suffix,
                fsync=self._fsync,
            )

    def wait(self, timeout=None) -> bool:
        """``async_save``: block until the pending save is committed (True), or ``timeout``
        seconds passed (False); raises that save's error. Returns True at once otherwise."""
        return True if self._background is None else self._background.wait(timeout)

    def close(self) -> None:
        """Drain a pending background save (raising its error); call before closing the
        session it uses. A no-op for synchronous savers."""
        self.wait()

    def _checkpoint_file(self, sess, save_path, global_step, latest_filename) -> str:
        if global_step is None:
            if os.path.basename(save_path) == latest_filename and not self._options.sharded:
                raise ValueError(
                    f"'latest_filename' collides with 'save_path': "
                    f"'{latest_filename}' and '{save_path}'"
                )
            return save_path
        if not isinstance(global_step, int | np.integer):
            global_step = int(sess.run(step_tensor(sess.graph, global_step)))
        if self._pad_step_number:
            return f"{save_path}-{global_step:08d}"
        return f"{save_path}-{global_step}"

    def _write_checkpoint(self, sess, checkpoint_file: str, save_op=None) -> str:
        """Run the save op (``save_op``: ``(save tensor, filename tensor)``, by default the
        SaverDef's) into a temporary prefix and commit it as ``checkpoint_file``."""
        save_tensor, feed_name = save_op or (
            self.saver_def.save_tensor_name, self.saver_def.filename_tensor_name
        )  # fmt: skip
        if not atomic.is_local(checkpoint_file):
            return as_str(sess.run(save_tensor, {feed_name: checkpoint_file}))
        atomic.remove_stale(os.path.dirname(checkpoint_file))
        temp = atomic.temp_prefix(checkpoint_file)
        try:
            with atomic.flushing(temp) if self._fsync else contextlib.nullcontext():
                written = as_str(sess.run(save_tensor, {feed_name: temp}))
            atomic.commit(temp, checkpoint_file, fsync=self._fsync)
        except BaseException:
            atomic.abandon(temp)
            raise
        finally:
            atomic.release(temp)
        # The save tensor may add a V1 shard pattern ("-?????-of-00002") to the prefix.
        if written.startswith(temp):
            return checkpoint_file + written[len(temp) :]
        return checkpoint_file

    # -- restore -------------------------------------------------------------------

    def restore(self, sess, save_path) -> None:
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
        self.wait()  # an async save in flight: restore what it commits, never a half
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        save_path = local_path(as_str(save_path))
        specs = self._restore_specs(sess.graph)
        ran = None
        quick = None if specs is None else self._quick_check(specs)
        if quick is not None and quick.usable and quick.passes(self._plain_index_bytes(save_path)):
            try:
                sess.run(
                    self.saver_def.restore_op_name, {self.saver_def.filename_tensor_name: save_path}
                )
                return
            except tf.errors.OpError as error:  # e.g. corrupt data: the full path says which
                ran = error
        try:
            reader = load_checkpoint(save_path)
        except CheckpointNotFoundError as e:
            raise CheckpointNotFoundError(
                f"The passed save_path is not a valid checkpoint: {save_path} ({e})"
            ) from None
        with reader:
            prefix = reader.prefix if reader.format_version == 2 else save_path
            if os.path.exists(digest_path(prefix)):
                verify_digest(prefix)  # catches a tampered .meta, which has no crc
            if specs is None:  # keys computed in the graph: TF's own checks only
                feeds = {}
            else:
                feeds = plan_restore(specs, contents_of(reader, prefix, (s.key for s in specs)))
        if ran is not None and not feeds:
            raise ran  # the index agrees with the graph: TensorFlow's error stands
        feed_dict = {name: _keys_array(keys) for name, keys in feeds.items()}
        feed_dict[self.saver_def.filename_tensor_name] = prefix
        sess.run(self.saver_def.restore_op_name, feed_dict)

    def _quick_check(self, specs) -> QuickCheck:
        if self._quick is None or self._quick.specs is not specs:
            self._quick = QuickCheck(specs)
        return self._quick

    @staticmethod
    def _plain_index_bytes(save_path: str) -> bytes:
        """The ``.index`` of a local V2 checkpoint at exactly ``save_path`` with no
        digest manifest (which must be verified first); else b"" (no shortcut)."""
        if not atomic.is_local(save_path) or os.path.exists(digest_path(save_path)):
            return b""
        try:
            with open(save_path + ".index", "rb") as f:
                return f.read()
        except OSError:
            return b""

    def _restore_specs(self, graph):
        if self._specs is not None:
            return self._specs
        key = id(graph)
        if key not in self._graph_specs:
            self._graph_specs[key] = specs_from_graph(graph, self.saver_def.restore_op_name)
        return self._graph_specs[key]

    # -- meta graph ----------------------------------------------------------------

    def export_meta_graph(
        self,
        filename=None,
        collection_list=None,
        as_text=False,
        export_scope=None,
        clear_devices=False,
        clear_extraneous_savers=False,
        strip_default_attrs=False,
        save_debug_info=False,
    ):
        """Exports the default graph with this Saver's ``SaverDef`` (atomic write)."""
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


def _keys_array(keys):
    if isinstance(keys, str):
        return np.array(keys.encode("utf-8"), dtype=object)
    return np.array([k.encode("utf-8") for k in keys], dtype=object)


def _copy(saver_def):
    copy = tf.compat.v1.train.SaverDef()
    copy.CopyFrom(saver_def)
    return copy


def _now() -> float:
    return time.time()
