"""``legacy-ckpt diff``, ``convert``, ``verify`` and ``scan`` through ``main(argv)``:
results, JSON schemas, exit codes and overwrite refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from converters.cli import main
from legacy_saver.bundle import BundleWriter, load_checkpoint

DIFF_KEYS = {"schema", "a", "b", "atol", "only_in_a", "only_in_b", "changed", "values", "equal",
             "notes", "same"}  # fmt: skip
CONVERT_KEYS = {"schema", "to", "src", "dst", "dry_run", "report"}
VERIFY_KEYS = {"schema", "ok", "src", "dst", "compared", "differences", "plan_from"}
SCAN_KEYS = {"schema", "ok", "loads_safely", "source", "findings", "load", "fetches",
             "nodes_scanned", "functions_scanned"}  # fmt: skip


def run_json(capsys, argv: list[str]) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def write(prefix: Path, tensors: dict) -> str:
    with BundleWriter(str(prefix)) as w:
        for key, value in tensors.items():
            w.add(key, value)
    return str(prefix)


def test_diff_reports_each_kind_of_difference(tmp_path, capsys):
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    nudged = base.copy()
    nudged[1, 2] += 0.5
    with_nan = np.array([1.0, np.nan], dtype=np.float64)
    a = write(tmp_path / "a", {
        "same": base, "w": base, "gone": base, "shape": base, "s": np.array([b"x"]),
        "nan": with_nan, "flag": np.array([True, False]),
    })  # fmt: skip
    b = write(tmp_path / "b", {
        "same": base, "w": nudged, "new": base, "shape": base.T, "s": np.array([b"y"]),
        "nan": with_nan.copy(), "flag": np.array([True, True]),
    })  # fmt: skip
    code, report = run_json(capsys, ["diff", a, b])
    assert code == 1 and set(report) == DIFF_KEYS and report["schema"] == "legacy-ckpt/diff/1"
    assert report["only_in_a"] == ["gone"] and report["only_in_b"] == ["new"]
    assert [c["key"] for c in report["changed"]] == ["shape"]
    assert report["changed"][0]["shape_a"] == [3, 4] and report["changed"][0]["shape_b"] == [4, 3]
    values = {v["key"]: v for v in report["values"]}
    assert set(values) == {"w", "s", "flag"}
    assert values["w"]["differing"] == 1 and values["w"]["max_abs_diff"] == pytest.approx(0.5)
    assert values["s"]["max_abs_diff"] is None and values["flag"]["differing"] == 1
    assert report["equal"] == 2 and not report["same"]  # "same" and "nan" (NaN == NaN)
    code, report = run_json(capsys, ["diff", a, b, "--atol", "0.5"])
    assert "w" not in {v["key"] for v in report["values"]}
    assert main(["diff", a, b]) == 1
    out = capsys.readouterr().out
    assert "only in a   gone" in out and "w: 1/12 elements differ, max abs diff 0.5" in out


def test_diff_v1_against_its_v2_resave_is_same(realdata, capsys):
    v1 = realdata / "serving_session_bundle_v1" / "00000123" / "export"
    v2 = realdata / "serving_session_bundle_v2" / "00000123" / "export"
    code, report = run_json(capsys, ["diff", str(v1), str(v2)])
    assert code == 0 and report["same"] and report["equal"] == 2


def test_diff_rename_pair_lists_renamed_keys(realdata, capsys):
    a, b = realdata / "sjchoi_charrnn_v1", realdata / "sjchoi_charrnn_v2"
    code, report = run_json(capsys, ["diff", str(a), str(b)])
    keys_a, keys_b = set(load_checkpoint(a).keys()), set(load_checkpoint(b).keys())
    assert code == 1
    assert (
        set(report["only_in_a"]) == keys_a - keys_b and set(report["only_in_b"]) == keys_b - keys_a
    )


def test_convert_verify_and_overwrite_refusal(realdata, tmp_path, capsys):
    src = str(realdata / "t2t_transformer_test_ckpt")
    dst = str(tmp_path / "tf2" / "ckpt-1")
    code, out = run_json(capsys, ["convert", src, dst, "--to", "tf2"])
    assert code == 0 and set(out) == CONVERT_KEYS and out["schema"] == "legacy-ckpt/convert/1"
    assert out["report"]["kind"] == "tf1_to_tf2" and len(out["report"]["actions"]) == 250
    assert load_checkpoint(dst).is_object_based
    stamp = os.stat(dst + ".index").st_mtime_ns
    assert main(["convert", src, dst]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err
    assert os.stat(dst + ".index").st_mtime_ns == stamp
    code, out = run_json(capsys, ["verify", src, dst])
    assert code == 0 and set(out) == VERIFY_KEYS and out["ok"] and out["compared"] == 250
    assert main(["convert", src, dst, "--overwrite", "--optimizer", "drop"]) == 0
    capsys.readouterr()
    assert os.stat(dst + ".index").st_mtime_ns != stamp
    assert not any(".OPTIMIZER_SLOT" in k for k in load_checkpoint(dst).keys())
    code, out = run_json(capsys, ["verify", src, dst])
    assert code == 0 and out["ok"]  # verify recognises the optimizer-dropped plan


def test_verify_finds_a_changed_value(tmp_path, capsys):
    src = write(tmp_path / "src", {"a": np.ones(3, np.float32), "b": np.zeros(2, np.int64)})
    dst = write(
        tmp_path / "dst", {"a": np.array([1, 1, 2], np.float32), "b": np.zeros(2, np.int64)}
    )
    code, out = run_json(capsys, ["verify", src, dst])
    assert code == 1 and not out["ok"]
    assert [(d["src"], d["problem"]) for d in out["differences"]] == [("a", "values differ")]


def test_convert_dry_run_writes_nothing(realdata, tmp_path, capsys):
    dst = tmp_path / "out"
    src = str(realdata / "tfx_estimator_taxi_ckpt" / "model.ckpt-1000")
    code, out = run_json(capsys, ["convert", src, str(dst), "--dry-run"])
    assert code == 0 and out["dry_run"] and out["report"]["dry_run"]
    assert not list(tmp_path.iterdir())


def test_convert_v1_to_v2_and_back_to_tf1(realdata, tmp_path, capsys):
    v1 = realdata / "sjchoi_cnn_simple_v1_meta" / "cnn_simple.ckpt-4"
    assert main(["convert", str(v1), str(tmp_path / "v2"), "--to", "v2"]) == 0
    capsys.readouterr()
    code, report = run_json(capsys, ["diff", str(v1), str(tmp_path / "v2")])
    assert code == 0 and report["same"] and report["equal"] == 14
    tf2 = realdata / "tfx_keras_tuner_tf2_ckpt" / "checkpoint"
    code, out = run_json(capsys, ["convert", str(tf2), str(tmp_path / "tf1"), "--to", "tf1"])
    assert code == 0 and out["report"]["kind"] == "tf2_to_tf1"
    assert not load_checkpoint(tmp_path / "tf1").is_object_based


def test_convert_usage_errors_exit_2(realdata, tmp_path, capsys):
    src = str(realdata / "sjchoi_cnn_simple_v1_meta" / "cnn_simple.ckpt-4")
    for extra in (["--to", "v2", "--rules", "r.toml"], ["--to", "tf1", "--link"],
                  ["--target", "nocolon"]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(["convert", src, str(tmp_path / "x"), *extra])
        assert exc.value.code == 2, extra
    assert "does not apply" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_convert_object_based_to_tf2_fails_cleanly(realdata, tmp_path, capsys):
    code, out = run_json(
        capsys, ["convert", str(realdata / "tfr_bert_lite_tf2_ckpt"), str(tmp_path / "x")]
    )
    assert code == 1 and out["schema"] == "legacy-ckpt/error/1" and "object-based" in out["error"]


@pytest.mark.slow
def test_scan_meta(realdata, tmp_path, capsys):
    meta = realdata / "tf2onnx_regression_ckpt" / "model.meta"
    code, out = run_json(capsys, ["scan", str(meta)])
    assert set(out) == SCAN_KEYS and out["schema"] == "legacy-ckpt/scan/1"
    assert out["nodes_scanned"] > 0 and code == (0 if out["ok"] else 1)
    assert out["ok"] == (not out["findings"])
    (tmp_path / "bad.meta").write_bytes(b"\xff\xff not a graph")
    assert main(["scan", str(tmp_path / "bad.meta")]) == 1
    assert "bad.meta" in capsys.readouterr().err


@pytest.mark.slow
def test_convert_into_target_model(realdata, tmp_path, capsys, monkeypatch, tf):
    (tmp_path / "cli_target_model.py").write_text(
        "import tensorflow as tf\n\n"
        "def build():\n"
        "    m = tf.Module()\n"
        "    m.w = tf.Variable(0.0, name='Variable')\n"
        "    m.b = tf.Variable(0.0, name='Variable_1')\n"
        "    return m\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    src = realdata / "serving_session_bundle_v2" / "00000123" / "export"
    dst = tmp_path / "out" / "ckpt"
    target = ["--target", "cli_target_model:build"]
    code, out = run_json(capsys, ["convert", str(src), str(dst), *target])
    assert code == 0, out
    import cli_target_model

    model = cli_target_model.build()
    tf.train.Checkpoint(model=model).read(str(dst)).assert_existing_objects_matched()
    reader = load_checkpoint(src)
    assert model.w.numpy() == reader.get_tensor("Variable")
    assert model.b.numpy() == reader.get_tensor("Variable_1")
    with pytest.raises(SystemExit) as exc:
        main(["convert", str(src), str(tmp_path / "x"), "--target", "cli_target_model:nope"])
    assert exc.value.code == 2 and "has no 'nope'" in capsys.readouterr().err
