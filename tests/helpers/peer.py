"""Running TensorFlow's own Saver tests (``../shared/peer-tests``) as a user would, with
``legacy_saver`` substituted (its ``conftest.py``), and reading the results.

``run(mode, subst, ids)`` copies the suite to a temporary directory (it stays read-only
where it lives), runs pytest on it in a subprocess and returns ``{test id: outcome}``
from its JUnit XML: ``passed``, ``failed`` or ``skipped``; a test with subtests counts as
failed if any failed, as ``compare.py`` does. ``ACCEPTED`` is the list of deliberate
differences, each documented in ``docs/saver.md`` ("Differences from stock").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from tests.helpers.paths import PEER_TESTS

FILES = (
    "saver_test.py",
    "checkpoint_management_test.py",
    "saver_large_variable_test.py",
    "saver_large_partitioned_variable_test.py",
)
TIMEOUT_S = 1500  # run.sh's

# Deliberate differences: the tests stock passes and ours does not, and why (docs/saver.md).
ACCEPTED = {
    "checkpoint_management_test.CheckpointStateTest::testUpdateCheckpointState": (
        "writes an absolute path outside the relative save_dir: the state file refuses paths "
        "outside its directory unless allow_outside=True"
    ),
    "checkpoint_management_test.CheckpointStateTest::testFSPath": (
        "the same write as testUpdateCheckpointState, through a pathlib.Path"
    ),
    "saver_test.KeepCheckpointEveryNHoursTest::testNonSharded": (
        "patches the clock of TensorFlow's saver module (mock.patch.object(saver_module, "
        "'time')), which our Saver does not read; with a real clock we behave as stock "
        "(tests/test_saver_interop.py::test_keep_every_n_hours_as_stock_with_a_real_clock)"
    ),
}


def outcomes(xml_path: str | Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            outcome = "failed"
        elif "skipped" in kinds:
            outcome = "skipped"
        else:
            outcome = "passed"
        previous = found.get(name)
        if previous is None or outcome == "failed" or (outcome, previous) == ("passed", "skipped"):
            found[name] = outcome
    return found


def run(tf1: bool, subst: bool, ids: Sequence[str] = (), workers: int = 2) -> dict[str, str]:
    """One run of the suite (or of ``ids`` only, as ``file.Class::test``) in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="peer-") as work:
        for name in [*FILES, "saver_test_utils.py", "conftest.py"]:
            shutil.copy(PEER_TESTS / name, work)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
               "PYTHONDONTWRITEBYTECODE": "1", "LEGACY_SAVER_SUBST": "1" if subst else "0",
               "TF_V1_MODE": "1" if tf1 else "0"}  # fmt: skip
        env.pop("PYTEST_XDIST_WORKER", None)
        targets = [_node(i) for i in ids] if ids else list(FILES)
        xml = os.path.join(work, "results.xml")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={xml}", *targets]  # fmt: skip
        if workers > 1:
            cmd[3:3] = ["-n", str(workers)]
        subprocess.run(cmd, cwd=work, env=env, capture_output=True, timeout=TIMEOUT_S)
        return outcomes(xml) if os.path.exists(xml) else {}


def _node(test_id: str) -> str:
    """``saver_test.SaverTest::testBasic`` -> ``saver_test.py::SaverTest::testBasic``."""
    module_and_class, test = test_id.split("::")
    module, cls = module_and_class.split(".", 1)
    return f"{module}.py::{cls}::{test}"
