"""tf-slim ``resnet_v1_{50,101,152}`` and ``resnet_v2_{50,101,152}`` into Keras 3.

v2 -> ``keras.applications.ResNet{50,101,152}V2``: the same function except
``pool1`` (slim: 3x3/2 max pool with SAME padding; Keras: zero-pad 1 on every
side, then VALID, which shifts the windows by one pixel and lets a padded
zero win over negative values) and batch-norm epsilon (slim 1e-5, Keras
1.001e-5). The built target fixes both (``pool1_pad`` becomes an
``Identity``, ``pool1_pool`` pads SAME, every epsilon 1e-5), so predictions
equal slim's; ``keras_pool=True`` keeps Keras's own layers (docs/presets.md
gives the difference). v2 input: ``[-1, 1]``; heads have 1001 classes.

v1 -> ``resnet_v1_model.slim_resnet_v1``: Keras has no model computing slim's
v1 (see that module). v1 input: slim's ``vgg_preprocessing`` (RGB minus the
means); heads have 1000 classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..rules import Rule, RuleSet
from .base import INCEPTION_INPUT, VGG_RGB_INPUT, Option, Preset, class_options, classes_of, fits
from .registry import register
from .resnet_v1_model import UNITS, slim_resnet_v1
from .slim_inception import head_rules

_BN_VARS = r"(beta|gamma|moving_mean|moving_variance)"


def _options(default_classes: int, v2: bool) -> tuple[Option, ...]:
    extra = (
        (
            Option(
                "keras_pool",
                False,
                "keep Keras's pool1 and epsilon (not slim's function)",
                (True, False),
            ),
        )
        if v2
        else ()
    )
    return (
        *class_options(default_classes),
        Option("input_shape", None, "(H, W, 3); default 224x224", kind=(tuple, type(None))),
        Option(
            "classifier_activation",
            "softmax",
            "the head's activation (None: logits)",
            ("softmax", None),
        ),
        *extra,
    )


def _v2_rules(scope: str, o: Mapping[str, Any]) -> RuleSet:
    rules = [
        Rule(f"^{scope}/conv1/(weights|biases)$", to=r"conv1_conv/\1", name="conv1"),
        Rule(f"^{scope}/postnorm/{_BN_VARS}$", to=r"post_bn/\1", name="postnorm"),
    ]
    for block in range(1, 5):
        unit = rf"^{scope}/block{block}/unit_(\d+)/bottleneck_v2"
        stage = f"conv{block + 1}_block"
        rules += [
            Rule(
                f"{unit}/preact/{_BN_VARS}$",
                to=rf"{stage}\1_preact_bn/\2",
                name=f"block{block} preact",
            ),
            Rule(
                f"{unit}/shortcut/(weights|biases)$",
                to=rf"{stage}\1_0_conv/\2",
                name=f"block{block} shortcut",
            ),
            Rule(
                f"{unit}/conv([12])/weights$",
                to=rf"{stage}\1_\2_conv/kernel",
                name=f"block{block} conv1/conv2",
            ),
            Rule(
                f"{unit}/conv([12])/BatchNorm/{_BN_VARS}$",
                to=rf"{stage}\1_\2_bn/\3",
                name=f"block{block} batch norms",
            ),
            Rule(
                f"{unit}/conv3/(weights|biases)$",
                to=rf"{stage}\1_3_conv/\2",
                name=f"block{block} conv3",
            ),
        ]
    rules += head_rules(scope, "logits", "predictions", o["classes"], o["source_classes"], 2048)
    return RuleSet(rules)


def _v2_build(depth: int, o: Mapping[str, Any]) -> Any:
    import keras

    make = {
        50: keras.applications.ResNet50V2,
        101: keras.applications.ResNet101V2,
        152: keras.applications.ResNet152V2,
    }[depth]
    model = make(
        weights=None,
        classes=o["classes"],
        input_shape=o["input_shape"],
        classifier_activation=o["classifier_activation"],
    )
    return model if o["keras_pool"] else _slim_pool(model)


def _slim_pool(model: Any) -> Any:
    """``model`` with slim's pool1 (SAME, no zero padding) and epsilon 1e-5."""
    import keras

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if layer.name == "pool1_pad":
            return keras.layers.Identity(name="pool1_pad")
        if layer.name == "pool1_pool":
            config["padding"] = "same"
        if isinstance(layer, keras.layers.BatchNormalization):
            config["epsilon"] = 1e-5
        return layer.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=clone)


def _v1_rules(scope: str, o: Mapping[str, Any]) -> RuleSet:
    unit = rf"^{scope}/block(\d)/unit_(\d+)/bottleneck_v1/(shortcut|conv[123])"
    rules = [
        Rule(f"^{scope}/conv1/weights$", to="conv1/kernel", name="conv1"),
        Rule(f"^{scope}/conv1/BatchNorm/{_BN_VARS}$", to=r"conv1_bn/\1", name="conv1 bn"),
        Rule(f"{unit}/weights$", to=r"block\1_unit\2_\3/kernel", name="unit convolutions"),
        Rule(
            f"{unit}/BatchNorm/{_BN_VARS}$", to=r"block\1_unit\2_\3_bn/\4", name="unit batch norms"
        ),
    ]
    rules += head_rules(scope, "logits", "predictions", o["classes"], o["source_classes"], 2048)
    return RuleSet(rules)


def _preset(version: int, depth: int) -> Preset:
    scope = f"resnet_v{version}_{depth}"
    name = f"slim/{scope}"
    blocks = UNITS[depth]
    last_unit = f"{scope}/block3/unit_{blocks[2]}/bottleneck_v{version}/conv2/weights"
    too_deep = f"{scope}/block3/unit_{blocks[2] + 1}/bottleneck_v{version}/conv2/weights"

    def matcher(shapes: Any) -> Any:
        if too_deep in shapes:
            return fits(name, {}, scope, {})
        source = classes_of(shapes, f"{scope}/logits/biases")
        options = {"source_classes": source} if source else {}
        wanted = {f"{scope}/conv1/weights": (7, 7, 3, 64), last_unit: (3, 3, 256, 256)}
        return fits(name, shapes, scope, wanted, options)

    if version == 2:
        return Preset(
            name=name,
            family="tf-slim",
            target=f"keras.applications.ResNet{depth}V2",
            summary=f"tf-slim {scope} -> ResNet{depth}V2 with slim's pool1 padding and "
            "batch-norm epsilon",
            input_convention=INCEPTION_INPUT,
            options=_options(1001, True),
            builder=lambda o: _v2_build(depth, o),
            rules_for=lambda o: _v2_rules(scope, o),
            matcher=matcher,
            dropped="the background class (unless classes=1001)",
        )
    return Preset(
        name=name,
        family="tf-slim",
        target="converters.presets.resnet_v1_model.slim_resnet_v1",
        summary=f"tf-slim {scope} -> a Keras 3 model of slim's function (Keras's ResNet{depth} "
        "strides differently)",
        input_convention=VGG_RGB_INPUT,
        options=_options(1000, False),
        builder=lambda o: slim_resnet_v1(
            depth,
            classes=o["classes"],
            input_shape=o["input_shape"],
            classifier_activation=o["classifier_activation"],
        ),
        rules_for=lambda o: _v1_rules(scope, o),
        matcher=matcher,
        dropped="the background class of a 1001-class head (unless classes=1001)",
    )


for _version in (1, 2):
    for _depth in (50, 101, 152):
        register(_preset(_version, _depth))
