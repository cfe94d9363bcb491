"""The Saver's record of its checkpoints: the I/O around ``retention.plan``.

``Ledger`` holds the checkpoints a Saver keeps (oldest first, with timestamps), as
``tf.compat.v1.train.Saver`` does in memory, but it also *adopts* what the state file
of a directory lists the first time the Saver saves there: after a restart the old
checkpoints are still counted, surplus ones are deleted, and the timestamps and
``last_preserved_timestamp`` written by us or by ``tf.train.CheckpointManager`` carry
the ``keep_checkpoint_every_n_hours`` decisions across processes.

After each save, ``record`` writes the state file (atomically, through
``legacy_saver.state``) and only then deletes what the plan says: the state file
never names a deleted checkpoint. Only checkpoints the ledger holds are ever deleted,
and of those only files proven to be theirs, in the save directory itself, never the
checkpoint just written nor the state file (``bundle.files.removable_files``); a
foreign or corrupt state file is not adopted (a warning says so) and is replaced.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable

from ..bundle import files, state
from ..bundle.naming import state_path
from ..errors import StateFileError
from . import retention
from .retention import Recorded, RetentionOptions

log = logging.getLogger(__name__)


def _same(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


class Ledger:
    """Checkpoints kept by one Saver, and the policy that prunes them."""

    def __init__(self, options: RetentionOptions, created: float | None = None):
        self.options = options
        self.created = time.time() if created is None else created
        self.records: list[Recorded] = []
        self.last_preserved: float | None = None
        self._adopted: set[tuple[str, str | None]] = set()

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.records]

    def set(self, records: Iterable[tuple[str, float]]) -> None:
        self.records = [Recorded(os.fspath(p), float(t)) for p, t in records]

    def recover(self, paths: Iterable[str]) -> None:
        """As ``Saver.recover_last_checkpoints``: mtimes of the checkpoints that exist."""
        found = []
        for path in paths:
            mtimes = state.get_checkpoint_mtimes([path])
            if mtimes:
                found.append((path, mtimes[0]))
        self.set(found)

    def adopt(self, save_dir: str, latest_filename: str | None) -> None:
        """Merges what ``save_dir``'s state file lists (once per directory)."""
        key = (os.path.abspath(save_dir or "."), latest_filename)
        if key in self._adopted:
            return
        self._adopted.add(key)
        try:
            stored = state.read_state(save_dir or ".", latest_filename)
        except StateFileError as e:
            log.warning(
                "not adopting the checkpoints of a bad state file; it will be "
                "replaced on this save: %s",
                e,
            )
            stored = None
        found = _listed(stored) if stored else []
        known = {os.path.abspath(r.path): i for i, r in enumerate(self.records)}
        for path, stamp in found:
            if os.path.abspath(path) in known:
                old = self.records[known[os.path.abspath(path)]]
                self.records[known[os.path.abspath(path)]] = Recorded(old.path, stamp)
        adopted = [Recorded(p, t) for p, t in found if os.path.abspath(p) not in known]
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
        """Adds ``path``, writes the state file, then deletes the surplus."""
        self.adopt(save_dir, latest_filename)
        others = [r for r in self.records if not _same(r.path, path)]
        plan = retention.plan(
            others, Recorded(path, time.time()), self.last_preserved or 0.0, self.options
        )
        self.records = list(plan.keep)
        self.last_preserved = plan.last_preserved_timestamp
        listed = [r for r in plan.keep if _same(os.path.dirname(r.path) or ".", save_dir or ".")]
        state.update_checkpoint_state(
            save_dir or ".",
            path,
            [r.path for r in listed],
            latest_filename,
            [r.timestamp for r in listed],
            plan.last_preserved_timestamp,
            save_relative_paths=save_relative_paths,
            fsync=fsync,
        )
        keep = [path, state_path(save_dir or ".", latest_filename)]
        for doomed in plan.delete:
            try:
                files.remove_checkpoint(
                    doomed, version, meta_graph_suffix, directory=save_dir or ".", keep=keep
                )
            except OSError as e:
                log.warning("could not delete old checkpoint %s: %s", doomed, e)


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
