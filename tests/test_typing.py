"""The format layer (bundle, state file, errors) stays clean under ``mypy --strict``
(pyproject.toml's override): its types are part of what readers of the code rely on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.paths import ROOT

FORMAT_LAYER = ["legacy_saver/bundle", "legacy_saver/errors.py"]


@pytest.mark.slow
def test_format_layer_is_mypy_strict_clean(tmp_path):
    pytest.importorskip("mypy")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "cache"),
            *FORMAT_LAYER,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
