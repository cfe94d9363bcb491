"""The ``checkpoint`` state file: which checkpoints a directory holds, newest last.

TensorFlow keeps a text-format ``CheckpointState`` proto (``checkpoint_state.proto``) in a
file named ``checkpoint`` beside the checkpoints; relative paths are relative to its directory::

    model_checkpoint_path: "model.ckpt-2"          # 1: the latest prefix
    all_model_checkpoint_paths: "model.ckpt-1"     # 2: every kept prefix, oldest first
    all_model_checkpoint_paths: "model.ckpt-2"
    all_model_checkpoint_timestamps: 1700000000.5  # 3: one per path (optional)
    all_model_checkpoint_timestamps: 1700000100.5
    last_preserved_timestamp: 1700000000.0         # 4 (optional)

We read and write it without TensorFlow, under TensorFlow's names and, for valid files, with
its results; where TensorFlow fails silently we fail loudly (``docs/state-file.md``):

* Corrupt files raise ``StateFileError`` (TensorFlow returns None: training restarts from
  scratch). A file not ending in a newline must end in a quote or ``]``, else it may be cut.
* Paths outside the directory are refused unless ``allow_outside`` (the path rules below).
* Fallbacks, each with a ``StateFileWarning``: a missing absolute path is replaced by the
  checkpoint of the same basename in the directory (moved directory, tensorflow#9146);
  ``latest_checkpoint`` falls back to the newest listed checkpoint that exists.
* The state file never counts as a V1 checkpoint (a V2 prefix may be named ``checkpoint``).
* A latest path absent from ``all_model_checkpoint_paths`` is returned as written (as
  TensorFlow); the writer appends it unless it is the last entry (as TensorFlow's).
* Writes are atomic and durable: temp file, fsync, ``os.replace``, fsync of the directory.

Path rules, all of them (the section "Path rules" of this module's code; ``docs/state-file.md``):

1. An entry is a file name, never a pattern: ``*``, ``?``, ``[1]``, newlines are characters
   of the name (nothing here or in ``files`` globs or matches a regex over entries).
2. Refused always: an empty entry, one containing NUL (``decode_state``).
3. Honoured: an entry *inside* the state file's directory: a relative entry is joined to the
   directory; it is inside when its real path (symlinks and ``..`` resolved, as the OS will)
   lies strictly below the directory's real path. It is returned as joined (TensorFlow's
   form). ``sub/../m-1`` is inside; ``link/m-1`` with ``link`` pointing elsewhere is not.
4. Refused unless ``allow_outside``: every other entry, except an absolute one that does not
   exist while the directory has a checkpoint of its basename (a moved directory: that one is
   used, with a ``StateFileWarning``).
5. Written: the same rule 3 (``update_checkpoint_state`` refuses outside paths unless
   ``allow_outside``); the relative form is stored only for paths inside as written.
6. Deleted: never because an entry names it. Retention and ``remove_checkpoint`` delete only
   files proven to be a checkpoint's, in the save directory itself, never the checkpoint just
   written nor the state file (``files.removable_files``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import text_format

from ..errors import CheckpointNotFoundError, CorruptCheckpointError, StateFileError
from . import pending
from .fileio import open_regular, write_bytes_atomic
from .files import (
    checkpoint_exists,
    checkpoint_files,
    get_checkpoint_mtimes,
    remove_checkpoint,
)
from .naming import STATE_FILENAME, state_path
from .protos import CheckpointState
from .temps import claimed

__all__ = [
    "STATE_FILENAME", "State", "StateFileWarning", "checkpoint_exists", "decode_state",
    "encode_state", "get_checkpoint_mtimes", "get_checkpoint_state", "latest_checkpoint",
    "read_state", "remove_checkpoint", "update_checkpoint_state",
]  # fmt: skip

StrPath = str | os.PathLike[str]

MAX_STATE_FILE_BYTES = 64 * 2**20  # a state file is a few lines; refuse to slurp more


class StateFileWarning(UserWarning):
    """A state file was used through one of the documented fallbacks."""


@dataclass(frozen=True)
class State:
    """A state file as ``read_state`` returns it: paths absolute, lists as written.

    Timestamps are seconds since the Epoch; ``last_preserved_timestamp`` is 0.0 when absent.
    """

    path: str  # the state file
    model_checkpoint_path: str
    all_model_checkpoint_paths: tuple[str, ...]
    all_model_checkpoint_timestamps: tuple[float, ...]
    last_preserved_timestamp: float


def decode_state(data: bytes, path: str = "<state file>") -> Any:
    """Parses a state file's bytes into a ``CheckpointState``, paths as written.

    Raises:
        StateFileError: Not a valid, complete ``CheckpointState`` (the message names ``path``).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StateFileError(
            f"{path} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start}"
        ) from None
    if not text.strip():
        raise StateFileError(f"{path} is empty: expected a CheckpointState text proto")
    state = CheckpointState()
    try:
        text_format.Parse(text, state)
    except text_format.ParseError as e:
        raise StateFileError(f"{path} is not a valid CheckpointState text proto: {e}") from None
    if not text.endswith("\n") and text.rstrip()[-1] not in "\"']":
        raise StateFileError(f"{path} looks truncated: it ends inside a value, with no newline")
    _check_fields(state, path)
    return state


def _check_fields(state: Any, path: str) -> None:
    """What the text format cannot say: paths are non-empty, timestamps one per path."""
    named = [("model_checkpoint_path", state.model_checkpoint_path)]
    for i, p in enumerate(state.all_model_checkpoint_paths):
        named.append((f"all_model_checkpoint_paths[{i}]", p))
    for name, value in named:
        if not value or "\0" in value:
            what = "contains a NUL character" if value else "is empty or missing"
            raise StateFileError(f"{path}: {name} {what}")
    n_times, n_paths = len(state.all_model_checkpoint_timestamps), len(named) - 1
    if n_times and n_times != n_paths:
        raise StateFileError(
            f"{path}: {n_times} all_model_checkpoint_timestamps for {n_paths} "
            "all_model_checkpoint_paths; expected one per path"
        )


def encode_state(state: Any) -> bytes:
    """Returns the text TensorFlow writes for a ``CheckpointState`` message."""
    text: str = text_format.MessageToString(state)
    return text.encode("utf-8")


def get_checkpoint_state(
    checkpoint_dir: StrPath, latest_filename: str | None = None, *, allow_outside: bool = False
) -> Any | None:
    """The ``CheckpointState`` in ``checkpoint_dir``, as ``tf.train.get_checkpoint_state``.

    Relative paths are joined to ``checkpoint_dir``. Returns None when there is no state file.

    Raises:
        StateFileError: The file is unreadable or corrupt, or names a path outside
            ``checkpoint_dir`` and ``allow_outside`` is false.
    """
    loaded = _load(os.fspath(checkpoint_dir), latest_filename, allow_outside)
    return None if loaded is None else loaded[1]


def read_state(
    checkpoint_dir: StrPath, latest_filename: str | None = None, *, allow_outside: bool = False
) -> State | None:
    """As ``get_checkpoint_state``, into a ``State`` with absolute, normalized paths."""
    loaded = _load(os.fspath(checkpoint_dir), latest_filename, allow_outside)
    if loaded is None:
        return None
    path, s = loaded
    return State(
        path=os.path.abspath(path),
        model_checkpoint_path=os.path.abspath(s.model_checkpoint_path),
        all_model_checkpoint_paths=tuple(map(os.path.abspath, s.all_model_checkpoint_paths)),
        all_model_checkpoint_timestamps=tuple(s.all_model_checkpoint_timestamps),
        last_preserved_timestamp=s.last_preserved_timestamp,
    )


STATE_REREADS = 3  # latest_checkpoint: reads when the latest it names has no files


def latest_checkpoint(
    checkpoint_dir: StrPath, latest_filename: str | None = None, *, allow_outside: bool = False
) -> str | None:
    """The latest checkpoint prefix, as ``tf.train.latest_checkpoint``; None if no state file.

    When the latest prefix has no files, the newest listed checkpoint that exists is returned
    with a ``StateFileWarning``.

    Raises:
        StateFileError: As ``get_checkpoint_state``.
        CheckpointNotFoundError: No checkpoint the state file lists exists.
    """
    previous = None
    for _ in range(STATE_REREADS):
        loaded = _load(os.fspath(checkpoint_dir), latest_filename, allow_outside)
        if loaded is None:
            return None
        path, state = loaded
        latest = state.model_checkpoint_path
        if _is_checkpoint(latest, path):
            return str(latest)
        if latest == previous:  # read twice, named twice: it is really missing
            break
        previous = latest  # a writer may have replaced the file and deleted it: read again
    missing = f"{path} names {latest!r} as the latest checkpoint, but it has no files"
    others = [p for p in state.all_model_checkpoint_paths if p != latest]
    for candidate in reversed(others):
        if _is_checkpoint(candidate, path):
            message = f"{missing}; using {candidate!r}, the newest listed checkpoint that exists"
            warnings.warn(message, StateFileWarning, stacklevel=2)
            return str(candidate)
    raise CheckpointNotFoundError(
        f"{missing} (no {latest}.index, no {latest}), nor do the "
        f"{len(set(others))} other checkpoints it lists"
    )


def update_checkpoint_state(
    save_dir: StrPath,
    model_checkpoint_path: StrPath,
    all_model_checkpoint_paths: Sequence[StrPath] | None = None,
    latest_filename: str | None = None,
    all_model_checkpoint_timestamps: Sequence[float] | None = None,
    last_preserved_timestamp: float | None = None,
    *,
    save_relative_paths: bool = False,
    allow_outside: bool = False,
    fsync: bool = True,
) -> None:
    """Writes the state file atomically, as ``tf.compat.v1.train.update_checkpoint_state``.

    Arguments as TensorFlow's; a relative path is relative to the current directory when
    ``save_dir`` is relative (as ``Saver.save`` returns it), else to ``save_dir``. The latest
    path is appended to ``all_model_checkpoint_paths`` unless it is the last entry.

    Args:
        save_relative_paths: Write paths inside ``save_dir`` relative to it (movable).
        allow_outside: Allow paths outside ``save_dir`` (readers will need it too).
        fsync: Flush the file and the directory to disk before returning.

    Raises:
        StateFileError: Timestamps are not one per path, the latest path is the state file,
            or a path is outside ``save_dir`` and ``allow_outside`` is false.
    """
    directory = os.fspath(save_dir)
    path = state_path(directory, latest_filename)
    latest = os.fspath(model_checkpoint_path)
    paths = [os.fspath(p) for p in all_model_checkpoint_paths or ()]
    if not paths or paths[-1] != latest:
        paths.append(latest)
    times = all_model_checkpoint_timestamps
    if times and len(times) != len(paths):
        raise StateFileError(
            f"cannot write {path}: {len(times)} timestamps for {len(paths)} checkpoint "
            f"paths {paths}; expected one per path"
        )
    stored = [_to_stored(p, directory, path, save_relative_paths, allow_outside) for p in paths]
    latest = _to_stored(latest, directory, path, save_relative_paths, allow_outside)
    if latest == path:
        raise StateFileError(f"cannot write {path}: checkpoint path {latest!r} is the state file")
    state = CheckpointState(
        model_checkpoint_path=latest,
        all_model_checkpoint_paths=stored,
        all_model_checkpoint_timestamps=times,
        last_preserved_timestamp=last_preserved_timestamp,
    )
    _atomic_write(path, encode_state(state), fsync=fsync)


def _load(directory: str, name: str | None, allow_outside: bool) -> tuple[str, Any] | None:
    """Reads, validates and resolves the state file: (its path, TF-form state) or None."""
    pending.wait_for(directory)  # an async save of this process may be committing
    path = state_path(directory, name)
    try:
        with open_regular(path) as f:  # a FIFO or device: CorruptCheckpointError, no hang
            data = f.read(MAX_STATE_FILE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except CorruptCheckpointError as e:  # a FIFO, device or directory (fileio.open_regular)
        raise StateFileError(f"{path} cannot be read: {e}") from None
    except OSError as e:
        raise StateFileError(f"{path} cannot be read: {e.strerror or e}") from e
    if len(data) > MAX_STATE_FILE_BYTES:
        raise StateFileError(f"{path} is larger than {MAX_STATE_FILE_BYTES} bytes")
    state = decode_state(data, path)
    moved: list[tuple[str, str]] = []
    latest = state.model_checkpoint_path
    try:
        state.model_checkpoint_path = _resolve(latest, directory, path, allow_outside, moved)
        for i, p in enumerate(state.all_model_checkpoint_paths):
            state.all_model_checkpoint_paths[i] = _resolve(p, directory, path, allow_outside, moved)
    except UnicodeEncodeError:  # a CheckpointState (TensorFlow's too) holds UTF-8 only
        raise StateFileError(
            f"{path!r}: the directory's name is not UTF-8, which a CheckpointState cannot "
            "hold (TensorFlow fails here too); open the checkpoint by its prefix instead"
        ) from None
    if moved:
        (old, new), more = moved[0], f" (and {len(moved) - 1} more)" if len(moved) > 1 else ""
        message = (
            f"{path} names {old!r}, which does not exist; using {new!r}{more}, the checkpoint "
            "of the same name in the state file's directory (was the directory moved?)"
        )
        warnings.warn(message, StateFileWarning, stacklevel=3)
    return path, state


# -- path rules (the module docstring's list) -----------------------------------------------


def _resolve(raw: str, directory: str, path: str, allow: bool, moved: list[tuple[str, str]]) -> str:
    """The path TensorFlow returns for the entry ``raw`` (rules 3 and 4), or StateFileError."""
    full = os.path.join(directory, raw)  # an absolute ``raw`` stays itself
    if _is_inside(full, directory):
        return full
    if os.path.isabs(raw) and not _is_checkpoint(raw, path):
        local = os.path.join(directory, os.path.basename(raw))
        if _is_checkpoint(local, path):
            moved.append((raw, local))
            return local
    if allow:
        return full
    where = directory or os.curdir
    raise StateFileError(f"{path} names {raw!r}, outside {where!r}; pass allow_outside=True")


def _to_stored(p: str, directory: str, path: str, relative: bool, allow_outside: bool) -> str:
    """The form TensorFlow's writer stores ``p`` in (relative only when inside), checked
    (rule 5)."""
    if not os.path.isabs(p):  # TensorFlow: relative to the current dir iff save_dir is
        stored = p if os.path.isabs(directory) else os.path.relpath(p, directory)
    elif relative and _below_as_written(p, directory):
        stored = os.path.relpath(p, directory)
    else:
        stored = p
    if not allow_outside and not _is_inside(os.path.join(directory, stored), directory):
        raise StateFileError(
            f"cannot write {path}: {p!r} is outside {directory!r} (relative paths are taken "
            "from the current directory when save_dir is relative); pass allow_outside=True"
        )
    return stored


def _is_inside(path: str, directory: str) -> bool:
    """Rule 3: ``path``, symlinks and ``..`` resolved as the OS will, lies strictly below
    ``directory`` (resolved too, so a symlinked run directory is itself)."""
    return os.path.realpath(path).startswith(os.path.join(os.path.realpath(directory), ""))


def _below_as_written(path: str, directory: str) -> bool:
    return os.path.abspath(path).startswith(os.path.join(os.path.abspath(directory), ""))


def _is_checkpoint(prefix: str, state_path: str) -> bool:
    """``checkpoint_exists``, except that the state file is never a V1 checkpoint."""
    own = os.path.abspath(state_path)
    return any(os.path.abspath(f) != own for f in checkpoint_files(prefix))


def _atomic_write(path: str, data: bytes, *, fsync: bool) -> None:
    """Replaces ``path`` with ``data``: readers see the old file or the new one, whole.
    The temporary is claimed (``temps``): a Saver sweeping the directory leaves it alone
    while this writer lives."""
    with claimed(path) as temp:
        write_bytes_atomic(path, data, fsync=fsync, temp=temp)
