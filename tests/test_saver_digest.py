"""Saver(digest=True): a sha256 manifest written with each checkpoint, verified on restore."""

from __future__ import annotations

import os

import numpy as np
import pytest

from legacy_saver import CorruptCheckpointError, Saver
from legacy_saver.digest import digest_path


def _model(tf):
    v = tf.compat.v1.get_variable("w", initializer=np.arange(6, dtype=np.float32).reshape(2, 3))
    return v


def test_digest_written_verified_and_retired_with_its_checkpoint(graph, tf, tmp_path):
    g, sess = graph
    v = _model(tf)
    saver = Saver(max_to_keep=1, digest=True)
    sess.run(tf.compat.v1.global_variables_initializer())
    first = saver.save(sess, str(tmp_path / "m"), global_step=1)
    assert os.path.exists(digest_path(first))
    second = saver.save(sess, str(tmp_path / "m"), global_step=2)
    assert not os.path.exists(digest_path(first))  # retention removes the manifest too
    sess.run(v.assign(tf.zeros_like(v)))
    saver.restore(sess, second)
    np.testing.assert_array_equal(sess.run(v), np.arange(6, dtype=np.float32).reshape(2, 3))

    meta = second + ".meta"
    data = bytearray(open(meta, "rb").read())
    data[len(data) // 2] ^= 0x01
    open(meta, "wb").write(bytes(data))
    with pytest.raises(CorruptCheckpointError, match=r"\.meta"):
        saver.restore(sess, second)


def test_no_manifest_by_default(graph, tf, tmp_path):
    g, sess = graph
    _model(tf)
    saver = Saver()
    sess.run(tf.compat.v1.global_variables_initializer())
    path = saver.save(sess, str(tmp_path / "m"))
    assert not os.path.exists(digest_path(path))
    saver.restore(sess, path)


def test_retention_removes_the_digest_manifest(tmp_path):
    from legacy_saver.bundle import files
    from legacy_saver.bundle.naming import digest_path

    prefix = str(tmp_path / "m-1")
    from tests.helpers.fake_files import fake_v2

    fake_v2(prefix)
    open(prefix + ".meta", "wb").close()
    open(digest_path(prefix), "wb").close()
    files.remove_checkpoint(prefix)
    assert os.listdir(tmp_path) == []
