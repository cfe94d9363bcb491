"""The rules language additions, pure: slice, [[pair]] by creation order,
[[fill]], exact renames, EMA shadows, and their TOML form and errors."""

from __future__ import annotations

import numpy as np
import pytest

from converters.pairing import TargetLayer, creation_index, expand_pairs, natural_key, resolve
from converters.plan import Transform
from converters.rules import Fill, Pairing, Rule, RuleError, RuleSet, apply_rules, load_rules
from converters.transforms import apply_transform, parse_slice, sliced_shape, transformed_shape


def test_slice_drops_the_background_class_then_reshapes():
    t = Transform(reshape=(4, 3), slice="..., 1:")
    assert transformed_shape((1, 1, 4, 4), t) == (4, 3)
    value = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    out = apply_transform(value, t)
    assert out.flags.c_contiguous and out.tolist() == value[0, 0, :, 1:].tolist()
    assert sliced_shape((1001,), "1:") == (1000,)
    assert sliced_shape((3, 3, 3, 64), ":, :, ::-1, :") == (3, 3, 3, 64)
    assert sliced_shape((2**40, 3), "0") == (3,)  # no allocation, whatever the size


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "non-empty"),
        ("1:2:0", "step cannot be zero"),
        ("..., ...", "more than one"),
        ("__import__('os')", "is not an integer"),
        ("1.5", "is not an integer"),
        (",".join(["0"] * 65), "at most 64"),
    ],
)
def test_bad_slices_are_rule_errors(text, message):
    with pytest.raises(RuleError, match=message):
        parse_slice(text)


def test_a_slice_that_does_not_fit_names_the_tensor():
    with pytest.raises(RuleError, match=r"^w: slice '5' does not fit shape \[3\]"):
        transformed_shape((3,), Transform(slice="5"), where="w: ")


def _layers(*specs):
    return [TargetLayer(name, cls, i) for i, (name, cls) in enumerate(specs)]


def test_pairing_follows_creation_order_not_model_order():
    # Keras lists layers topologically; its per-class counters give creation order.
    layers = _layers(
        ("conv2d_12", "Conv2D"),
        ("conv2d_14", "Conv2D"),
        ("conv2d_13", "Conv2D"),
        ("predictions", "Dense"),
    )
    keys = ["net/b/weights", "net/a/weights", "net/c/weights", "net/c/biases"]
    pair = Pairing(r"net/\w", "Conv2D", {"weights": "kernel", "biases": "bias"})
    renames = expand_pairs([pair], keys, layers)
    assert {k: r.rename(k) for k, r in renames.items()} == {
        "net/a/weights": "conv2d_12/kernel",
        "net/b/weights": "conv2d_13/kernel",
        "net/c/weights": "conv2d_14/kernel",
        "net/c/biases": "conv2d_14/bias",
    }
    by_model = Pairing(r"net/\w", "Conv2D", {"weights": "kernel"}, target_order="model")
    assert (
        expand_pairs([by_model], keys, layers)["net/b/weights"].rename("net/b/weights")
        == "conv2d_14/kernel"
    )


def test_pairing_counts_must_agree_and_hand_names_are_refused():
    pair = Pairing(r"net/\w", "Conv2D", {"weights": "kernel"})
    with pytest.raises(RuleError, match="2 source scopes but 1 target Conv2D layers"):
        expand_pairs([pair], ["net/a/weights", "net/b/weights"], _layers(("conv2d", "Conv2D")))
    with pytest.raises(RuleError, match="'stem' .* has a name chosen by hand"):
        expand_pairs([pair], ["net/a/weights"], _layers(("stem", "Conv2D")))
    assert creation_index(TargetLayer("batch_normalization_7", "BatchNormalization", 0)) == 7
    assert creation_index(TargetLayer("depthwise_conv2d", "DepthwiseConv2D", 0)) == 0


def test_natural_and_grouped_orders():
    keys = [f"m/{s}/w" for s in ("block_10", "block_2", "Stem", "Tail")]
    assert sorted(["block_10", "block_2"], key=natural_key) == ["block_2", "block_10"]
    layers = _layers(*[(f"conv2d_{i}", "Conv2D") for i in range(4)])
    grouped = Pairing(r"m/\w+", "Conv2D", {"w": "kernel"}, order=("m/Stem", "m/block", "m/Tail"))
    got = {k.split("/")[1]: r.rename(k) for k, r in expand_pairs([grouped], keys, layers).items()}
    assert got == {
        "Stem": "conv2d_0/kernel",
        "block_2": "conv2d_1/kernel",
        "block_10": "conv2d_2/kernel",
        "Tail": "conv2d_3/kernel",
    }
    with pytest.raises(RuleError, match="matches none of its 'order' regexes"):
        expand_pairs([Pairing(r"m/\w+", "Conv2D", {"w": "kernel"}, order=("m/S",))], keys, layers)


def test_ema_shadows_take_their_variables_place_or_are_dropped():
    keys = ["d/kernel", "d/kernel/ExponentialMovingAverage", "d/bias", "step"]
    rules = RuleSet([Rule(r"^d/(\w+)$", to=r"dense/\1", reshape=None)])
    plain = resolve(rules, keys)
    assert apply_rules("d/kernel/ExponentialMovingAverage", plain)[0] is None
    assert "ema=True" in apply_rules("d/kernel/ExponentialMovingAverage", plain)[1].label
    ema = resolve(rules, keys, ema=True)
    assert apply_rules("d/kernel/ExponentialMovingAverage", ema)[0] == "dense/kernel"
    assert apply_rules("d/kernel", ema)[0] is None
    assert apply_rules("d/bias", ema)[0] == "dense/bias"  # no shadow: itself


def test_exact_renames_are_linear(benchmark=None):
    keys = [f"s/v{i}" for i in range(20000)]
    exact = {k: Rule(f"^{k}$", to=f"t/{k}") for k in keys}
    rules = RuleSet([Rule("^x$", to="y")], exact=exact)
    assert [apply_rules(k, rules)[0] for k in keys[:2]] == ["t/s/v0", "t/s/v1"]
    assert all(apply_rules(k, rules)[0] == f"t/{k}" for k in keys)  # dict lookups: fast


TOML = r"""
[[rule]]
match = '^net/logits/weights$'
to = 'predictions/kernel'
slice = '..., 1:'
reshape = [8, 10]

[[pair]]
name = "convolutions"
source = 'net/Conv\w+'
target_class = "Conv2D"
order = "natural"
variables = { weights = "kernel" }

[[fill]]
target = '_bn/gamma$'
value = 1.0
why = "trained with scale=False"
"""


def test_rules_files_carry_pairs_and_fills(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(TOML)
    rules = load_rules(path)
    assert isinstance(rules, RuleSet) and isinstance(rules, list) and len(rules) == 1
    assert rules[0].transform == Transform(reshape=(8, 10), slice="..., 1:")
    assert rules.pairs == (
        Pairing(
            r"net/Conv\w+", "Conv2D", {"weights": "kernel"}, order="natural", name="convolutions"
        ),
    )
    assert rules.fills[0].value == 1.0 and rules.fills[0].matches("conv1_bn/gamma")


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[pair]]\nsource = 'a'\ntarget_class = 'C'\n", "pair 1: 'variables' is required"),
        (
            "[[pair]]\nsource = '('\ntarget_class = 'C'\nvariables = {w = 'k'}\n",
            "pair 1: pair .*source '\\(' is not a valid regex",
        ),
        (
            "[[pair]]\nsource = 'a'\ntarget_class = 'C'\nvariables = {w = 'k'}\norder = 'x'\n",
            "order must be",
        ),
        (
            "[[pair]]\nsource = 'a'\ntarget_class = 'C'\nvariables = {w = 1}\n",
            "maps source suffixes",
        ),
        ("[[fill]]\ntarget = 'g'\nvalue = 'one'\n", "fill 1: 'value' must be a int or float"),
        ("[[fill]]\ntarget = 'g'\nvalue = nan\n", "not a finite number"),
        ("[[fill]]\ntarget = 'g'\nvalue = true\n", "must be a number"),
        ("[[rule]]\nmatch = 'a'\nslice = '::0'\n", "rule 1: slice '::0': step cannot be zero"),
        ("[[rule]]\nmatch = 'a'\ndrop = true\nslice = '1:'\n", "drop = true excludes"),
        ("[pair]\nsource = 'a'\n", "has no \\[\\[pair\\]\\] tables"),
    ],
)
def test_bad_pair_fill_and_slice_tables_name_the_file_and_table(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RuleError, match=message) as info:
        load_rules(path)
    assert str(path) in str(info.value)


def test_fill_values_must_be_numbers():
    with pytest.raises(RuleError, match="not a finite number"):
        Fill("g", float("inf"))
