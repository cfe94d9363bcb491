"""Presets: published TF1 model zoos into Keras 3 models, with proven predictions.

    >>> from converters import presets
    >>> [p.name for p in presets.list_presets()][:2]
    ['slim/inception_resnet_v2', 'slim/inception_v3']
    >>> model = presets.get("slim/inception_v3").build_target()       # doctest: +SKIP
    >>> presets.convert("inception_v3.ckpt", "iv3.weights.h5", preset="auto")  # doctest: +SKIP

``list_presets``/``get``/``detect`` and ``register`` are the registry;
``Preset`` (``build_target``, ``rules``, ``convention``, ``match``) the
protocol a preset implements; ``convert`` the verb. See docs/presets.md.
"""

from .base import InputConvention, Match, Option, Preset, PresetError
from .convert import convert, plan_conversion, target_for
from .registry import Detection, detect, detect_shapes, get, list_presets, register

__all__ = [
    "Detection",
    "InputConvention",
    "Match",
    "Option",
    "Preset",
    "PresetError",
    "convert",
    "detect",
    "detect_shapes",
    "get",
    "list_presets",
    "plan_conversion",
    "register",
    "target_for",
]
