"""`legacy-ckpt scan` as a user runs it: exit codes, the prefix rule, one error line only."""

from __future__ import annotations

import json
import os
import subprocess

from tests.helpers.paths import cli_command


def _scan(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [*cli_command(), "scan", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_scan_prints_no_log_lines_and_one_error_line(realdata, tmp_path):
    good = _scan(str(realdata / "tf2onnx_regression_ckpt" / "model.meta"))
    assert good.returncode == 0, good.stderr
    assert good.stderr == ""  # no absl start-up lines from TensorFlow
    assert "0 unsafe op(s)" in good.stdout and "runs nothing unsafe" in good.stdout
    (tmp_path / "bad.meta").write_bytes(b"\xff\xff not a graph")
    bad = _scan(str(tmp_path / "bad.meta"))
    assert bad.returncode == 1
    assert len(bad.stderr.strip().splitlines()) == 1 and "bad.meta" in bad.stderr
    os.mkfifo(tmp_path / "fifo.meta")
    fifo = _scan(str(tmp_path / "fifo.meta"))
    assert fifo.returncode == 1 and "is a FIFO, not a regular file" in fifo.stderr
    assert len(fifo.stderr.strip().splitlines()) == 1


def test_scan_json_of_an_estimator_lists_what_each_fetch_reaches(realdata):
    out = _scan(str(realdata / "tfx_estimator_taxi_ckpt" / "model.ckpt-1000"), "--json")
    assert out.returncode == 1 and out.stderr == ""
    report = json.loads(out.stdout)
    assert report["loads_safely"] is True and report["ok"] is False
    assert report["load"][0]["action"] == "the file's restore op (canonical)"
    fetches = {f["name"]: f for f in report["fetches"]}
    assert fetches["collection losses"]["findings"]
