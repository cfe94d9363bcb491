"""``legacy-ckpt convert SRC DST.safetensors`` and the proof that the export never
imports TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converters.cli import main
from converters.safetensors.spec import read_header
from legacy_saver.bundle import BundleWriter
from tests.helpers.paths import REALDATA, ROOT
from tests.test_tf_free import BLOCKER

EXPORT_EVERYTHING = """
import json, os, sys
import numpy as np
from legacy_saver.bundle import BundleWriter
import converters
from converters.cli import main

work, realdata = sys.argv[1], sys.argv[2]
prefix = os.path.join(work, "m.ckpt")
with BundleWriter(prefix, num_shards=2, fsync=False) as w:
    w.add("dense/kernel", np.ones((3, 4), np.float32))
    w.add("conv/weights", np.ones((3, 3, 2, 4), np.float16), shard=1)
    w.add("names", np.array([b"x"], dtype=object))
    w.add_slice("p", (4,), ((0, 2),), np.ones(2, np.int64))
    w.add_slice("p", (4,), ((2, 2),), np.zeros(2, np.int64), shard=1)
converters.to_safetensors(prefix, os.path.join(work, "a.safetensors"))
converters.to_safetensors(prefix, os.path.join(work, "t.safetensors"), layout="torch",
                          shard_bytes=16)
assert main(["convert", prefix, os.path.join(work, "c.safetensors"), "--layout", "torch"]) == 0
if realdata:
    bert = os.path.join(realdata, "tfr_bert_lite_tf2_ckpt", "bert_lite_tf2.ckpt")
    converters.to_safetensors(bert, os.path.join(work, "bert.safetensors"))
print(json.dumps({"attempts": attempts,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}))
"""


def test_export_never_imports_tensorflow(tmp_path: Path) -> None:
    realdata = str(REALDATA) if REALDATA.is_dir() else ""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER + EXPORT_EVERYTHING, str(tmp_path), realdata],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"attempts": [], "loaded": []}
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("t")) == [
        "t-00001-of-00003.safetensors", "t-00002-of-00003.safetensors",
        "t-00003-of-00003.safetensors", "t.safetensors.index.json",
    ]  # fmt: skip


@pytest.fixture
def ckpt(tmp_path: Path) -> str:
    prefix = str(tmp_path / "src" / "model.ckpt-5")
    with BundleWriter(prefix, fsync=False) as w:
        w.add("fc/kernel", np.arange(6, dtype=np.float32).reshape(2, 3))
        w.add("fc/bias", np.zeros(3, np.float32))
        w.add("vocab", np.array([b"a", b"b"], dtype=object))
        w.add("global_step", np.int64(5))
    return prefix


def test_convert_to_a_safetensors_name(ckpt, tmp_path, capsys):
    out = str(tmp_path / "out" / "model.safetensors")
    assert main(["convert", ckpt, out, "--layout", "torch"]) == 0
    text = capsys.readouterr().out
    assert "to_safetensors:" in text and "dropped vocab: string tensors" in text
    tensors, metadata, _ = read_header(out)
    assert {t.name for t in tensors} == {"fc.weight", "fc.bias", "global_step"}
    assert metadata["format"] == "pt"


def test_convert_format_flag_json_shards_and_strict(ckpt, tmp_path, capsys):
    out_dir = tmp_path / "hf"
    code = main(["convert", ckpt, str(out_dir) + "/", "--format", "safetensors",
                 "--shard-size", "20B", "--json"])  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["to"] == "safetensors" and payload["report"]["kind"] == "to_safetensors"
    assert "model.safetensors.index.json" in os.listdir(out_dir)
    assert main(["convert", ckpt, str(tmp_path / "s.safetensors"), "--strict"]) == 1
    assert "strict: 1 tensors cannot be written" in capsys.readouterr().err
    assert not (tmp_path / "s.safetensors").exists()
    assert main(["convert", ckpt, str(out_dir) + "/", "--format", "safetensors"]) == 1
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--link"], "--link does not apply to --format safetensors"),
        (["--to", "tf1"], "--to does not apply to --format safetensors"),
        (["--shard-size", "lots"], "--shard-size 'lots': expected"),
    ],
)
def test_usage_errors(ckpt, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["convert", ckpt, str(tmp_path / "x.safetensors"), *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_safetensors_flags_are_refused_for_checkpoints(ckpt, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["convert", ckpt, str(tmp_path / "tf2"), "--layout", "torch"])
    assert "--layout applies to --format safetensors only" in capsys.readouterr().err


def test_bert_hf_preset_from_the_command_line(tmp_path, capsys):
    prefix = str(tmp_path / "bert.ckpt")
    with BundleWriter(prefix, fsync=False) as w:
        w.add("bert/pooler/dense/kernel", np.arange(4, dtype=np.float32).reshape(2, 2))
        w.add("bert/pooler/dense/kernel/adam_m", np.zeros((2, 2), np.float32))
    out = str(tmp_path / "bert.safetensors")
    assert main(["convert", prefix, out, "--preset", "bert-hf"]) == 0
    tensors, metadata, _ = read_header(out)
    assert [t.name for t in tensors] == ["bert.pooler.dense.weight"]
    assert metadata["preset"] == "bert-hf" and metadata["format"] == "pt"
    assert "bert-hf: optimizer slot" in capsys.readouterr().out
