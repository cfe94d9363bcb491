"""Rewriting ``checkpoint`` state files for the mirrored tree.

Each source state file is parsed (a corrupt one is reported, not copied) and
written under DST_ROOT naming only the checkpoints the batch converted, with
paths relative to the state file's directory, so the tree can move again.
Absolute paths from another machine (``/tmp/run7/model.ckpt-9``) are matched
by base name within the same directory, the usual reason such files break.
"""

from __future__ import annotations

import posixpath
from typing import Any

from legacy_saver.bundle.naming import STATE_FILENAME
from legacy_saver.bundle.protos import CheckpointState
from legacy_saver.bundle.state import decode_state, encode_state
from legacy_saver.errors import StateFileError

from . import transfer
from .discover import Discovery
from .manifest import DONE, Manifest, write_atomic


def rewrite_state_files(
    found: Discovery, manifest: Manifest, src_root: str, dst_root: str
) -> list[str]:
    """Write a rewritten state file under ``dst_root`` for each one under
    ``src_root`` that names at least one converted checkpoint.

    Returns:
        The state files written, relative to ``dst_root``.
    """
    src_fs, src = transfer.fs_for(src_root)
    written = []
    for directory in found.state_dirs:
        rel = posixpath.join(directory, STATE_FILENAME) if directory else STATE_FILENAME
        try:
            state = decode_state(src_fs.cat_file(posixpath.join(src.rstrip("/"), rel)), rel)
        except (StateFileError, OSError):
            continue
        done = {k for k, v in manifest.items.items() if v.get("status") == DONE}
        new = _rewrite(state, directory, src.rstrip("/"), done)
        if new is None:
            continue
        write_atomic(manifest.fs, posixpath.join(manifest.root.rstrip("/"), rel), encode_state(new))
        written.append(rel)
    return written


def _rewrite(state: Any, directory: str, src_root: str, done: set[str]) -> Any | None:
    paths = list(state.all_model_checkpoint_paths)
    times = list(state.all_model_checkpoint_timestamps)
    keep = [(p, t) for p, t in zip(paths, times or [None] * len(paths), strict=True)
            if _item_rel(p, directory, src_root) in done]  # fmt: skip
    latest = state.model_checkpoint_path
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


def _item_rel(path: str, directory: str, src_root: str) -> str:
    """The item (prefix relative to SRC_ROOT) a state-file path names."""
    if posixpath.isabs(path):
        if path.startswith(src_root + "/"):
            return posixpath.relpath(path, src_root)
        return posixpath.join(directory, posixpath.basename(path))  # foreign: same dir
    return posixpath.normpath(posixpath.join(directory, path))


def _stored(path: str, directory: str, src_root: str) -> str:
    return posixpath.relpath(_item_rel(path, directory, src_root), directory or ".")
