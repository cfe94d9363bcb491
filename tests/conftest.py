"""Shared fixtures.

``realdata``: the directory of real third-party checkpoints (``../shared/realdata``
beside the clone); tests using it skip when it is absent (a fresh clone).
``tf``: TensorFlow, imported only by the tests that ask for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.paths import REALDATA

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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


@pytest.fixture
def classic(tf, tmp_path) -> str:
    """The classic TF1 tutorial model (``w1``, ``w2`` placeholders, ``bias`` = 2,
    ``op_to_restore`` = (w1 + w2) * bias), saved by stock TF's Saver in ``tmp_path``
    with global_step=1000; returns the checkpoint prefix."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        w1 = tf.compat.v1.placeholder(tf.float32, name="w1")
        w2 = tf.compat.v1.placeholder(tf.float32, name="w2")
        bias = tf.compat.v1.Variable(2.0, name="bias")
        tf.multiply(tf.add(w1, w2), bias, name="op_to_restore")
        sess.run(tf.compat.v1.global_variables_initializer())
        saver = tf.compat.v1.train.Saver()
        return str(saver.save(sess, os.path.join(tmp_path, "my_test_model"), global_step=1000))
