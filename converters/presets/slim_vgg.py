"""tf-slim ``vgg_16`` / ``vgg_19`` into ``keras.applications.VGG16`` / ``VGG19``.

slim names ``vgg_16/conv3/conv3_2/weights``, Keras ``block3_conv2/kernel``;
slim's fully connected layers are convolutions (``fc6`` is 7x7x512), Keras's
are dense layers over the row-major NHWC flattening of the same tensor, so a
reshape keeps every weight in place. slim VGG heads have 1000 classes.
Input: slim's ``vgg_preprocessing`` (RGB minus the means); with
``channels="bgr"`` the first convolution's input channels are reversed, so
the model takes Keras's own ``vgg16.preprocess_input`` (BGR minus the means).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..rules import Rule, RuleSet
from .base import CAFFE_BGR_INPUT, VGG_RGB_INPUT, InputConvention, Option, Preset, fits
from .registry import register

_BLOCKS = {"vgg_16": (2, 2, 3, 3, 3), "vgg_19": (2, 2, 4, 4, 4)}


def _options() -> tuple[Option, ...]:
    return (
        Option("include_top", True, "keep fc6-fc8 (224x224 input only)", (True, False)),
        Option("classes", 1000, "classes of the fc8 head (read from the checkpoint)", kind=int),
        Option(
            "channels", "rgb", "rgb: slim's input; bgr: Keras's preprocess_input", ("rgb", "bgr")
        ),
        Option("input_shape", None, "(H, W, 3); default 224x224", kind=(tuple, type(None))),
        Option(
            "classifier_activation",
            "softmax",
            "the head's activation (None: logits)",
            ("softmax", None),
        ),
    )


def _rules(scope: str, o: Mapping[str, Any]) -> RuleSet:
    rules = []
    if o["channels"] == "bgr":
        rules.append(
            Rule(
                f"^{scope}/conv1/conv1_1/weights$",
                to="block1_conv1/kernel",
                slice=":, :, ::-1, :",
                name="conv1_1: RGB -> BGR input",
            )
        )
    rules += [
        Rule(
            rf"^{scope}/conv(\d)/conv\d_(\d)/weights$",
            to=r"block\1_conv\2/kernel",
            name="conv kernels",
        ),
        Rule(
            rf"^{scope}/conv(\d)/conv\d_(\d)/biases$", to=r"block\1_conv\2/bias", name="conv biases"
        ),
    ]
    if o["include_top"]:
        shapes = {
            "fc6": ("fc1", [25088, 4096]),
            "fc7": ("fc2", [4096, 4096]),
            "fc8": ("predictions", [4096, o["classes"]]),
        }
        for slim, (keras, shape) in shapes.items():
            rules.append(
                Rule(
                    f"^{scope}/{slim}/weights$",
                    to=f"{keras}/kernel",
                    reshape=tuple(shape),
                    name=f"{slim} -> {keras}",
                )
            )
            rules.append(Rule(f"^{scope}/{slim}/biases$", to=f"{keras}/bias", name=f"{slim} bias"))
    else:
        rules.append(Rule(f"^{scope}/fc[678]/", drop=True, name="fc6-fc8 (include_top=False)"))
    return RuleSet(rules)


def _build(scope: str, o: Mapping[str, Any]) -> Any:
    import keras

    make = keras.applications.VGG16 if scope == "vgg_16" else keras.applications.VGG19
    return make(
        weights=None,
        include_top=o["include_top"],
        classes=o["classes"],
        input_shape=o["input_shape"],
        classifier_activation=o["classifier_activation"],
    )


def _convention(o: Mapping[str, Any]) -> InputConvention:
    return CAFFE_BGR_INPUT if o["channels"] == "bgr" else VGG_RGB_INPUT


def _preset(scope: str, keras_name: str) -> Preset:
    name = f"slim/{scope}"
    last = len(_BLOCKS[scope]), _BLOCKS[scope][-1]
    wanted = {
        f"{scope}/conv1/conv1_1/weights": (3, 3, 3, 64),
        f"{scope}/conv{last[0]}/conv{last[0]}_{last[1]}/weights": (3, 3, 512, 512),
    }

    def matcher(shapes: Any) -> Any:
        fc8 = shapes.get(f"{scope}/fc8/weights")
        options = {"classes": int(fc8[-1])} if fc8 else {"include_top": False}
        deeper = f"{scope}/conv{last[0]}/conv{last[0]}_{last[1] + 1}/weights"
        if deeper in shapes:
            return fits(name, {}, scope, {})  # a deeper net under the same scope
        return fits(name, shapes, scope, wanted, options)

    return Preset(
        name=name,
        family="tf-slim",
        target=f"keras.applications.{keras_name}",
        summary=f"tf-slim {scope} (research/slim nets/vgg.py) -> {keras_name}",
        input_convention=_convention,
        options=_options(),
        builder=lambda o: _build(scope, o),
        rules_for=lambda o: _rules(scope, o),
        matcher=matcher,
        dropped="nothing (fc6-fc8 with include_top=False)",
        equivalence="see docs/presets.md",
    )


VGG_16 = register(_preset("vgg_16", "VGG16"))
VGG_19 = register(_preset("vgg_19", "VGG19"))
