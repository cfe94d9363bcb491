"""``ruff check`` and ``ruff format --check`` are clean over the whole tree (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.paths import ROOT


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_is_clean(command):
    pytest.importorskip("ruff")
    done = subprocess.run([sys.executable, "-m", "ruff", *command, "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
