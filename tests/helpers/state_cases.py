"""Hostile ``checkpoint`` state files, by name (``CASES``), and how we handle each.

Used by ``tests/test_reliability_state.py`` and ``scripts/state_vs_tf.py``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from legacy_saver import BundleWriter, CheckpointNotFoundError, StateFileError
from legacy_saver.state import StateFileWarning, latest_checkpoint


@dataclass(frozen=True)
class StateCase:
    name: str
    content: bytes  # ``{d}`` is replaced by the directory, ``{o}`` by a sibling directory
    expect: str  # "error: <class>" or "fallback: <basename returned>" or "ok: <basename>"


GOOD = (
    b'model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-1"\n'
    b'all_model_checkpoint_paths: "ckpt-2"\n'
)

CASES = [
    StateCase("valid file", GOOD, "ok: ckpt-2"),
    StateCase("empty file", b"", "error: StateFileError"),
    StateCase("whitespace only", b"  \n\n", "error: StateFileError"),
    StateCase("binary garbage", bytes(range(256)), "error: StateFileError"),
    StateCase("text garbage", b"hello world\n", "error: StateFileError"),
    StateCase("truncated inside a value", GOOD[:20], "error: StateFileError"),
    StateCase("truncated after a whole line", GOOD[:32], "ok: ckpt-2"),
    StateCase("truncated: last quote kept, newline lost", GOOD[:-1], "ok: ckpt-2"),
    StateCase("unknown field", GOOD + b"extra_field: 3\n", "error: StateFileError"),
    StateCase(
        "duplicated model_checkpoint_path",
        GOOD + b'model_checkpoint_path: "ckpt-1"\n',
        "error: StateFileError",
    ),
    StateCase(
        "duplicated list entry", GOOD + b'all_model_checkpoint_paths: "ckpt-2"\n', "ok: ckpt-2"
    ),
    StateCase(
        "model_checkpoint_path missing",
        b'all_model_checkpoint_paths: "ckpt-1"\n',
        "error: StateFileError",
    ),
    StateCase(
        "latest prefix has no files, older exists",
        b'model_checkpoint_path: "ckpt-9"\nall_model_checkpoint_paths: "ckpt-2"\n'
        b'all_model_checkpoint_paths: "ckpt-9"\n',
        "fallback: ckpt-2",
    ),
    StateCase(
        "no listed prefix has files",
        b'model_checkpoint_path: "ckpt-9"\n',
        "error: CheckpointNotFoundError",
    ),
    StateCase(
        "../ path to an existing checkpoint",
        b'model_checkpoint_path: "../other/ckpt-5"\n',
        "error: StateFileError",
    ),
    StateCase(
        "absolute path outside the directory",
        b'model_checkpoint_path: "{o}/ckpt-5"\n',
        "error: StateFileError",
    ),
    StateCase(
        "absolute path, directory moved",
        b'model_checkpoint_path: "/gone/away/ckpt-2"\n',
        "fallback: ckpt-2",
    ),
    StateCase(
        "absolute path inside the directory", b'model_checkpoint_path: "{d}/ckpt-2"\n', "ok: ckpt-2"
    ),
    StateCase(
        "timestamps not one per path",
        GOOD + b"all_model_checkpoint_timestamps: 1.0\n",
        "error: StateFileError",
    ),
    StateCase("NUL in a path", b'model_checkpoint_path: "ckpt-2\\000x"\n', "error: StateFileError"),
    StateCase("not UTF-8", b'model_checkpoint_path: "ckpt-\xff"\n', "error: StateFileError"),
    StateCase(
        "comments and CRLF", b'# saved by hand\r\nmodel_checkpoint_path: "ckpt-2"\r\n', "ok: ckpt-2"
    ),
    StateCase(
        "state file names itself",
        b'model_checkpoint_path: "checkpoint"\n',
        "error: CheckpointNotFoundError",
    ),
]


def make_directory(root: str) -> tuple[str, str]:
    """``root/run`` with checkpoints ckpt-1, ckpt-2; ``root/other`` with ckpt-5."""
    run, other = os.path.join(root, "run"), os.path.join(root, "other")
    for d, names in ((run, ["ckpt-1", "ckpt-2"]), (other, ["ckpt-5"])):
        for name in names:
            with BundleWriter(os.path.join(d, name), fsync=False) as w:
                w.add("x", np.float32(len(name)))
    return run, other


def write_state(run: str, other: str, case: StateCase) -> None:
    content = case.content.replace(b"{d}", run.encode()).replace(b"{o}", other.encode())
    with open(os.path.join(run, "checkpoint"), "wb") as f:
        f.write(content)


def our_outcome(run: str) -> str:
    """``latest_checkpoint``'s answer as ``ok:``/``fallback:``/``error:``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            latest = latest_checkpoint(run)
        except (StateFileError, CheckpointNotFoundError) as exc:
            assert os.path.join(run, "checkpoint") in str(exc) or run in str(exc), str(exc)
            return f"error: {type(exc).__name__}"
    fell_back = any(issubclass(w.category, StateFileWarning) for w in caught)
    if latest is None:
        return "None"
    return f"{'fallback' if fell_back else 'ok'}: {os.path.basename(latest)}"
