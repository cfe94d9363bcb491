"""Pure alignment of target variables to source tensors (no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from converters.plan import Transform
from converters.rules import Rule
from converters.target.align import Candidate, align
from converters.target.collect import TargetVariable
from converters.target.optimizer import steps_from_beta_power


def cand(name, shape, src=None, transform=None, rule=None, dtype="float32"):
    return Candidate(src or name, name, tuple(shape), dtype, transform or Transform(), rule)


def var(key, shape, *names, dtype="float32"):
    return TargetVariable(key, tuple(shape), dtype, tuple(names))


def test_exact_and_keras_path_with_model_name_in_front():
    targets = [var("k", [4, 3], "sequential/dense/kernel"), var("b", [3], "dense/bias")]
    result = align([cand("dense/kernel", [4, 3]), cand("dense/bias", [3])], targets)
    assert {k: (a.src, a.how) for k, a in result.actions.items()} == {
        "k": ("dense/kernel", "keras-path"),
        "b": ("dense/bias", "exact"),
    }
    assert result.unmatched == [] and result.unused == []


def test_tf_keras_name_with_colon_zero():
    result = align([cand("dense/kernel", [2, 2])], [var("k", [2, 2], "dense/kernel:0")])
    assert result.actions["k"].src == "dense/kernel"


def test_weights_biases_read_as_kernel_bias():
    sources = [cand("conv1/weights", [3, 3, 1, 8]), cand("conv1/biases", [8])]
    targets = [var("k", [3, 3, 1, 8], "net/conv1/kernel"), var("b", [8], "net/conv1/bias")]
    result = align(sources, targets)
    assert {k: (a.src, a.how) for k, a in result.actions.items()} == {
        "k": ("conv1/weights", "alias"),
        "b": ("conv1/biases", "alias"),
    }


def test_n_suffixes_pair_in_order():
    # Keras numbers layers per process (dense_2, dense_3); a TF1 graph starts at dense.
    sources = [cand("dense/kernel", [4, 8]), cand("dense_1/kernel", [8, 2])]
    targets = [var("b", [8, 2], "seq/dense_3/kernel"), var("a", [4, 8], "seq/dense_2/kernel")]
    result = align(sources, targets)
    assert result.actions["a"].src == "dense/kernel"
    assert result.actions["b"].src == "dense_1/kernel"
    assert {a.how for a in result.actions.values()} == {"ordinal"}


def test_n_suffixes_refused_when_counts_differ():
    sources = [cand("dense/kernel", [4, 4]), cand("dense_1/kernel", [4, 4])]
    result = align(sources, [var("a", [4, 4], "dense_7/kernel")])
    assert result.actions == {}
    assert [u.dst for u in result.unmatched] == ["a"]


def test_shape_must_agree():
    result = align([cand("dense/kernel", [3, 4])], [var("k", [4, 3], "dense/kernel")])
    assert result.actions == {}
    assert result.unmatched[0].candidates == ("dense/kernel [3, 4]",)
    assert [c.src for c in result.unused] == ["dense/kernel"]


def test_rule_made_name_wins_over_automatic_match():
    # Both sources could fill 'fc/kernel'; the rule's rename takes precedence.
    renamed = cand("fc/kernel", [6, 2], src="old/w", rule="r1")
    plain = cand("fc/kernel", [6, 2])
    result = align([plain, renamed], [var("k", [6, 2], "fc/kernel")])
    assert (result.actions["k"].src, result.actions["k"].how) == ("old/w", "rule")
    assert result.actions["k"].rule == "r1"
    assert [c.src for c in result.unused] == ["fc/kernel"]


def test_dtype_difference_adds_a_cast():
    result = align([cand("step", [], dtype="int32")], [var("s", [], "step", dtype="int64")])
    assert result.actions["s"].transform == Transform(cast="int64")


def test_unmatched_lists_closest_candidates():
    sources = [cand("dense/kernal", [4, 3]), cand("other/thing", [9])]
    result = align(sources, [var("k", [4, 2], "model/dense/kernel")])
    assert result.unmatched[0].dst == "k"
    assert result.unmatched[0].candidates[0] == "dense/kernal [4, 3]"


def test_rule_transform_shape_is_what_is_compared():
    rule = Rule(match=r"^w$", to="k", transpose=(1, 0))
    result = align(
        [cand("k", [3, 4], src="w", transform=rule.transform, rule=rule.label)],
        [var("t", [3, 4], "k")],
    )
    assert result.actions["t"].transform.transpose == (1, 0)


@pytest.mark.parametrize("steps", [0, 1, 5, 1000])
def test_steps_from_beta_power(steps):
    assert steps_from_beta_power(0.9 ** (steps + 1), 0.9) == steps


def test_importing_the_package_does_not_import_tensorflow():
    code = "import sys, converters.target; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_candidates_rank_by_shape_first():
    """Issue 14.9: ``block1_conv1/kernel [3,3,3,64]`` is offered slim's conv1_1 weights of
    that exact shape; a ``[64]`` bias is never offered ``global_step []``."""
    sources = [
        cand("vgg_16/conv1/conv1_1/weights", [3, 3, 3, 64]),
        cand("vgg_16/conv1/conv1_1/biases", [64]),
        cand("vgg_16/conv1/conv1_2/weights", [3, 3, 64, 64]),
        cand("global_step", [], dtype="int64"),
        cand("block1_conv1/kernel_old", [1, 1]),  # a close name of another shape
    ]
    targets = [
        var("k", [3, 3, 3, 64], "vgg16/block1_conv1/kernel"),
        var("b", [64], "resnet50/conv1_conv/bias"),
    ]
    result = align(sources, targets)
    by_key = {u.dst: u.candidates for u in result.unmatched}
    assert by_key["k"][0] == "vgg_16/conv1/conv1_1/weights [3, 3, 3, 64]"
    assert by_key["b"][0] == "vgg_16/conv1/conv1_1/biases [64]"
    assert not any(c.startswith("global_step") for c in by_key["b"])


def test_same_name_with_another_shape_is_still_offered():
    result = align([cand("dense_1/kernel", [16, 1])], [var("k", [16, 2], "seq/dense_1/kernel")])
    assert result.unmatched[0].candidates == ("dense_1/kernel [16, 1]",)
