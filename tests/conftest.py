"""Shared fixtures.

``realdata``: the directory of real third-party checkpoints (``../shared/realdata``
beside the clone); tests using it skip when it is absent (a fresh clone).
``tf``: TensorFlow, imported only by the tests that ask for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
TESTDATA = ROOT / "testdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is absent (fresh clone)")
    return REALDATA


@pytest.fixture(scope="session")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.fixture
def graph(tf):
    """A fresh TF1-style graph and session, without touching global eager mode."""
    g = tf.Graph()
    with g.as_default():
        sess = tf.compat.v1.Session(graph=g)
        try:
            yield g, sess
        finally:
            sess.close()
