"""The Saver's record of its checkpoints: the I/O around ``retention.plan``.

``Ledger`` holds the checkpoints a Saver keeps (oldest first, with timestamps), as
``tf.compat.v1.train.Saver`` does in memory, but it also *adopts* what the state file
of a directory lists the first time the Saver saves there: after a restart the old
checkpoints are still counted, surplus ones are deleted, and the timestamps and
``last_preserved_timestamp`` written by us or by ``tf.train.CheckpointManager`` carry
the ``keep_checkpoint_every_n_hours`` decisions across processes.

After each save, ``record`` writes the state file (atomically, through
``legacy_saver.state``) and only then deletes what the plan says: the state file
never names a deleted checkpoint. The update is a locked read-merge-write, so Savers
sharing one state file (threads, processes, hosts) keep each other's checkpoints
listed (``record``); two Savers used one after the other in one thread behave as
TensorFlow's: each lists what it saved, adopted, or was told (``set_last_checkpoints``,
which wins over the state file). Only checkpoints the ledger holds are ever deleted,
and of those only files proven to be theirs, in the save directory itself, never the
checkpoint just written nor the state file (``bundle.files.removable_files``); a
foreign or corrupt state file is not adopted (a warning says so) and is replaced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable

from ..bundle import files, pending, state, temps
from ..bundle.naming import is_url, lexically, state_lock_path, state_path
from ..errors import StateFileError
from . import retention
from .retention import Recorded, RetentionOptions

log = logging.getLogger(__name__)

_LEDGERS: weakref.WeakSet[Ledger] = weakref.WeakSet()  # every live Saver's, in this process


def _same(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


class Ledger:
    """Checkpoints kept by one Saver, and the policy that prunes them."""

    def __init__(
        self, options: RetentionOptions, created: float | None = None, scope: object = None
    ):
        """``scope``: what the Saver belongs to (its graph; None for eager or unknown), held
        weakly: Savers of one scope used one after the other behave as TensorFlow's."""
        self.options = options
        self._scope = _weak(scope)
        self.created = time.time() if created is None else created
        self.records: list[Recorded] = []
        self.last_preserved: float | None = None
        self.explicit = False  # set_last_checkpoints*/recover: the caller's list wins
        self.thread: int | None = None  # the thread of the last record()
        self._adopted: set[tuple[str, str | None]] = set()
        self._written: dict[str, frozenset[str]] = {}  # state file -> our entries last written
        self._preserved: set[str] = set()  # records the last plan found preserved
        _LEDGERS.add(self)

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.records]

    @property
    def active_paths(self) -> list[str]:
        """The records ``max_to_keep`` counts: all but those a save found preserved by
        ``keep_checkpoint_every_n_hours`` (stock's Saver forgets those; we keep them listed
        in the state file)."""
        return [r.path for r in self.records if os.path.abspath(r.path) not in self._preserved]

    def set(self, records: Iterable[tuple[str, float]]) -> None:
        """The caller's list (``set_last_checkpoints*``): it wins over any state file."""
        self.records = [Recorded(os.fspath(p), float(t)) for p, t in records]
        self.explicit = True
        self._preserved = set()

    def recover(self, paths: Iterable[str]) -> None:
        """As ``Saver.recover_last_checkpoints``: mtimes of the checkpoints that exist."""
        found = []
        for path in paths:
            mtimes = state.get_checkpoint_mtimes([lexically(path)])
            if mtimes:
                found.append((path, mtimes[0]))
        self.set(found)

    def owns(self, path: str) -> bool:
        return any(_same(r.path, path) for r in self.records)

    @property
    def scope(self) -> object:
        return self._scope()

    def adopt(self, save_dir: str, latest_filename: str | None, stored: state.State | None) -> None:
        """Takes on what ``save_dir``'s state file lists (once per directory), except the
        checkpoints another live Saver of this process keeps, and unless the caller set the
        list explicitly; timestamps of known ones are refreshed from the file."""
        key = (os.path.abspath(save_dir or "."), latest_filename)
        if key in self._adopted:
            return
        self._adopted.add(key)
        found = [(_spelled_as(p, save_dir), t) for p, t in _listed(stored)] if stored else []
        known = {os.path.abspath(r.path): i for i, r in enumerate(self.records)}
        for path, stamp in found:
            if os.path.abspath(path) in known:
                old = self.records[known[os.path.abspath(path)]]
                self.records[known[os.path.abspath(path)]] = Recorded(old.path, stamp)
        if not self.explicit:
            adopted = [
                Recorded(p, t)
                for p, t in found
                if os.path.abspath(p) not in known and not _helpers(p, self)
            ]
            self.records = adopted + self.records
        if self.last_preserved is None:
            self.last_preserved = retention.initial_anchor(
                [t for _, t in found],
                stored.last_preserved_timestamp if stored else 0.0,
                self.created,
            )

    def record(
        self,
        save_dir: str,
        path: str,
        *,
        latest_filename: str | None,
        save_relative_paths: bool,
        version: int,
        meta_graph_suffix: str,
        fsync: bool = True,
    ) -> None:
        """Adds ``path``, writes the state file, then deletes the surplus.

        Under the state file's lock (``bundle.temps.locked``): the file is read again, and
        every checkpoint another writer added (a Saver in another process, or in another
        thread of this one) stays listed beside ours: a locked read-merge-write.
        """
        directory = save_dir or "."
        lock = state_lock_path(directory, latest_filename)
        with contextlib.nullcontext() if is_url(directory) else temps.locked(lock):
            with pending.writing():  # holding the lock: an async write of this process waits
                stored = _read(directory, latest_filename)  # for it, so we must not wait back
            self.adopt(save_dir, latest_filename, stored)
            others = [r for r in self.records if not _same(r.path, path)]
            if not self.explicit:  # gone (another writer's retention): no longer listed
                others = [r for r in others if state.checkpoint_exists(lexically(r.path))]
            plan = retention.plan(
                others, Recorded(path, time.time()), self.last_preserved or 0.0, self.options
            )
            ours = [r for r in plan.keep if _same(os.path.dirname(r.path) or ".", directory)]
            theirs = self._foreign(stored, path, plan.delete, latest_filename, directory)
            listed = ours  # in the plan's order, as TensorFlow's; others' by time among them
            if theirs:
                listed = sorted(theirs + ours[:-1], key=lambda r: r.timestamp) + ours[-1:]
            state.update_checkpoint_state(
                directory,
                path,
                [r.path for r in listed],
                latest_filename,
                [r.timestamp for r in listed],
                plan.last_preserved_timestamp,
                save_relative_paths=save_relative_paths,
                fsync=fsync,
            )
            self.records = list(plan.keep)  # only now: a failed write changes nothing
            self.last_preserved = plan.last_preserved_timestamp
            self._preserved = {
                os.path.abspath(r.path) for r in plan.keep if r.timestamp <= self.last_preserved
            }
            self._written[state_path(directory, latest_filename)] = frozenset(
                os.path.abspath(r.path) for r in ours
            )
            self.thread = threading.get_ident()
            keep = [path, state_path(directory, latest_filename)]
            for doomed in plan.delete:
                try:
                    files.remove_checkpoint(
                        lexically(doomed), version, meta_graph_suffix, directory=directory,
                        keep=keep,
                    )  # fmt: skip
                except OSError as e:
                    log.warning("could not delete old checkpoint %s: %s", doomed, e)

    def _foreign(
        self,
        stored: state.State | None,
        new: str,
        deleted: Iterable[str],
        latest_filename: str | None,
        directory: str,
    ) -> list[Recorded]:
        """The entries of ``stored`` another writer keeps: they exist, are not ours (nor
        were when we last wrote), and their writer is another process, or a Saver of this
        one in another graph or saving from another thread. (Two Savers of one graph used
        one after the other in one thread list only their own, as TensorFlow's do.)"""
        if stored is None:
            return []
        mine = self._written.get(state_path(directory, latest_filename), frozenset())
        gone = {os.path.abspath(p) for p in deleted} | {os.path.abspath(new)}
        found = []
        for p, stamp in _listed(stored):
            full = os.path.abspath(p)
            if full in gone or full in mine or self.owns(p):
                continue
            helpers = _helpers(p, self)
            if not helpers or any(h.thread not in (None, threading.get_ident()) for h in helpers):
                found.append(Recorded(p, stamp))
        return found


def _helpers(path: str, besides: Ledger) -> list[Ledger]:
    """The other live Savers of this process and of ``besides``'s scope that keep ``path``:
    helpers of one graph (TensorFlow's tests make several), whose lists stay their own."""
    scope = besides.scope
    return [
        ledger
        for ledger in list(_LEDGERS)
        if ledger is not besides and ledger.scope is scope and ledger.owns(path)
    ]


_EAGER = object()  # the scope of Savers without a graph


def _weak(scope: object) -> Callable[[], object]:
    if scope is None:
        return lambda: _EAGER
    try:
        ref = weakref.ref(scope)
    except TypeError:
        return lambda: scope

    def resolve() -> object:
        alive = ref()
        return _EAGER if alive is None else alive

    return resolve


def _read(directory: str, latest_filename: str | None) -> state.State | None:
    try:
        return state.read_state(directory, latest_filename)
    except StateFileError as e:
        log.warning(
            "not adopting the checkpoints of a bad state file; it will be replaced on this "
            "save: %s",
            e,
        )
        return None


def _spelled_as(path: str, save_dir: str) -> str:
    """``path`` (as the state file reader resolved it, absolute) in the style of the caller's
    ``save_dir``: relative when the Saver is saving under a relative directory, so that
    ``last_checkpoints`` after a restart is one style, the one the user passed (#18.4)."""
    if is_url(path) or is_url(save_dir) or os.path.isabs(save_dir or "."):
        return path
    rel = os.path.relpath(path, os.path.abspath(save_dir or "."))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return path  # not in the save directory: the state file's own spelling
    return os.path.join(save_dir, rel) if save_dir else rel


def _listed(stored: state.State) -> list[tuple[str, float]]:
    """(path, timestamp) of each listed checkpoint that exists; mtimes if no timestamps."""
    paths = stored.all_model_checkpoint_paths
    stamps = stored.all_model_checkpoint_timestamps
    found = []
    for i, path in enumerate(paths):
        if not state.checkpoint_exists(path):
            continue
        if len(stamps) == len(paths):
            found.append((path, stamps[i]))
        else:
            found.append((path, state.get_checkpoint_mtimes([path])[0]))
    return found
