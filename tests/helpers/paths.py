"""Where things are: the repository, bundled test data, real third-party data, the CLI."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REALDATA = ROOT.parent / "shared" / "realdata"
LISTINGS = REALDATA / "_listings"
TESTDATA = ROOT / "testdata"
PEER_TESTS = ROOT.parent / "shared" / "peer-tests"  # TensorFlow's own Saver tests (README there)


def cli_command() -> list[str]:
    """``legacy-ckpt`` as installed beside the running interpreter (any virtualenv), else
    ``python -m converters`` with the same interpreter."""
    beside = Path(sys.executable).parent / "legacy-ckpt"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("legacy-ckpt")
    if found and Path(found).parent == Path(sys.executable).parent:
        return [found]
    return [sys.executable, "-m", "converters"]
