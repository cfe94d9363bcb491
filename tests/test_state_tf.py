"""The state file against stock TensorFlow, both ways, on real files, and TF-free."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from legacy_saver.bundle import state as st_mod
from legacy_saver.state import (
    StateFileWarning,
    get_checkpoint_mtimes,
    get_checkpoint_state,
    latest_checkpoint,
    update_checkpoint_state,
)
from tests.helpers.fake_files import fake_v2 as _v2
from tests.helpers.fake_files import state_fields as _fields

# A warning nobody asked for is a bug: every expected one is caught with pytest.warns.
pytestmark = pytest.mark.filterwarnings("error::legacy_saver.state.StateFileWarning")


# --- TensorFlow, both ways ------------------------------------------------------------------


@pytest.mark.tf
def test_tensorflow_reads_what_we_write(tf, tmp_path, monkeypatch):
    paths = [_v2(tmp_path / f"model.ckpt-{i}") for i in (1, 2)]
    cases = [
        dict(all_model_checkpoint_paths=paths),
        dict(all_model_checkpoint_paths=paths, all_model_checkpoint_timestamps=[1.5, 2.5],
             last_preserved_timestamp=0.75),
        dict(all_model_checkpoint_paths=paths, save_relative_paths=True),
    ]  # fmt: skip
    for kwargs in cases:
        update_checkpoint_state(tmp_path, paths[-1], **kwargs)
        ours = (tmp_path / "checkpoint").read_bytes()
        assert _fields(tf.train.get_checkpoint_state(str(tmp_path))) == _fields(
            get_checkpoint_state(tmp_path)
        )
        assert tf.train.latest_checkpoint(str(tmp_path)) == latest_checkpoint(tmp_path)
        if not kwargs.get("save_relative_paths"):
            kwargs = {k: v for k, v in kwargs.items() if k != "save_relative_paths"}
            tf.compat.v1.train.update_checkpoint_state(str(tmp_path), paths[-1], **kwargs)
            assert (tmp_path / "checkpoint").read_bytes() == ours  # byte for byte
    monkeypatch.chdir(tmp_path.parent)  # relative save_dir, cwd-relative paths (Saver style)
    rel = [os.path.join(tmp_path.name, os.path.basename(p)) for p in paths]
    update_checkpoint_state(tmp_path.name, rel[-1], rel)
    ours = (tmp_path / "checkpoint").read_bytes()
    tf.compat.v1.train.update_checkpoint_state(tmp_path.name, rel[-1], list(rel))
    assert (tmp_path / "checkpoint").read_bytes() == ours
    assert latest_checkpoint(tmp_path.name) == tf.train.latest_checkpoint(tmp_path.name) == rel[1]


@pytest.mark.tf
def test_we_read_what_tensorflow_writes(tf, tmp_path):
    v = tf.Variable(1.0)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=v), str(tmp_path), max_to_keep=2)
    for _ in range(3):
        manager.save()
    assert _fields(get_checkpoint_state(tmp_path)) == _fields(
        tf.train.get_checkpoint_state(str(tmp_path))
    )
    assert len(get_checkpoint_state(tmp_path).all_model_checkpoint_timestamps) == 2
    assert latest_checkpoint(tmp_path) == tf.train.latest_checkpoint(str(tmp_path))
    tf_mtimes = tf.compat.v1.train.get_checkpoint_mtimes([manager.latest_checkpoint])
    assert [t // 1 for t in get_checkpoint_mtimes([manager.latest_checkpoint])] == tf_mtimes
    tf.compat.v1.train.update_checkpoint_state(
        str(tmp_path), "ckpt-9", ["ckpt-8"], all_model_checkpoint_timestamps=[8.0, 9.0],
        last_preserved_timestamp=7.0, latest_filename="other",
    )  # fmt: skip
    assert _fields(get_checkpoint_state(tmp_path, "other")) == _fields(
        tf.train.get_checkpoint_state(str(tmp_path), "other")
    )


@pytest.mark.tf
def test_tensorflow_falls_into_the_traps_we_avoid(tf, tmp_path):
    """Moved directory and a state file taken for a V1 checkpoint (documentation by test)."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    update_checkpoint_state(old, _v2(old / "m-1"))
    old.rename(new)
    assert tf.train.latest_checkpoint(str(new)) is None
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "checkpoint"\n')
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint")


# --- real files ------------------------------------------------------------------------------


def test_real_foreign_absolute_paths(realdata):
    d = realdata / "serving_bad_half_plus_two" / "00000123"
    with pytest.warns(StateFileWarning, match="/tmp/bad_half_plus_two/00000123/export"):
        assert latest_checkpoint(d) == str(d / "export")


def test_real_prefix_named_checkpoint(realdata):
    d = realdata / "tfx_keras_tuner_tf2_ckpt"
    assert latest_checkpoint(d) == str(d / "checkpoint")


@pytest.mark.tf
def test_real_state_files_agree_with_tensorflow(tf, realdata):
    dirs = sorted(p.parent for p in realdata.glob("**/checkpoint") if p.is_file())
    assert len(dirs) >= 7
    for d in dirs:
        expected = tf.train.latest_checkpoint(str(d))
        if expected is None:  # only the foreign-path file: we recover it
            assert d.parent.name == "serving_bad_half_plus_two"
            continue
        assert latest_checkpoint(d) == expected, d
        assert _fields(get_checkpoint_state(d)) == _fields(tf.train.get_checkpoint_state(str(d)))


# --- layering --------------------------------------------------------------------------------


def test_state_module_is_tensorflow_free():
    tree = ast.parse(Path(st_mod.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    ours = {m for m in imported if m.split(".")[0] == "legacy_saver"}
    assert ours == set()  # relative imports only (tests/test_layers.py: within the format)
    assert not any(m.split(".")[0] == "tensorflow" for m in imported)
    code = "import sys, legacy_saver.state; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
