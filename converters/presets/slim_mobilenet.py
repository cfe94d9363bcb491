"""tf-slim ``mobilenet_v1`` and ``mobilenet_v2`` into ``keras.applications.MobileNet`` /
``MobileNetV2``.

Both Keras models name their layers by hand (``conv_dw_3``, ``block_5_expand``),
so plain rules carry every tensor. v1: 13 depthwise-separable blocks, ReLU6,
batch norm with gamma and epsilon 0.001 on both sides; Keras pads a strided
depthwise convolution ``(0, 1)`` and runs it VALID, which is slim's SAME for
the even sizes every MobileNet resolution (128/160/192/224) has at those
layers. The width multiplier ``alpha`` (0.25, 0.5, 0.75, 1.0) is read from
the checkpoint. v2: the same for the inverted-residual blocks; widths follow
``_make_divisible`` on both sides for ``alpha >= 1`` (slim keeps 1280 last
channels scaled by alpha below 1 where Keras keeps 1280, so only
``alpha >= 1`` checkpoints are accepted: 1.0, 1.3 and 1.4, read from the rounded
widths of the first and last convolutions, 40/1664 for 1.3 and 48/1792 for 1.4).
Heads have 1001 classes (background first). Input: ``[-1, 1]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..rules import Rule, RuleSet
from .base import INCEPTION_INPUT, Match, Option, Preset, class_options, classes_of, fits
from .registry import register
from .slim_inception import head_rules

_BN = r"BatchNorm/(beta|gamma|moving_mean|moving_variance)$"
ALPHAS_V1 = (0.25, 0.5, 0.75, 1.0)


def _options(alphas: tuple[float, ...]) -> tuple[Option, ...]:
    return (
        Option("alpha", 1.0, "width multiplier (read from the checkpoint)", alphas),
        *class_options(),
        Option(
            "input_shape",
            None,
            "(H, W, 3): 128, 160, 192 or 224 square (any even size "
            "down to 32 computes the same); default 224",
            kind=(tuple, type(None)),
        ),
        Option(
            "classifier_activation",
            "softmax",
            "the head's activation (None: logits)",
            ("softmax", None),
        ),
    )


def _v1_rules(o: Mapping[str, Any]) -> RuleSet:
    s = "MobilenetV1"
    rules = [
        Rule(f"^{s}/Conv2d_0/weights$", to="conv1/kernel", name="conv1"),
        Rule(f"^{s}/Conv2d_0/{_BN}", to=r"conv1_bn/\1", name="conv1 bn"),
        Rule(
            rf"^{s}/Conv2d_(\d+)_depthwise/depthwise_weights$",
            to=r"conv_dw_\1/kernel",
            name="depthwise",
        ),
        Rule(rf"^{s}/Conv2d_(\d+)_depthwise/{_BN}", to=r"conv_dw_\1_bn/\2", name="depthwise bn"),
        Rule(rf"^{s}/Conv2d_(\d+)_pointwise/weights$", to=r"conv_pw_\1/kernel", name="pointwise"),
        Rule(rf"^{s}/Conv2d_(\d+)_pointwise/{_BN}", to=r"conv_pw_\1_bn/\2", name="pointwise bn"),
    ]
    rules += head_rules(
        s, "Logits/Conv2d_1c_1x1", "conv_preds", o["classes"], o["source_classes"], None
    )
    return RuleSet(rules)


def _v2_rules(o: Mapping[str, Any]) -> RuleSet:
    s = "MobilenetV2"
    rules = [
        Rule(f"^{s}/Conv/weights$", to="Conv1/kernel", name="Conv -> Conv1"),
        Rule(f"^{s}/Conv/{_BN}", to=r"bn_Conv1/\1", name="Conv bn"),
        Rule(
            f"^{s}/expanded_conv/depthwise/depthwise_weights$",
            to="expanded_conv_depthwise/kernel",
            name="block 0 depthwise",
        ),
        Rule(
            f"^{s}/expanded_conv/depthwise/{_BN}",
            to=r"expanded_conv_depthwise_BN/\1",
            name="block 0 depthwise bn",
        ),
        Rule(
            f"^{s}/expanded_conv/project/weights$",
            to="expanded_conv_project/kernel",
            name="block 0 project",
        ),
        Rule(
            f"^{s}/expanded_conv/project/{_BN}",
            to=r"expanded_conv_project_BN/\1",
            name="block 0 project bn",
        ),
        Rule(
            rf"^{s}/expanded_conv_(\d+)/(expand|project)/weights$",
            to=r"block_\1_\2/kernel",
            name="expand/project",
        ),
        Rule(
            rf"^{s}/expanded_conv_(\d+)/(expand|project)/{_BN}",
            to=r"block_\1_\2_BN/\3",
            name="expand/project bn",
        ),
        Rule(
            rf"^{s}/expanded_conv_(\d+)/depthwise/depthwise_weights$",
            to=r"block_\1_depthwise/kernel",
            name="depthwise",
        ),
        Rule(
            rf"^{s}/expanded_conv_(\d+)/depthwise/{_BN}",
            to=r"block_\1_depthwise_BN/\2",
            name="depthwise bn",
        ),
        Rule(f"^{s}/Conv_1/weights$", to="Conv_1/kernel", name="Conv_1"),
        Rule(f"^{s}/Conv_1/{_BN}", to=r"Conv_1_bn/\1", name="Conv_1 bn"),
    ]
    rules += head_rules(
        s,
        "Logits/Conv2d_1c_1x1",
        "predictions",
        o["classes"],
        o["source_classes"],
        _v2_last(o["alpha"]),
    )
    return RuleSet(rules)


def _v2_last(alpha: float) -> int:
    return _make_divisible(1280 * alpha) if alpha > 1.0 else 1280


def _make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return int(new + divisor) if new < 0.9 * v else int(new)


def _build(version: int, o: Mapping[str, Any]) -> Any:
    import keras

    make = keras.applications.MobileNet if version == 1 else keras.applications.MobileNetV2
    return make(
        weights=None,
        alpha=o["alpha"],
        classes=o["classes"],
        input_shape=o["input_shape"] or (224, 224, 3),
        classifier_activation=o["classifier_activation"],
    )


def _v1_match(shapes: Any) -> Match:
    first = shapes.get("MobilenetV1/Conv2d_0/weights")
    alpha = first[-1] / 32 if first and len(first) == 4 else None
    if alpha is not None and alpha not in ALPHAS_V1:
        return Match(
            "slim/mobilenet_v1",
            False,
            claimed=True,
            reason=f"slim/mobilenet_v1: width {first[-1]} is no multiplier Keras has "
            f"({[int(32 * a) for a in ALPHAS_V1]})",
        )
    options: dict[str, Any] = {"alpha": alpha or 1.0}
    source = classes_of(shapes, "MobilenetV1/Logits/Conv2d_1c_1x1/biases")
    if source:
        options["source_classes"] = source
    wanted = {
        "MobilenetV1/Conv2d_13_pointwise/weights": None,
        "MobilenetV1/Logits/Conv2d_1c_1x1/weights": None,
    }
    return fits("slim/mobilenet_v1", shapes, "MobilenetV1", wanted, options)


ALPHAS_V2 = (1.0, 1.3, 1.4)


def _v2_alpha(shapes: Any) -> tuple[float | None, str]:
    """The depth multiplier of a slim mobilenet_v2 checkpoint, or None and why not.
    Both sides round widths with ``_make_divisible``, so the multiplier is the one
    whose rounded widths are the first conv's and ``Conv_1``'s (1.3 -> 40 and 1664,
    1.4 -> 48 and 1792): a plain ``width / 32`` reads 1.25 and 1.5."""
    first = shapes.get("MobilenetV2/Conv/weights")
    if not first or len(first) != 4:
        return 1.0, ""
    if first[-1] < 32:
        return None, (f"slim/mobilenet_v2: depth multiplier {round(first[-1] / 32, 2)} < 1: "
                      "slim scales the last 1280 channels, Keras does not")  # fmt: skip
    last = shapes.get("MobilenetV2/Conv_1/weights")
    last_width = last[-1] if last and len(last) == 4 else None
    for alpha in ALPHAS_V2:
        if _make_divisible(32 * alpha) == first[-1] and last_width in (None, _v2_last(alpha)):
            return alpha, ""
    return None, (f"slim/mobilenet_v2: widths {first[-1]} (Conv) and {last_width} (Conv_1) "
                  f"fit no depth multiplier of {list(ALPHAS_V2)}")  # fmt: skip


def _v2_match(shapes: Any) -> Match:
    alpha, why = _v2_alpha(shapes)
    if alpha is None:
        return Match("slim/mobilenet_v2", False, claimed=True, reason=why)
    options: dict[str, Any] = {"alpha": alpha}
    source = classes_of(shapes, "MobilenetV2/Logits/Conv2d_1c_1x1/biases")
    if source:
        options["source_classes"] = source
    wanted = {
        "MobilenetV2/expanded_conv_16/project/weights": None,
        "MobilenetV2/Logits/Conv2d_1c_1x1/weights": None,
    }
    return fits("slim/mobilenet_v2", shapes, "MobilenetV2", wanted, options)


MOBILENET_V1 = register(
    Preset(
        name="slim/mobilenet_v1",
        family="tf-slim",
        target="keras.applications.MobileNet",
        summary="tf-slim mobilenet_v1 (research/slim nets/mobilenet_v1.py) -> MobileNet; "
        "width multiplier read from the checkpoint",
        input_convention=INCEPTION_INPUT,
        options=_options(ALPHAS_V1),
        builder=lambda o: _build(1, o),
        rules_for=_v1_rules,
        matcher=_v1_match,
        dropped="the background class (unless classes=1001)",
    )
)
MOBILENET_V2 = register(
    Preset(
        name="slim/mobilenet_v2",
        family="tf-slim",
        target="keras.applications.MobileNetV2",
        summary="tf-slim mobilenet_v2 (research/slim nets/mobilenet/mobilenet_v2.py) -> "
        "MobileNetV2 (depth multiplier >= 1)",
        input_convention=INCEPTION_INPUT,
        options=_options(ALPHAS_V2),
        builder=lambda o: _build(2, o),
        rules_for=_v2_rules,
        matcher=_v2_match,
        dropped="the background class (unless classes=1001)",
    )
)
