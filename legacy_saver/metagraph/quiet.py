"""Import TensorFlow without the lines its C++ runtime prints on stderr.

Importing TensorFlow writes absl log lines to file descriptor 2 before any Python code can
stop it (``WARNING: All log messages before absl::InitializeLog() is called ...``,
``cudart_stub.cc ... Could not find cuda drivers``), whatever ``TF_CPP_MIN_LOG_LEVEL`` says.
A command-line tool that promises one error line on failure cannot let them through, so
``import_tensorflow_quietly`` points descriptor 2 at ``/dev/null`` for the duration of the
import only. Errors raised by the import itself still propagate as exceptions.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["import_tensorflow_quietly", "stderr_silenced"]


@contextmanager
def stderr_silenced() -> Iterator[None]:
    """File descriptor 2 goes to ``/dev/null`` inside the block (C++ writers included)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """``import tensorflow`` (once) with its start-up log lines silenced."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with stderr_silenced():
        import tensorflow  # noqa: F401
