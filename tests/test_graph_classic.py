"""The classic TF1 tutorial, end to end: stock TF saves, a fresh process imports and extends."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _classic(tf, directory):
    """The TF1 tutorial model, saved by stock TF with global_step=1000."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        w1 = tf.compat.v1.placeholder(tf.float32, name="w1")
        w2 = tf.compat.v1.placeholder(tf.float32, name="w2")
        bias = tf.compat.v1.Variable(2.0, name="bias")
        tf.multiply(tf.add(w1, w2), bias, name="op_to_restore")
        sess.run(tf.compat.v1.global_variables_initializer())
        saver = tf.compat.v1.train.Saver()
        return saver.save(sess, os.path.join(directory, "my_test_model"), global_step=1000)

FRESH_PROCESS = """
import json, sys
import tensorflow as tf
from legacy_saver.graph import LegacyModel

with LegacyModel.load(sys.argv[1]) as model:        # the directory: its latest checkpoint
    feed = {"w1:0": 13.0, "w2:0": 17.0}
    first = model.run("op_to_restore:0", feed)
    with model.graph.as_default():
        doubled = tf.multiply(model.tensor("op_to_restore:0"), 2.0, name="doubled")
    second = model.run(doubled, feed)
    print(json.dumps({"checkpoint": model.checkpoint, "first": float(first),
                      "second": float(second)}))
"""


@pytest.mark.slow
def test_fresh_process_restores_latest_and_extends_the_graph(tf, tmp_path):
    _classic(tf, str(tmp_path))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "checkpoint": str(tmp_path / "my_test_model-1000"),
        "first": 60.0,
        "second": 120.0,
    }
