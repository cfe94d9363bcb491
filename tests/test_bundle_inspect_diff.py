"""``inspect`` and ``diff`` live in the format layer: ``legacy-ckpt inspect``/``diff`` load
``legacy_saver.bundle`` and the printed tables only, never the conversion engine; the
old ``converters.inspect``/``converters.diff`` names still work."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import converters.diff
import converters.inspect
import legacy_saver
from legacy_saver.bundle import BundleWriter
from legacy_saver.bundle import diff as bundle_diff
from legacy_saver.bundle import inspect as bundle_inspect
from tests.helpers.paths import ROOT

ENGINE = ("converters.api", "converters.execute", "converters.structural", "converters.plan",
          "converters.rules", "converters.batch", "converters.verify", "converters.target",
          "converters.flatten", "converters.names", "converters.object_graph",
          "converters.report")  # fmt: skip

MODULES_AFTER = """
import json, sys
from converters.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(*argv: str) -> dict:
    out = subprocess.run([sys.executable, "-c", MODULES_AFTER, *argv], capture_output=True,
                         text=True, cwd=ROOT, check=True, timeout=120)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cli_inspect_and_diff_never_load_the_conversion_engine(tmp_path) -> None:
    for name, value in (("a", 1.0), ("b", 2.0)):
        with BundleWriter(tmp_path / name, fsync=False) as w:
            w.add("w", np.full(4, value, np.float32))
            w.add("s", np.array([b"x", b"y"], dtype=object))
    for argv in (["inspect", str(ROOT / "testdata" / "tf1_mlp")],
                 ["inspect", str(tmp_path / "a"), "--tensor", "s"],
                 ["diff", str(tmp_path / "a"), str(tmp_path / "b")]):  # fmt: skip
        result = _modules_after(*argv)
        loaded = [m for m in result["modules"] if m.startswith(ENGINE)]
        assert loaded == [], (argv, loaded)
        assert "legacy_saver.bundle.inspect" in result["modules"] or argv[0] == "diff"


def test_old_and_new_names_are_the_same_functions() -> None:
    assert converters.inspect.inspect_checkpoint is bundle_inspect.inspect_checkpoint
    assert converters.inspect.tensor_value is bundle_inspect.tensor_value
    assert converters.diff.diff_checkpoints is bundle_diff.diff_checkpoints
    assert legacy_saver.inspect_checkpoint is bundle_inspect.inspect_checkpoint
    assert legacy_saver.diff_checkpoints is bundle_diff.diff_checkpoints
