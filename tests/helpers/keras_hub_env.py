"""Import keras_hub in a test process without loading tensorflow_text.

keras_hub imports ``tensorflow_text`` when it is installed (keras-hub depends on it), and
loading it registers its ops with TensorFlow for the rest of the process. Tests that
count a graph's unregistered ops (``test_graph_model.py``) then see fewer of them when an
xdist worker happened to run a keras_hub test first. The presets tests need only the
backbones and masked-LM tasks, not the tokenizers, so they keep tensorflow_text out:
keras_hub treats it as absent (its ``ImportError`` path), exactly as on a machine
without it. If the process already loaded tensorflow_text, nothing changes.
"""

from __future__ import annotations

import sys

import pytest


def import_keras_hub():  # type: ignore[no-untyped-def]
    """``keras_hub`` (skipping the test when absent), tensorflow_text left unloaded."""
    if "tensorflow_text" not in sys.modules:
        sys.modules["tensorflow_text"] = None  # type: ignore[assignment]  # import -> ImportError
    return pytest.importorskip("keras_hub")
