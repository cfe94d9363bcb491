"""Rewriting ``checkpoint`` state files for the mirrored tree.

Each source state file is parsed (a corrupt one is reported, not copied) and
written under DST_ROOT naming only the checkpoints the batch converted, with
paths relative to the state file's directory, so the tree can move again.
Absolute paths from another machine (``/tmp/run7/model.ckpt-9``) are matched
by base name within the same directory, the usual reason such files break.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from legacy_saver.bundle.naming import STATE_FILENAME
from legacy_saver.bundle.protos import CheckpointState
from legacy_saver.bundle.state import decode_state, encode_state
from legacy_saver.errors import StateFileError

from . import transfer
from .discover import Discovery
from .manifest import DONE, Manifest, write_atomic
from .walk import is_local_fs, read_regular


@dataclass
class StateReport:
    """What ``rewrite_state_files`` did: files written (relative to DST_ROOT),
    warnings (entries dropped, checkpoints named but missing), problems
    (refused or unreadable state files: the batch exits 1)."""

    written: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


def rewrite_state_files(
    found: Discovery, manifest: Manifest, src_root: str, dst_root: str, *, overwrite: bool = False
) -> StateReport:
    """Write a rewritten state file under ``dst_root`` for each one under
    ``src_root`` that names at least one converted checkpoint.

    Only entries naming a discovered checkpoint in the state file's own
    directory or below are kept (an allowlist): ``../`` entries, and absolute
    paths inside SRC_ROOT that lead elsewhere, are dropped with a warning, as
    the library would refuse to follow them; entries naming checkpoints that do
    not exist are reported. A state file already at the destination that this
    batch did not write is left alone (a problem) unless ``overwrite``.
    """
    src_fs, src = transfer.fs_for(src_root)
    report = StateReport()
    done = {k for k, v in manifest.items.items() if v.get("status") == DONE}
    known = {i.rel for i in found.items}
    for directory in found.state_dirs:
        rel = posixpath.join(directory, STATE_FILENAME) if directory else STATE_FILENAME
        try:
            path = posixpath.join(src.rstrip("/"), rel)
            raw = read_regular(path) if is_local_fs(src_fs) else src_fs.cat_file(path)
            state = decode_state(raw, rel)
        except (StateFileError, OSError) as exc:
            report.problems[rel] = f"state file not rewritten: {exc}"
            continue
        new = _rewrite(state, directory, src.rstrip("/"), done, known, rel, report.warnings)
        if new is None:
            continue
        target = posixpath.join(manifest.root.rstrip("/"), rel)
        ours = rel in manifest.state_files
        if not ours and not overwrite and manifest.fs.exists(target):
            report.problems[rel] = (f"{dst_root}/{rel} exists and this batch did not write it; "
                                    "pass --overwrite to replace it")  # fmt: skip
            continue
        write_atomic(manifest.fs, target, encode_state(new))
        manifest.state_files.append(rel)
        report.written.append(rel)
    return report


def _rewrite(state: Any, directory: str, src_root: str, done: set[str], known: set[str],
             where: str, warnings: list[str]) -> Any | None:  # fmt: skip
    paths = list(state.all_model_checkpoint_paths)
    times = list(state.all_model_checkpoint_timestamps)
    latest = state.model_checkpoint_path
    for path in dict.fromkeys([*paths, latest]):
        item = _item_rel(path, directory, src_root)
        if not path:
            continue
        if item is None:
            warnings.append(f"{where}: entry {path!r} leads outside its directory; dropped")
        elif item not in known:
            warnings.append(f"{where}: entry {path!r} names a checkpoint that does not exist")
    keep = [(p, t) for p, t in zip(paths, times or [None] * len(paths), strict=True)
            if _item_rel(p, directory, src_root) in done]  # fmt: skip
    if _item_rel(latest, directory, src_root) not in done:
        if not keep:
            return None
        latest = keep[-1][0]
    new = CheckpointState(
        model_checkpoint_path=_stored(latest, directory, src_root),
        all_model_checkpoint_paths=[_stored(p, directory, src_root) for p, _ in keep],
        last_preserved_timestamp=state.last_preserved_timestamp,
    )
    if times:
        new.all_model_checkpoint_timestamps.extend(t for _, t in keep)
    return new


def _item_rel(path: str, directory: str, src_root: str) -> str | None:
    """The item (prefix relative to SRC_ROOT) a state-file path names, or None
    when it does not lie in the state file's directory or below."""
    if posixpath.isabs(path):
        if not path.startswith(src_root + "/"):
            return posixpath.join(directory, posixpath.basename(path))  # foreign: same dir
        rel = posixpath.normpath(posixpath.relpath(path, src_root))
    else:
        rel = posixpath.normpath(posixpath.join(directory, path))
    inside = not directory or rel.startswith(directory + "/")
    return rel if inside and not rel.startswith("../") and rel != ".." else None


def _stored(path: str, directory: str, src_root: str) -> str:
    item = _item_rel(path, directory, src_root) or path  # only kept entries are stored
    return posixpath.relpath(item, directory or ".")
