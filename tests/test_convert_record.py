"""Issue 14.4: the plan record ``DST.plan.json`` lets ``verify`` check any conversion,
and is never trusted when it does not belong to the checkpoint beside it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converters.api import convert, tf1_to_tf2
from converters.cli import main
from converters.options import ConversionOptions
from converters.record import read_plan_record
from converters.rules import Rule
from converters.verify import verify
from legacy_saver.bundle import BundleWriter
from legacy_saver.bundle.files import files_of, remove_checkpoint
from legacy_saver.bundle.naming import checkpoint_prefix_of, plan_path
from legacy_saver.errors import CorruptCheckpointError

RULES = [Rule("^fc/weights$", to="fc/kernel", reshape=(6, 2)), Rule("^w$", cast="float64")]


@pytest.fixture
def converted(tmp_path):
    src = str(tmp_path / "src")
    with BundleWriter(src) as w:
        w.add("fc/weights", np.arange(12, dtype=np.float32).reshape(1, 1, 6, 2))
        w.add("w", np.float32(1.5))
    dst = str(tmp_path / "dst")
    tf1_to_tf2(src, dst, rules=RULES)
    return src, dst


def test_verify_uses_the_recorded_plan(converted, capsys):
    src, dst = converted
    report = verify(src, dst)  # no rules given: the record knows the reshape and the cast
    assert report.ok and report.compared == 2 and report.plan_from == "recorded"
    assert main(["verify", src, dst]) == 0
    assert "plan recorded" in capsys.readouterr().out
    record = read_plan_record(dst)
    assert record is not None and not record.stale and record.kind == "tf1_to_tf2"
    assert {a.transform.reshape for a in record.plan.actions} == {(6, 2), None}


def test_a_record_that_lies_is_caught(converted):
    src, dst = converted
    doc = json.loads(open(plan_path(dst)).read())
    for action in doc["actions"]:
        if action["src"] == "w":
            action["transform"] = {}  # claims no cast: the stored float64 then differs
    with open(plan_path(dst), "w") as f:
        json.dump(doc, f)
    report = verify(src, dst)
    assert not report.ok and report.differences[0].problem == "dtype float64, expected float32"


def test_a_stale_record_is_not_trusted(converted, tmp_path):
    src, dst = converted
    options = ConversionOptions(rules=tuple(RULES[:1]), overwrite=True, record_plan=False)
    convert(src, dst, options)  # another conversion to the same prefix, no new record
    report = verify(src, dst)
    assert report.plan_from == "derived (stale record)" and not report.ok


def test_a_malformed_record_names_the_file(converted):
    src, dst = converted
    with open(plan_path(dst), "w") as f:
        f.write("{not json")
    with pytest.raises(CorruptCheckpointError, match=r"dst\.plan\.json is not a plan record"):
        verify(src, dst)


def test_the_record_is_one_of_the_checkpoints_files(converted):
    _, dst = converted
    assert plan_path(dst) in files_of(dst)
    assert checkpoint_prefix_of(plan_path(dst)) == dst
    remove_checkpoint(dst)
    assert files_of(dst) == []


def test_dry_run_writes_no_record(tmp_path):
    src = str(tmp_path / "src")
    with BundleWriter(src) as w:
        w.add("a", np.zeros(2, np.float32))
    tf1_to_tf2(src, str(tmp_path / "d"), dry_run=True)
    assert not (tmp_path / "d.plan.json").exists()
