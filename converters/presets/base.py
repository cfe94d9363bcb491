"""``Preset``: one model family's checkpoints into one Keras 3 model, proven.

A preset knows four things about a family of published checkpoints (tf-slim's
``inception_v3``, ...): how to build the Keras model the weights belong to
(``build_target``), the rules that carry every tensor across (``rules``),
the input convention the weights expect (``input_convention``), and how to
recognise such a checkpoint from its names and shapes (``match``). Options
(width multiplier, classes, auxiliary head...) are declared with their
defaults; those a checkpoint fixes (its width, its number of classes) are
read from it, so ``plan(reader)`` needs none.

Nothing here imports Keras or TensorFlow until a model is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from legacy_saver.errors import CheckpointError

from ..rules import RuleSet

Shapes = Mapping[str, tuple[int, ...]]


class PresetError(CheckpointError):
    """No such preset, a bad option, or a checkpoint that fits no preset."""


@dataclass(frozen=True)
class Option:
    """A build option: its name, default, allowed values (None: any of ``kind``)."""

    name: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    kind: type | tuple[type, ...] = object

    def check(self, value: Any, preset: str) -> Any:
        if self.choices is not None and value not in self.choices:
            raise PresetError(
                f"{preset}: option {self.name}={value!r} is not one of {list(self.choices)}"
            )
        if self.choices is None and not isinstance(value, self.kind):
            raise PresetError(
                f"{preset}: option {self.name}={value!r} must be "
                f"{getattr(self.kind, '__name__', self.kind)}"
            )
        return value


@dataclass(frozen=True)
class InputConvention:
    """What the converted weights expect as input.

    ``scale`` and ``offset`` give ``x * scale + offset`` per channel from RGB
    pixels in [0, 255] (channel order ``channels``); ``keras_preprocess`` names
    the ``keras.applications`` function that computes the same, when one does.
    """

    name: str
    description: str
    scale: tuple[float, float, float]
    offset: tuple[float, float, float]
    channels: str = "RGB"
    keras_preprocess: str | None = None

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb`` (..., 3) pixels in [0, 255] as the weights expect them (float32)."""
        x = np.asarray(rgb, dtype=np.float32)
        if self.channels == "BGR":
            x = x[..., ::-1]
        scale = np.asarray(self.scale, dtype=np.float32)
        offset = np.asarray(self.offset, dtype=np.float32)
        out: np.ndarray = x * scale + offset
        return out


INCEPTION_INPUT = InputConvention(
    "inception",
    "RGB scaled to [-1, 1] (x / 127.5 - 1)",
    (1 / 127.5,) * 3,
    (-1.0,) * 3,
    keras_preprocess="keras.applications.inception_v3.preprocess_input",
)
VGG_RGB_INPUT = InputConvention(
    "vgg-rgb",
    "RGB minus the ImageNet means (123.68, 116.78, 103.94), not scaled "
    "(slim's vgg_preprocessing; no channel flip)",
    (1.0,) * 3,
    (-123.68, -116.78, -103.94),
)
CAFFE_BGR_INPUT = InputConvention(
    "caffe-bgr",
    "BGR minus the ImageNet means (103.939, 116.779, 123.68), not scaled (Keras's caffe mode)",
    (1.0,) * 3,
    (-103.939, -116.779, -123.68),
    channels="BGR",
    keras_preprocess="keras.applications.vgg16.preprocess_input",
)


@dataclass(frozen=True)
class Match:
    """How well a checkpoint fits a preset: ``options`` it fixes, or ``reason`` it does not."""

    preset: str
    fits: bool
    options: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    claimed: bool = False  # the family's scope is there (so ``reason`` is worth showing)


@dataclass(frozen=True)
class Preset:
    """One family of checkpoints into one Keras model. See the module docstring."""

    name: str
    family: str
    target: str
    summary: str
    input_convention: InputConvention | Callable[[Mapping[str, Any]], InputConvention]
    options: tuple[Option, ...]
    builder: Callable[[Mapping[str, Any]], Any] = field(repr=False)
    rules_for: Callable[[Mapping[str, Any]], RuleSet] = field(repr=False)
    matcher: Callable[[Shapes], Match] = field(repr=False)
    dropped: str = ""
    equivalence: str = ""

    # -- options -----------------------------------------------------------
    def resolve_options(
        self, given: Mapping[str, Any] | None = None, detected: Mapping[str, Any] | None = None
    ) -> Mapping[str, Any]:
        """Defaults, then what the checkpoint fixes, then ``given``; checked."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(given or {}) - set(known))
        if unknown:
            raise PresetError(f"{self.name}: unknown options {unknown} (known: {sorted(known)})")
        values = {o.name: o.default for o in self.options}
        values.update(detected or {})
        for key, value in (given or {}).items():
            if detected and key in detected and detected[key] != value:
                raise PresetError(
                    f"{self.name}: option {key}={value!r} contradicts the "
                    f"checkpoint, which has {key}={detected[key]!r}"
                )
            values[key] = value
        return MappingProxyType({k: known[k].check(v, self.name) for k, v in values.items()})

    # -- the verbs ---------------------------------------------------------
    def build_target(self, **options: Any) -> Any:
        """The Keras 3 model these weights belong to, built (random weights)."""
        return self.builder(self.resolve_options(options))

    def rules(self, **options: Any) -> RuleSet:
        """The rules (with pairings and fills) for these options."""
        return self.rules_for(self.resolve_options(options))

    def convention(self, **options: Any) -> InputConvention:
        conv = self.input_convention
        return conv if isinstance(conv, InputConvention) else conv(self.resolve_options(options))

    def match(self, shapes: Shapes) -> Match:
        """Does a checkpoint with these ``{name: shape}`` fit? (pure)"""
        return self.matcher(shapes)

    def describe(self) -> dict[str, Any]:
        """What ``legacy-ckpt presets --json`` prints for this preset."""
        conv = self.input_convention
        return {
            "name": self.name,
            "family": self.family,
            "target": self.target,
            "summary": self.summary,
            "input": conv.description if isinstance(conv, InputConvention) else "per option",
            "options": [
                {
                    "name": o.name,
                    "default": o.default,
                    "help": o.help,
                    "choices": list(o.choices) if o.choices else None,
                }
                for o in self.options
            ],
            "dropped": self.dropped,
            "equivalence": self.equivalence,
        }


def top_scopes(shapes: Shapes) -> set[str]:
    return {k.split("/", 1)[0] for k in shapes}


def fits(
    preset: str,
    shapes: Shapes,
    scope: str,
    wanted: Mapping[str, tuple[int, ...] | None],
    options: Mapping[str, Any] | None = None,
) -> Match:
    """A ``Match``: ``scope`` is a top-level scope, and every key of ``wanted``
    is there with that shape (``None``: any shape)."""
    if scope not in top_scopes(shapes):
        return Match(preset, False, reason=f"no {scope}/ scope")
    for key, shape in wanted.items():
        if key not in shapes:
            return Match(preset, False, reason=f"{preset}: no tensor {key!r}", claimed=True)
        if shape is not None and tuple(shapes[key]) != tuple(shape):
            return Match(
                preset,
                False,
                claimed=True,
                reason=f"{preset}: {key!r} has shape {list(shapes[key])}, expected {list(shape)}",
            )
    return Match(preset, True, dict(options or {}))


def class_options(source_default: int = 1001) -> tuple[Option, Option]:
    """The two options every classifier preset has: the target's classes and the head's."""
    return (
        Option("classes", 1000, "1000 drops slim's background class; 1001 keeps it", (1000, 1001)),
        Option(
            "source_classes",
            source_default,
            "classes of the checkpoint's head (read from it)",
            (1000, 1001),
        ),
    )


def classes_of(shapes: Shapes, key: str) -> int | None:
    shape = shapes.get(key)
    return int(shape[-1]) if shape else None
