"""tf-slim ``inception_v3`` into ``keras.applications.InceptionV3``.

Keras builds every convolution of InceptionV3 with an automatic name
(``conv2d_17``, numbered per process), so its layers are paired with slim's
scopes by creation order: slim's scopes sorted by name are its creation order
(``Conv2d_1a_3x3`` ... ``Mixed_7c/Branch_3/Conv2d_0b_1x1``), and Keras's
per-class counters are its own. Each slim convolution is a Keras ``Conv2D``
(no bias) plus a ``BatchNormalization`` with ``scale=False`` and epsilon
0.001, exactly as in slim. The 1001-class slim head (background first) loses
its first class for Keras's 1000 (``classes=1001`` keeps it); the auxiliary
head (``AuxLogits``) is dropped unless ``aux_logits=True``, which adds it to
the built model as a second output. Input: ``[-1, 1]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..rules import Pairing, Rule, RuleSet
from .base import INCEPTION_INPUT, Option, Preset, class_options, classes_of, fits
from .registry import register

SCOPE = "InceptionV3"
_CONV_SCOPES = rf"{SCOPE}/(Conv2d_\w+|Mixed_\w+/Branch_\d/Conv\w+)"  # Mixed_5c has Conv_1_0c_5x5
_BN = {
    "BatchNorm/beta": "beta",
    "BatchNorm/moving_mean": "moving_mean",
    "BatchNorm/moving_variance": "moving_variance",
}
_BN_GAMMA = {**_BN, "BatchNorm/gamma": "gamma"}


def head_rules(
    scope: str, source: str, keras: str, classes: int, source_classes: int, features: int | None
) -> list[Rule]:
    """A 1x1-conv (or dense) logits layer with ``source_classes`` outputs into
    Keras ``keras`` with ``classes`` (dropping the background class when one
    fewer). ``features``: reshape the kernel to ``[features, classes]``."""
    drop = source_classes - classes
    if drop not in (0, 1):
        raise ValueError(f"{source}: {source_classes} classes cannot become {classes}")
    kernel: dict[str, Any] = {"slice": "..., 1:"} if drop else {}
    if features is not None:
        kernel["reshape"] = (features, classes)
    return [
        Rule(
            f"^{scope}/{source}/weights$",
            to=f"{keras}/kernel",
            name=f"{source} -> {keras}",
            **kernel,
        ),
        Rule(
            f"^{scope}/{source}/biases$",
            to=f"{keras}/bias",
            name=f"{source} bias",
            slice="1:" if drop else None,
        ),
    ]


def _v3_rules(o: Mapping[str, Any]) -> RuleSet:
    pairs = [
        Pairing(
            _CONV_SCOPES,
            "Conv2D",
            {"weights": "kernel"},
            target_name=r"conv2d(_\d+)?",
            name="convolutions in creation order",
        ),
        Pairing(
            _CONV_SCOPES,
            "BatchNormalization",
            _BN,
            target_name=r"batch_normalization(_\d+)?",
            name="batch norms in creation order",
        ),
    ]
    rules = head_rules(
        SCOPE, "Logits/Conv2d_1c_1x1", "predictions", o["classes"], o["source_classes"], 2048
    )
    if o["aux_logits"]:
        # slim names the second conv by its kernel, reduced for small inputs
        # (_reduced_kernel_size_for_small_input): Conv2d_2a_5x5 at 299x299, 2a_1x1 at 107x107
        aux = {"Conv2d_1b_1x1": "aux_conv1", r"Conv2d_2a_\d+x\d+": "aux_conv2"}
        for slim, keras in aux.items():
            rules.append(
                Rule(
                    f"^{SCOPE}/AuxLogits/{slim}/weights$", to=f"{keras}/kernel", name=f"aux {keras}"
                )
            )
            rules.append(
                Rule(
                    f"^{SCOPE}/AuxLogits/{slim}/BatchNorm/(\\w+)$",
                    to=f"{keras}_bn/\\1",
                    name=f"aux {keras} batch norm",
                )
            )
        rules += head_rules(
            SCOPE, "AuxLogits/Conv2d_2b_1x1", "aux_logits", o["classes"], o["source_classes"], None
        )
    else:
        rules.append(Rule(f"^{SCOPE}/AuxLogits/", drop=True, name="auxiliary head (aux_logits)"))
    return RuleSet(rules, pairs=pairs)


def _v3_build(o: Mapping[str, Any]) -> Any:
    import keras

    model = keras.applications.InceptionV3(
        weights=None,
        classes=o["classes"],
        input_shape=o["input_shape"],
        classifier_activation=o["classifier_activation"],
    )
    if not o["aux_logits"]:
        return model
    return _with_aux_head(model, o["classes"], o["classifier_activation"])


def _with_aux_head(model: Any, classes: int, activation: Any) -> Any:
    """slim's AuxLogits on ``mixed7`` (= Mixed_6e): 5x5/3 average pool, 1x1
    conv 128 + BN, k x k conv 768 + BN (k = min(5, pooled size), as slim
    reduces it for small inputs), 1x1 conv to the classes, squeezed."""
    import keras
    from keras import layers

    x = model.get_layer("mixed7").output
    x = layers.AveragePooling2D(5, strides=3, padding="valid", name="aux_pool")(x)
    for name, filters, size in (("aux_conv1", 128, 1), ("aux_conv2", 768, None)):
        k = size or min(5, int(x.shape[1]), int(x.shape[2]))
        x = layers.Conv2D(filters, k, padding="valid", use_bias=False, name=name)(x)
        x = layers.BatchNormalization(scale=False, epsilon=0.001, name=f"{name}_bn")(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(classes, 1, name="aux_logits")(x)
    x = layers.Flatten(name="aux_flatten")(x)
    if activation is not None:
        x = layers.Activation(activation, name="aux_predictions")(x)
    return keras.Model(model.inputs, [model.outputs[0], x], name="inception_v3_aux")


def _v3_match(shapes: Any) -> Any:
    source = classes_of(shapes, f"{SCOPE}/Logits/Conv2d_1c_1x1/biases")
    options: dict[str, Any] = {}
    if source is not None:
        options = {"source_classes": source}
    wanted = {
        f"{SCOPE}/Conv2d_1a_3x3/weights": (3, 3, 3, 32),
        f"{SCOPE}/Mixed_7c/Branch_3/Conv2d_0b_1x1/weights": (1, 1, 2048, 192),
        f"{SCOPE}/Logits/Conv2d_1c_1x1/weights": None,
    }
    return fits("slim/inception_v3", shapes, SCOPE, wanted, options)


INCEPTION_V3 = register(
    Preset(
        name="slim/inception_v3",
        family="tf-slim",
        target="keras.applications.InceptionV3",
        summary="tf-slim inception_v3 (research/slim nets/inception_v3.py) -> InceptionV3; "
        "convolutions paired by creation order",
        input_convention=INCEPTION_INPUT,
        options=(
            *class_options(),
            Option(
                "aux_logits", False, "add slim's auxiliary head as a second output", (True, False)
            ),
            Option(
                "input_shape",
                None,
                "(H, W, 3), at least 75x75 (107x107 with aux_logits); default 299x299",
                kind=(tuple, type(None)),
            ),
            Option(
                "classifier_activation",
                "softmax",
                "the head's activation (None: logits)",
                ("softmax", None),
            ),
        ),
        builder=_v3_build,
        rules_for=_v3_rules,
        matcher=_v3_match,
        dropped="AuxLogits (unless aux_logits=True); the background class (unless classes=1001)",
    )
)


# -- Inception-ResNet-v2 -------------------------------------------------------------
IRV2 = "InceptionResnetV2"
# Every convolution with a batch norm: the stem, the Mixed blocks' branches, and
# the branches of the repeated blocks (the residual "up" 1x1s have biases and no
# batch norm, and Keras names them by hand: block35_3_conv; so do Conv2d_7b_1x1).
_IRV2_SCOPES = (
    rf"{IRV2}/(Conv2d_[1-4][ab]_\w+|Mixed_\w+/Branch_\d/Conv\w+|"
    r"(Repeat(_\d)?/block\d+_\d+|Block8)/Branch_\d/Conv\w+)"
)
# slim's creation order: groups in this order, natural order inside each
# (block35_2 before block35_10), which is also the order of the branches.
_IRV2_ORDER = tuple(
    f"{IRV2}/{g}"
    for g in (
        "Conv2d_",
        "Mixed_5b/",
        "Repeat/",
        "Mixed_6a/",
        "Repeat_1/",
        "Mixed_7a/",
        "Repeat_2/",
        "Block8/",
    )
)


def _irv2_rules(o: Mapping[str, Any]) -> RuleSet:
    pairs = [
        Pairing(
            _IRV2_SCOPES,
            "Conv2D",
            {"weights": "kernel"},
            order=_IRV2_ORDER,
            target_name=r"conv2d(_\d+)?",
            name="convolutions in creation order",
        ),
        Pairing(
            _IRV2_SCOPES,
            "BatchNormalization",
            _BN,
            order=_IRV2_ORDER,
            target_name=r"batch_normalization(_\d+)?",
            name="batch norms in creation order",
        ),
    ]
    rules = [
        Rule(
            rf"^{IRV2}/Repeat/block35_(\d+)/Conv2d_1x1/(weights|biases)$",
            to=r"block35_\1_conv/\2",
            name="block35 up",
        ),
        Rule(
            rf"^{IRV2}/Repeat_1/block17_(\d+)/Conv2d_1x1/(weights|biases)$",
            to=r"block17_\1_conv/\2",
            name="block17 up",
        ),
        Rule(
            rf"^{IRV2}/Repeat_2/block8_(\d+)/Conv2d_1x1/(weights|biases)$",
            to=r"block8_\1_conv/\2",
            name="block8 up",
        ),
        Rule(
            rf"^{IRV2}/Block8/Conv2d_1x1/(weights|biases)$",
            to=r"block8_10_conv/\1",
            name="Block8 up (block8_10)",
        ),
        Rule(rf"^{IRV2}/Conv2d_7b_1x1/weights$", to="conv_7b/kernel", name="Conv2d_7b_1x1"),
        Rule(
            rf"^{IRV2}/Conv2d_7b_1x1/BatchNorm/(\w+)$",
            to=r"conv_7b_bn/\1",
            name="Conv2d_7b_1x1 batch norm",
        ),
        Rule(f"^{IRV2}/AuxLogits/", drop=True, name="auxiliary head"),
    ]
    rules += head_rules(
        IRV2, "Logits/Logits", "predictions", o["classes"], o["source_classes"], None
    )
    return RuleSet(rules, pairs=pairs)


def _irv2_build(o: Mapping[str, Any]) -> Any:
    import keras

    return keras.applications.InceptionResNetV2(
        weights=None,
        classes=o["classes"],
        input_shape=o["input_shape"],
        classifier_activation=o["classifier_activation"],
    )


def _irv2_match(shapes: Any) -> Any:
    source = classes_of(shapes, f"{IRV2}/Logits/Logits/biases")
    wanted = {
        f"{IRV2}/Conv2d_1a_3x3/weights": (3, 3, 3, 32),
        f"{IRV2}/Block8/Conv2d_1x1/weights": (1, 1, 448, 2080),
        f"{IRV2}/Logits/Logits/weights": None,
    }
    return fits(
        "slim/inception_resnet_v2",
        shapes,
        IRV2,
        wanted,
        {"source_classes": source} if source else {},
    )


INCEPTION_RESNET_V2 = register(
    Preset(
        name="slim/inception_resnet_v2",
        family="tf-slim",
        target="keras.applications.InceptionResNetV2",
        summary="tf-slim inception_resnet_v2 (research/slim nets/inception_resnet_v2.py) -> "
        "InceptionResNetV2; convolutions paired by creation order",
        input_convention=INCEPTION_INPUT,
        options=(
            *class_options(),
            Option(
                "input_shape",
                None,
                "(H, W, 3), at least 75x75; default 299x299",
                kind=(tuple, type(None)),
            ),
            Option(
                "classifier_activation",
                "softmax",
                "the head's activation (None: logits)",
                ("softmax", None),
            ),
        ),
        builder=_irv2_build,
        rules_for=_irv2_rules,
        matcher=_irv2_match,
        dropped="AuxLogits; the background class (unless classes=1001)",
    )
)
