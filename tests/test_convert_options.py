"""ConversionOptions: one frozen value from the CLI to the executor (issue 11, item 4)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import converters.api as api
from converters.batch.remote import convert_any
from converters.cli import main
from converters.options import ConversionOptions, OptimizerMode, TargetFormat
from converters.rules import Rule
from legacy_saver.bundle import BundleWriter, load_checkpoint


def _tf1(prefix: str) -> None:
    with BundleWriter(prefix) as w:
        w.add("dense/kernel", np.arange(6, dtype=np.float32).reshape(3, 2))
        w.add("dense/kernel/Adam", np.ones((3, 2), np.float32))
        w.add("dense/kernel/Adam_1", np.ones((3, 2), np.float32))
        w.add("beta1_power", np.float32(0.9))


def test_strings_become_enums_and_bad_values_name_the_field():
    o = ConversionOptions(to="tf1", optimizer="drop")  # type: ignore[arg-type]
    assert o.to is TargetFormat.TF1 and o.optimizer is OptimizerMode.DROP
    with pytest.raises(ValueError, match="optimizer must be one of 'keep', 'drop', got 'Drop'"):
        ConversionOptions(optimizer="Drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="to must be one of 'tf2', 'tf1', 'v2'"):
        ConversionOptions(to="tf3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="link must be True or False"):
        ConversionOptions(link=1)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.link = True  # type: ignore[misc]


def test_rules_list_is_frozen_to_a_tuple_and_empty_rules_are_kept():
    rules = [Rule("^a$", to="b")]
    o = ConversionOptions(rules=rules)  # type: ignore[arg-type]
    rules.append(Rule("^c$", drop=True))
    assert o.rules == (Rule("^a$", to="b"),) and o.resolved_rules() == [Rule("^a$", to="b")]
    assert ConversionOptions(rules=()).resolved_rules() == []


def test_not_applicable_lists_what_a_format_ignores():
    assert ConversionOptions(to=TargetFormat.V2, optimizer=OptimizerMode.DROP).not_applicable() == [
        "optimizer"
    ]
    assert ConversionOptions(to=TargetFormat.TF1, link=True).not_applicable() == ["link"]
    assert ConversionOptions(link=True, partial=True).not_applicable() == []
    with pytest.raises(ValueError, match="link do\\(es\\) not apply to to='tf1'"):
        ConversionOptions(to=TargetFormat.TF1, link=True).check()


def test_options_reach_the_executor_unchanged(tmp_path, monkeypatch):
    """The object the caller built is the object the executor gets (no re-plumbing)."""
    src = str(tmp_path / "tf1")
    _tf1(src)
    seen = []
    real = api.execute

    def spy(plan, reader, dst, options):
        seen.append(options)
        return real(plan, reader, dst, options)

    monkeypatch.setattr(api, "execute", spy)
    for options in (
        ConversionOptions(optimizer=OptimizerMode.KEEP, link=False, fsync=False),
        ConversionOptions(optimizer=OptimizerMode.DROP, link=True, overwrite=True),
    ):
        convert_any(src, str(tmp_path / "out"), options)
        assert seen[-1] is options


def test_convert_any_keeps_falsy_and_keep_values(tmp_path):
    """``optimizer="keep"`` and ``rules=()`` are values, not "unset"."""
    src = str(tmp_path / "tf1")
    _tf1(src)
    kept = convert_any(src, str(tmp_path / "k"), ConversionOptions(optimizer=OptimizerMode.KEEP))
    assert {a.how for a in kept.actions} >= {"optimizer-slot", "optimizer-state"}
    dropped = convert_any(src, str(tmp_path / "d"), ConversionOptions(optimizer="drop"))  # type: ignore[arg-type]
    assert {d.src for d in dropped.dropped} == {
        "beta1_power",
        "dense/kernel/Adam",
        "dense/kernel/Adam_1",
    }
    with load_checkpoint(str(tmp_path / "d")) as r:
        assert not any("OPTIMIZER_SLOT" in k for k in r.keys())


def test_cli_refuses_options_that_do_not_apply(tmp_path, capsys):
    src = str(tmp_path / "tf1")
    _tf1(src)
    with pytest.raises(SystemExit) as exc:
        main(["convert", src, str(tmp_path / "o"), "--to", "v2", "--optimizer", "drop"])
    assert exc.value.code == 2
    assert "--optimizer does not apply to --to v2" in capsys.readouterr().err


def test_public_verbs_keep_their_signatures(tmp_path):
    src = str(tmp_path / "tf1")
    _tf1(src)
    report = api.tf1_to_tf2(src, tmp_path / "a", optimizer="drop", rules=[], dry_run=True)
    assert report.dry_run and len(report.dropped) == 3
    plan = api.plan_tf1_to_tf2(src, optimizer="keep")
    assert len(plan.actions) == 4
