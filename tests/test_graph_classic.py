"""The classic TF1 tutorial, end to end: stock TF saves, a fresh process imports and extends."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

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
def test_fresh_process_restores_latest_and_extends_the_graph(classic, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "checkpoint": str(tmp_path / "my_test_model-1000"),
        "first": 60.0,
        "second": 120.0,
    }
