"""``legacy-ckpt inspect`` on real checkpoints, checked against what stock
TensorFlow printed for them (``realdata/_listings``), plus the CLI contract:
JSON schema, exit codes, --help examples, no TensorFlow import."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converters.cli import main
from tests.helpers.paths import ROOT

INSPECT_KEYS = {
    "schema", "path", "prefix", "format", "kind", "shards", "compressed_index", "files",
    "variables", "totals", "object_graph_nodes", "notes", "tensor",
}  # fmt: skip
_ROW = re.compile(r"^   (\S.*?)  (\w+)  (\[[\d, ]*\])$")

CASES = {  # item -> path inside it, expected format
    "serving_session_bundle_v1": ("00000123/export", "V1"),
    "serving_session_bundle_v1_sharded": ("00000123/export-00000-of-00001", "V1"),
    "t2t_transformer_test_ckpt": ("", "V2"),  # 2 shards, through the state file
    "serving_saved_model_half_plus_two_cpu": ("00000123", "V2"),  # snappy, a SavedModel dir
    "tfr_bert_lite_tf2_ckpt": ("bert_lite_tf2.ckpt", "V2"),  # object-based, snappy
    "cmle_housing_regressor_estimator": ("model.ckpt-1000", "V2"),  # 2 shards
}


def listing(realdata: Path, item: str) -> dict:
    """Keys/dtypes/shapes, shard count and compression TensorFlow reported."""
    text = (realdata / "_listings" / f"{item}.txt").read_text()
    head = re.search(r"LOAD OK (\S+): .*object_based=(\w+)", text)
    assert head, item
    rows = {}
    for line in text.splitlines()[text.splitlines().index(head.group(0)) + 1 :]:
        m = _ROW.match(line)
        if not m:
            break
        rows[m[1]] = (m[2], json.loads(m[3]))
    shards = re.search(r"HEADER num_shards=(\d+)", text)
    compression = re.search(r"compression \[(.*)\]", text)
    return {
        "rows": rows,
        "object_based": head[2] == "True",
        "shards": int(shards[1]) if shards else None,
        "snappy": bool(compression and "snappy" in compression[1]),
    }


def run_json(capsys, argv: list[str]) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("item", sorted(CASES))
def test_inspect_matches_tensorflow_listing(realdata, capsys, item):
    inner, fmt = CASES[item]
    code, info = run_json(capsys, ["inspect", str(realdata / item / inner)])
    assert code == 0
    assert set(info) == INSPECT_KEYS and info["schema"] == "legacy-ckpt/inspect/1"
    want = listing(realdata, item)
    got = {v["name"]: (v["dtype"], v["shape"]) for v in info["variables"]}
    assert got == want["rows"]
    assert info["format"] == fmt
    assert info["kind"] == ("object-based" if want["object_based"] else "name-based")
    if want["shards"] is not None:
        assert info["shards"] == want["shards"]
    assert info["compressed_index"] == want["snappy"]
    files_total = sum(f["bytes"] for f in info["files"])
    assert files_total == sum(
        p.stat().st_size for p in map(Path, (f["path"] for f in info["files"]))
    )
    assert info["totals"]["files_bytes"] == files_total
    numeric = [v for v in info["variables"] if v["dtype"] != "string"]
    for v in numeric:
        itemsize = np.dtype(v["dtype"]).itemsize
        assert v["bytes"] == int(np.prod(v["shape"])) * itemsize, v["name"]


def test_inspect_table_lists_every_variable(realdata, capsys):
    assert main(["inspect", str(realdata / "tfx_estimator_taxi_ckpt_2019_sharded")]) == 0
    out = capsys.readouterr().out
    rows = listing(realdata, "tfx_estimator_taxi_ckpt_2019_sharded")["rows"]
    for name, (dtype, shape) in rows.items():
        assert re.search(
            rf"^{re.escape(name)}\s+{dtype}\s+\[{','.join(map(str, shape))}\]", out, re.M
        )
    assert "V2, name-based, 2 shard(s)" in out
    assert f"{len(rows)} variables" in out


@pytest.mark.slow
def test_inspect_tensor_matches_tensorflow(realdata, capsys, tf):
    prefix = realdata / "sjchoi_charrnn_v1" / "model.ckpt-8000"
    expected = tf.train.load_checkpoint(str(prefix)).get_tensor("rnnlm/softmax_b")
    code, info = run_json(capsys, ["inspect", str(prefix), "--tensor", "rnnlm/softmax_b"])
    assert code == 0
    tensor = info["tensor"]
    assert tensor["shape"] == list(expected.shape) and not tensor["truncated"]
    np.testing.assert_array_equal(np.array(tensor["value"], dtype=np.float32), expected)
    assert tensor["stats"]["max"] == pytest.approx(float(expected.max()))
    assert main(["inspect", str(prefix), "--tensor", "rnnlm/softmax_w"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("rnnlm/softmax_w  float32  [128, 99]") and "..." in text
    assert len(text.splitlines()) < 20  # truncated, not 12 672 numbers


def test_inspect_large_tensor_json_is_truncated(realdata, capsys):
    prefix = realdata / "sjchoi_charrnn_v1" / "model.ckpt-8000"
    code, info = run_json(capsys, ["inspect", str(prefix), "--tensor", "rnnlm/softmax_w"])
    assert code == 0 and info["tensor"]["truncated"] and info["tensor"]["value"] is None
    assert info["tensor"]["stats"]["min"] < info["tensor"]["stats"]["max"]


def test_missing_checkpoint_is_exit_1_one_line(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "nope" in err
    code, info = run_json(capsys, ["inspect", str(tmp_path / "nope")])
    assert code == 1 and info["schema"] == "legacy-ckpt/error/1"
    assert info["type"] == "CheckpointNotFoundError" and "nope" in info["error"]


def test_missing_tensor_is_exit_1(realdata, capsys):
    path = str(realdata / "serving_session_bundle_v1" / "00000123" / "export")
    assert main(["inspect", path, "--tensor", "no/such"]) == 1
    assert "no/such" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["inspect", "diff", "convert", "verify", "scan", "batch"])
def test_every_command_has_help_with_example(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"legacy-ckpt {command}" in out and "--json" in out


def test_usage_errors_exit_2(capsys):
    for argv in (["inspect"], ["frobnicate"], ["diff", "a"], ["batch", "a", "b", "-j", "x"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
    capsys.readouterr()


@pytest.mark.slow
def test_console_script_and_module(realdata):
    path = str(realdata / "tfr_bert_lite_tf2_ckpt")
    script = Path(sys.executable).parent / "legacy-ckpt"
    assert script.exists(), (
        f"{script} missing: the package is not installed beside {sys.executable}"
    )
    for cmd in ([str(script)], [sys.executable, "-m", "converters"]):
        done = subprocess.run([*cmd, "inspect", path, "--json"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        info = json.loads(done.stdout)
        assert info["kind"] == "object-based" and info["object_graph_nodes"] == 65
        missing = subprocess.run([*cmd, "inspect", path + "-nope"], capture_output=True, text=True)
        assert missing.returncode == 1 and "Traceback" not in missing.stderr


def test_tf_free_commands_do_not_import_tensorflow(realdata, tmp_path):
    v1 = realdata / "serving_session_bundle_v1" / "00000123" / "export"
    v2 = realdata / "serving_session_bundle_v2" / "00000123" / "export"
    src = tmp_path / "src"
    src.mkdir()
    (src / "export").write_bytes(v1.read_bytes())
    code = f"""
import sys
from converters.cli import main
from tests.helpers.paths import ROOT, cli_command
runs = [
    ["inspect", {str(v1)!r}], ["inspect", {str(v2)!r}, "--tensor", "Variable"],
    ["diff", {str(v1)!r}, {str(v2)!r}],
    ["convert", {str(v2)!r}, {str(tmp_path / "tf2")!r}],
    ["verify", {str(v2)!r}, {str(tmp_path / "tf2")!r}],
    ["batch", {str(src)!r}, {str(tmp_path / "dst")!r}, "-j", "1", "--quiet"],
]
for argv in runs:
    assert main(argv) == 0, argv
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


def test_state_file_fallback_is_a_one_line_warning(realdata, capsys):
    directory = realdata / "serving_bad_half_plus_two" / "00000123"  # state names /tmp/... paths
    assert main(["inspect", str(directory)]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("legacy-ckpt inspect: warning: ")
    assert "/tmp/bad_half_plus_two/00000123/export" in lines[0]
    assert "V1, name-based" in captured.out
