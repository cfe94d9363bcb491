"""Issue 13, item 9: no rules regex can hang a conversion.

Rules are matched by RE2 (linear time). The classic catastrophic patterns —
which take Python's backtracking ``re`` exponential time on a long name that
almost matches — run in milliseconds; patterns RE2 cannot express are refused
with a ``RuleError`` when the rules load.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

from converters.api import plan_tf1_to_tf2, tf1_to_tf2
from converters.cli import main
from converters.rules import Fill, Rule, RuleError, load_rules
from converters.safe_regex import MAX_PATTERN_CHARS
from legacy_saver.bundle import BundleWriter


class Hang(Exception):
    pass


def within(seconds: int, fn):
    """``fn()``, or ``Hang`` after ``seconds`` (SIGALRM: the main thread only)."""

    def on_alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        return fn()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


CATASTROPHIC = [
    r"^(a+)+$",
    r"^(a|a)+$",
    r"^(a|aa)+$",
    r"^(a*)*$",
    r"^(.*a){25}$",
    r"^(\w+\s?)+$",
    r"^([a-zA-Z]+)*$",
    r"(x+x+)+y",
]
LONG = "a" * 50_000 + "!"  # almost matches every pattern above


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_match_in_linear_time(pattern):
    rule = Rule(pattern, to="renamed")
    assert within(10, lambda: [rule.rename(LONG), rule.rename("x" * 30_000 + "!")]) == [None, None]


def test_a_conversion_with_a_catastrophic_rule_finishes(tmp_path, capsys):
    prefix = str(tmp_path / "src")
    with BundleWriter(prefix) as w:
        w.add("a" * 5_000 + "!", np.zeros(2, np.float32))
        w.add("aaaa", np.ones(2, np.float32))
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rule]]\nmatch = '^(a+)+$'\nto = 'matched'\n")
    plan = within(20, lambda: plan_tf1_to_tf2(prefix, rules=str(rules)))
    assert {a.src: a.dst.split("/")[0] for a in plan.actions}["aaaa"] == "matched"
    argv = ["convert", prefix, str(tmp_path / "o"), "--rules", str(rules)]
    assert within(20, lambda: main(argv)) == 0


@pytest.mark.parametrize(
    "pattern, feature",
    [(r"a(?=b)", "(?="), (r"a(?!b)", "(?!"), (r"(?<=a)b", "(?<"), (r"(a)\1", "\\1")],
)
def test_patterns_re2_cannot_match_are_refused_when_rules_load(tmp_path, pattern, feature):
    with pytest.raises(RuleError, match="cannot be matched in linear time") as exc:
        Rule(pattern)
    assert feature in str(exc.value) and "rewrite it without them" in str(exc.value)
    rules = tmp_path / "rules.toml"
    rules.write_text(f"[[rule]]\nmatch = '{pattern}'\ndrop = true\n")
    with pytest.raises(RuleError, match=f"{rules}: rule 1: match"):
        load_rules(rules)
    with pytest.raises(RuleError, match="cannot be matched in linear time"):
        Fill(pattern, 1.0)


def test_invalid_and_oversized_patterns_are_rule_errors(capsys, tmp_path):
    with pytest.raises(RuleError, match="is not a valid regex"):
        Rule("(unclosed")
    with pytest.raises(RuleError, match=f"at most {MAX_PATTERN_CHARS} are allowed"):
        Rule("a" * (MAX_PATTERN_CHARS + 1))
    capsys.readouterr()
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rule]]\nmatch = 'x(?=y)'\ndrop = true\n")
    prefix = str(tmp_path / "src")
    with BundleWriter(prefix) as w:
        w.add("x", np.zeros(1, np.float32))
    assert main(["convert", prefix, str(tmp_path / "o"), "--rules", str(rules)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "linear time" in err  # RE2 prints nothing of its own


def test_what_rules_need_still_works(tmp_path):
    """Groups, named groups, alternation, classes and replacement templates."""
    rule = Rule(r"^vgg_16/conv(?P<block>\d)/conv\d_(\d)/(weights|biases)$",
                to=r"block\g<block>_conv\2/\3")  # fmt: skip
    assert rule.rename("vgg_16/conv3/conv3_2/weights") == "block3_conv2/weights"
    assert Rule(r"/Momentum$", drop=True).rename("w/Momentum") == "w/Momentum"
    assert Rule(r"^(?:a|b)[0-9]+$", to="x").rename("b12") == "x"
    prefix = str(tmp_path / "src")
    with BundleWriter(prefix) as w:
        w.add("vgg_16/conv1/conv1_1/weights", np.zeros((3, 3, 3, 2), np.float32))
    report = tf1_to_tf2(prefix, str(tmp_path / "o"), rules=[rule])
    assert report.actions[0].dst == "block1_conv1/weights/.ATTRIBUTES/VARIABLE_VALUE"


def test_a_replacement_with_non_ascii_text_is_kept_as_written():
    """RE2's Python wrapper decodes the template as Latin-1: ``日本/\\1`` came out as mojibake."""
    rule = Rule(r"^(fc)/kernel$", to="日本/ü/\\1")
    assert rule.rename("fc/kernel") == "日本/ü/fc"


@pytest.mark.parametrize("to", ["\\2/w", "\\g<nope>", "\\N{no such name}"])
def test_a_replacement_the_pattern_cannot_fill_is_refused_when_the_rule_loads(to):
    with pytest.raises(RuleError, match="replacement"):
        Rule(r"^(fc)/kernel$", to=to)
