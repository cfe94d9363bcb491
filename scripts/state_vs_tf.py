"""The state-file table of RELIABILITY.md: ours and stock TensorFlow's
``latest_checkpoint`` on every case of ``tests/test_reliability_state.py``.

Usage: ``.venv/bin/python -m scripts.state_vs_tf``
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tests.helpers.state_cases import CASES, make_directory, our_outcome, write_state


def tf_outcome(tf: object, run: str) -> str:
    try:
        latest = tf.train.latest_checkpoint(run)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - we report whatever TF does
        return f"error: {type(exc).__name__}"
    return "None (silent)" if latest is None else f"ok: {os.path.relpath(latest, run)}"


def main() -> int:
    import tensorflow as tf

    print(f"| case | legacy_saver | TensorFlow {tf.__version__} |\n|---|---|---|")
    silent = 0
    for case in CASES:
        with tempfile.TemporaryDirectory() as root:
            run, other = make_directory(root)
            write_state(run, other, case)
            ours, theirs = our_outcome(run), tf_outcome(tf, run)
        silent += theirs.startswith("None")
        print(f"| {case.name} | {ours} | {theirs} |")
    print(f"\n{len(CASES)} cases; TensorFlow silently returned None on {silent}; ours never did.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
