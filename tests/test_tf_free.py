"""The format layer, the state file and ``legacy-ckpt inspect`` never import
TensorFlow: proved in a fresh interpreter whose import system refuses (and
records) every attempt to import ``tensorflow``, ``keras`` or ``tf_keras``,
even attempts a library would swallow with ``try: import tensorflow``."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REALDATA, ROOT

BLOCKER = """
import sys

BLOCKED = ("tensorflow", "keras", "tf_keras")
attempts = []


class RefuseTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ImportError(f"TF-free code imported {name}")
        return None


sys.meta_path.insert(0, RefuseTensorFlow())
"""

READ_EVERYTHING = """
import json, os, sys
import numpy as np
import legacy_saver
import legacy_saver.bundle
import legacy_saver.state
from legacy_saver.bundle import BundleWriter

work, paths, run_cli = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "1"
prefix = os.path.join(work, "model.ckpt-1")
with BundleWriter(prefix, num_shards=2, fsync=False) as w:
    w.add("a/kernel", np.arange(6, dtype=np.float32).reshape(2, 3))
    w.add("a/names", np.array([b"x", b"\\xff"], dtype=object), shard=1)
    w.add_slice("p", (4,), ((0, 2),), np.ones(2, np.int64))
    w.add_slice("p", (4,), ((2, 2),), np.zeros(2, np.int64), shard=1)
legacy_saver.update_checkpoint_state(work, prefix)
assert legacy_saver.latest_checkpoint(work) == prefix
counts = {}
for path in [work, *paths]:
    with legacy_saver.load_checkpoint(path) as reader:
        for key in reader.keys():
            reader.get_tensor(key)
        reader.object_graph()
        counts[path] = len(reader.keys())
    legacy_saver.list_variables(path)
if run_cli:
    import converters.cli
    for path in [work, *paths]:
        code = converters.cli.main(["inspect", path])
        assert code in (0, None), f"inspect {path} exited {code}"
print(json.dumps({"counts": counts, "attempts": attempts,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}))
"""

REALDATA_PATHS = [
    "sjchoi_cnn_simple_v1_meta/cnn_simple.ckpt-4",  # V1
    "t2t_transformer_test_ckpt/model.ckpt-1",  # two shards
    "tfr_bert_lite_tf2_ckpt/bert_lite_tf2.ckpt",  # snappy index, object-based
    "serving_saved_model_half_plus_two_tf2_cpu/00000123",  # SavedModel directory
]


def _run(tmp_path: Path, run_cli: bool) -> dict:
    paths = [str(REALDATA / p) for p in REALDATA_PATHS] if REALDATA.is_dir() else []
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER + READ_EVERYTHING, str(tmp_path), json.dumps(paths),
         "1" if run_cli else "0"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_format_layer_and_state_never_import_tensorflow(tmp_path: Path) -> None:
    result = _run(tmp_path, run_cli=False)
    assert result["attempts"] == []
    assert result["loaded"] == []
    assert result["counts"][str(tmp_path)] == 3
    if REALDATA.is_dir():
        assert result["counts"][str(REALDATA / REALDATA_PATHS[2])] == 25


def test_inspect_cli_never_imports_tensorflow(tmp_path: Path) -> None:
    if importlib.util.find_spec("converters.cli") is None:
        pytest.skip("converters/cli.py does not exist yet (legacy-ckpt inspect is not built)")
    result = _run(tmp_path, run_cli=True)
    assert result["attempts"] == []
    assert result["loaded"] == []
