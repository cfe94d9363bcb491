"""``legacy-ckpt batch`` over a mixed tree built from real checkpoints: a V1
file with its .meta, a 2-shard V2 with a state file, a SavedModel, an
object-based checkpoint and a corrupt one; resume, refusal, and a batch killed
part-way then resumed to the same result as an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from converters.batch.discover import LOCK_NAME, MANIFEST_NAME
from converters.cli import main
from legacy_saver.bundle import BundleWriter, load_checkpoint
from legacy_saver.bundle.naming import is_temp
from tests.helpers.paths import cli_command

BATCH_KEYS = {"schema", "src_root", "dst_root", "converted", "skipped", "failed", "bytes",
              "seconds", "items", "state_files", "refused", "engine", "workers", "problems",
              "warnings"}  # fmt: skip
ITEM_KEYS = {"rel", "kind", "status", "action", "reason", "bytes", "seconds"}


def build_tree(realdata: Path, root: Path, big_mib: int = 0) -> Path:
    """The mixed tree; ``big_mib`` adds a generated name-based checkpoint that
    sorts second, so a killed run is caught writing it."""

    def copy(src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)

    v1 = realdata / "serving_bad_half_plus_two" / "00000123"
    copy(v1, root / "a_v1")  # V1 file + .meta + state file with a foreign absolute path
    copy(realdata / "t2t_transformer_test_ckpt", root / "c_sharded")
    copy(
        realdata / "serving_saved_model_half_plus_two_cpu" / "00000123", root / "d_savedmodel" / "1"
    )
    copy(realdata / "tfr_bert_lite_tf2_ckpt", root / "e_tf2")
    bad = root / "f_corrupt"
    copy(realdata / "sugyan_mnist_v2_regression", bad)
    data = bad / "regression.ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    data.write_bytes(bytes(raw))
    if big_mib:
        rng = np.random.default_rng(0)
        with BundleWriter(str(root / "b_big" / "model.ckpt-5"), fsync=False) as w:
            for i in range(big_mib // 8):
                w.add(f"layer{i}/kernel", rng.standard_normal((1024, 2048), dtype=np.float32))
    return root


def batch_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["batch", *argv, "--json", "--quiet"])
    return code, json.loads(capsys.readouterr().out)


def manifest(dst: Path) -> dict:
    return json.loads((dst / MANIFEST_NAME).read_text())


def tree_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in (MANIFEST_NAME, LOCK_NAME)}  # fmt: skip


def assert_complete(dst: Path) -> None:
    """Every checkpoint under a final name reads whole, checksums included."""
    for index in dst.rglob("*.index"):
        with load_checkpoint(str(index)[: -len(".index")]) as r:
            for key in r.keys():
                r.get_tensor(key)


def test_batch_mixed_tree(realdata, tmp_path, capsys):
    src = build_tree(realdata, tmp_path / "src")
    dst = tmp_path / "dst"
    code, out = batch_json(capsys, str(src), str(dst), "-j", "2")
    assert code == 1 and set(out) == BATCH_KEYS and out["schema"] == "legacy-ckpt/batch/1"
    assert all(set(i) == ITEM_KEYS for i in out["items"])
    status = {i["rel"]: (i["kind"], i["status"], i["action"]) for i in out["items"]}
    assert status == {
        "a_v1/export": ("v1", "converted", "tf1_to_tf2"),
        "c_sharded/model.ckpt-1": ("v2", "converted", "tf1_to_tf2"),
        "d_savedmodel/1/variables/variables": ("savedmodel", "converted", "tf1_to_tf2"),
        "e_tf2/bert_lite_tf2.ckpt": ("v2", "converted", "copy"),
        "f_corrupt/regression.ckpt": ("v2", "failed", "tf1_to_tf2"),
    }
    reason = next(i["reason"] for i in out["items"] if i["status"] == "failed")
    assert "checksum mismatch" in reason and "regression.ckpt.data-00000-of-00001" in reason
    assert (out["converted"], out["skipped"], out["failed"]) == (4, 0, 1)
    assert_complete(dst)
    assert not (dst / "f_corrupt" / "regression.ckpt.index").exists()
    assert load_checkpoint(dst / "c_sharded" / "model.ckpt-1").bundle.num_shards == 2
    assert (dst / "a_v1" / "export.meta").read_bytes() == (
        src / "a_v1" / "export.meta"
    ).read_bytes()
    assert (dst / "e_tf2" / "bert_lite_tf2.ckpt.index").read_bytes() == \
        (src / "e_tf2" / "bert_lite_tf2.ckpt.index").read_bytes()  # fmt: skip
    # state files: rewritten relative, the foreign absolute path mapped by base name
    assert sorted(out["state_files"]) == ["a_v1/checkpoint", "c_sharded/checkpoint"]
    assert (dst / "a_v1" / "checkpoint").read_text() == (
        'model_checkpoint_path: "export"\nall_model_checkpoint_paths: "export"\n'
    )
    from legacy_saver.state import latest_checkpoint

    assert latest_checkpoint(dst / "c_sharded") == str(dst / "c_sharded" / "model.ckpt-1")
    entries = manifest(dst)["items"]
    assert {k: v["status"] for k, v in entries.items()} == {
        k: ("failed" if k.startswith("f_") else "done") for k in status
    }
    assert not [p for p in dst.rglob("*") if is_temp(p.name)]

    code, out = batch_json(capsys, str(src), str(dst), "-j", "1")  # resume
    assert code == 1 and (out["converted"], out["skipped"], out["failed"]) == (0, 4, 1)
    os.utime(src / "a_v1" / "export.meta", ns=(1, 1))  # a source changed: redone
    code, out = batch_json(capsys, str(src), str(dst), "-j", "1")
    assert (out["converted"], out["skipped"]) == (1, 3)
    code, out = batch_json(capsys, str(src), str(dst), "-j", "1", "--no-resume")
    assert (out["converted"], out["skipped"], out["failed"]) == (4, 0, 1)
    code, out = batch_json(capsys, str(src), str(dst), "-j", "1", "--optimizer", "drop")
    assert out["converted"] == 4  # other options: redone


def test_batch_refuses_foreign_destination(realdata, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(realdata / "serving_session_bundle_v2", src)
    dst = tmp_path / "dst"
    with BundleWriter(str(dst / "00000123" / "export")) as w:  # not written by a batch
        w.add("mine", np.zeros(3))
    before = tree_files(dst)
    for _ in range(3):  # refused, and still refused on every later run (#14.5)
        code, out = batch_json(capsys, str(src), str(dst))
        assert code == 1 and out["items"][0]["status"] == "refused"
        assert (
            "00000123/export.index exists and this batch did not write it"
            in out["items"][0]["reason"]
            and "pass --overwrite" in out["items"][0]["reason"]
        )
        assert (out["failed"], out["refused"]) == (1, 1)
        assert tree_files(dst) == before
        assert manifest(dst)["items"]["00000123/export"]["owned"] is False
    code, out = batch_json(capsys, str(src), str(dst), "--overwrite")
    assert code == 0 and out["converted"] == 1
    assert "mine" not in load_checkpoint(dst / "00000123" / "export").keys()


def test_batch_missing_source_is_exit_1(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "nope"), str(tmp_path / "dst")]) == 1
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_batch_killed_then_resumed_equals_uninterrupted(realdata, tmp_path, capsys):
    src = build_tree(realdata, tmp_path / "src", big_mib=64)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen([*cli_command(), "batch", str(src), str(killed), "-j", "1", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        caught = _wait_for_temp_file(proc, killed / "b_big")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert caught, "the batch finished before it could be killed mid-checkpoint"
    entries = manifest(killed)["items"]
    assert entries["a_v1/export"]["status"] == "done"
    assert entries["b_big/model.ckpt-5"]["status"] == "partial"
    assert_complete(killed)  # nothing half-written under a final name

    code, resumed = batch_json(capsys, str(src), str(killed), "-j", "2")
    assert code == 1 and resumed["skipped"] == 1 and resumed["failed"] == 1
    code, fresh = batch_json(capsys, str(src), str(clean), "-j", "2")
    assert code == 1 and fresh["converted"] == resumed["converted"] + 1
    assert tree_files(killed) == tree_files(clean)  # same files, same bytes, no temp leftovers

    def essence(entries: dict) -> dict:
        keep = ("status", "action", "fingerprint", "options", "outputs")
        return {k: {f: v[f] for f in keep} for k, v in entries.items()}

    assert essence(manifest(killed)["items"]) == essence(manifest(clean)["items"])


def _wait_for_temp_file(proc: subprocess.Popen, directory: Path, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if directory.is_dir() and any(is_temp(p.name) for p in directory.iterdir()):
            return True
        time.sleep(0.002)
    return False


@pytest.mark.slow
def test_batch_progress_bar_on_a_terminal_lines_otherwise(realdata, tmp_path, capsys,
                                                          monkeypatch):  # fmt: skip
    src = tmp_path / "src"
    shutil.copytree(realdata / "serving_session_bundle_v2", src / "a")
    shutil.copytree(realdata / "tf2onnx_regression_ckpt", src / "b")
    assert main(["batch", str(src), str(tmp_path / "lines")]) == 0
    lines = capsys.readouterr().err.splitlines()  # pytest's stderr is not a terminal
    assert len(lines) == 2 and all(" converted " in line and "MiB in" in line for line in lines)
    assert sorted(line.split()[0] for line in lines) == ["[1/2]", "[2/2]"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["batch", str(src), str(tmp_path / "tty"), "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert "converting" in err and "2/2" in err and "ckpt" in err and "MiB/s" in err
    assert main(["batch", str(src), str(tmp_path / "tty2"), "-j", "1", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_batch_link_hard_links_unchanged_data(realdata, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(realdata / "tfr_bert_lite_tf2_ckpt", src / "tf2")  # copied as is
    shutil.copytree(realdata / "sugyan_mnist_v2_regression", src / "tf1")  # tf1_to_tf2
    code, out = batch_json(capsys, str(src), str(tmp_path / "dst"), "--link", "-j", "1")
    assert code == 0 and out["converted"] == 2
    # the TF2 copy links its shard; tf1_to_tf2 links the source shard and adds one for the graph
    pairs = [
        ("tf2/bert_lite_tf2.ckpt.data-00000-of-00001",) * 2,
        ("tf1/regression.ckpt.data-00000-of-00001", "tf1/regression.ckpt.data-00000-of-00002"),
    ]
    for a, b in pairs:
        assert os.stat(src / a).st_ino == os.stat(tmp_path / "dst" / b).st_ino, b
    assert_complete(tmp_path / "dst")


def test_batch_dry_run_lists_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "src"
    for name in ("a/model.ckpt-1", "b/model.ckpt-2"):
        with BundleWriter(str(src / name)) as w:
            w.add("dense/kernel", np.ones([3, 2], np.float32))
    dst = tmp_path / "dst"
    code, out = batch_json(capsys, str(src), str(dst), "--dry-run", "-j", "1")
    assert code == 0 and not dst.exists()
    assert [(i["rel"], i["status"]) for i in out["items"]] == [
        ("a/model.ckpt-1", "would convert"),
        ("b/model.ckpt-2", "would convert"),
    ]
    assert (out["converted"], out["skipped"], out["failed"]) == (0, 0, 0)
    # after a real run of one item, a dry run shows it skipped and the other pending
    shutil.rmtree(src / "b")
    assert main(["batch", str(src), str(dst), "-j", "1", "--quiet"]) == 0
    with BundleWriter(str(src / "b/model.ckpt-2")) as w:
        w.add("dense/kernel", np.ones([3, 2], np.float32))
    before = {p: p.read_bytes() for p in dst.rglob("*") if p.is_file()}  # manifest included
    capsys.readouterr()
    assert main(["batch", str(src), str(dst), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "dry run: 1 would be converted" in text and "1 skipped; nothing was written" in text
    assert {p: p.read_bytes() for p in dst.rglob("*") if p.is_file()} == before
