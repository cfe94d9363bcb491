"""Both packages stay mypy-clean under pyproject.toml's configuration, and the format layer
(bundle, state file, errors) under ``mypy --strict`` too: the types are part of what readers
of the code rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

FORMAT_LAYER = ["legacy_saver/bundle", "legacy_saver/errors.py"]
PACKAGES = ["legacy_saver", "converters"]


def _mypy(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m mypy`` from the repository root (so pyproject.toml's config applies)."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for this module: the second run reuses what the first one checked."""
    return tmp_path_factory.mktemp("mypy_cache")


@pytest.mark.slow
def test_both_packages_are_mypy_clean(cache):
    pytest.importorskip("mypy")
    result = _mypy(cache, *PACKAGES)
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert result.returncode == 0 and not errors, (
        f"mypy {' '.join(PACKAGES)}: {len(errors)} error(s)\n{result.stdout}{result.stderr}"
    )
    assert "Success: no issues found" in result.stdout


@pytest.mark.slow
def test_format_layer_is_mypy_strict_clean(cache):
    pytest.importorskip("mypy")
    result = _mypy(cache, "--strict", *FORMAT_LAYER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
