"""Checkpoint converters: TF1 name-based <-> TF2 object-based, V1 -> V2, and
checkpoints -> safetensors (``to_safetensors``).

Structural conversion, ``tf2_to_tf1``, ``v1_to_v2`` and ``verify`` never import
TensorFlow; conversion into a target model (``target=``) does, lazily. The names
below are imported on first use, so ``legacy-ckpt inspect`` (``converters.cli``)
never loads the conversion engine.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from legacy_saver.errors import CheckpointError

if TYPE_CHECKING:
    from .api import convert, plan_tf1_to_tf2, tf1_to_tf2, tf2_to_tf1, v1_to_v2
    from .load import load_structural
    from .options import ConversionOptions, OptimizerMode, TargetFormat
    from .plan import Plan
    from .report import ConversionReport
    from .rules import Rule, RuleError, load_rules
    from .safetensors import to_safetensors
    from .verify import VerifyReport, verify

# name -> module that defines it, imported on first use
_LAZY = {
    "convert": "api",
    "plan_tf1_to_tf2": "api",
    "tf1_to_tf2": "api",
    "tf2_to_tf1": "api",
    "v1_to_v2": "api",
    "load_structural": "load",
    "to_safetensors": "safetensors",
    "ConversionOptions": "options",
    "OptimizerMode": "options",
    "TargetFormat": "options",
    "Plan": "plan",
    "ConversionReport": "report",
    "Rule": "rules",
    "RuleError": "rules",
    "load_rules": "rules",
    "VerifyReport": "verify",
    "verify": "verify",
}

__all__ = [
    "CheckpointError",
    "ConversionOptions",
    "ConversionReport",
    "OptimizerMode",
    "Plan",
    "Rule",
    "RuleError",
    "TargetFormat",
    "VerifyReport",
    "convert",
    "load_rules",
    "load_structural",
    "plan_tf1_to_tf2",
    "tf1_to_tf2",
    "tf2_to_tf1",
    "to_safetensors",
    "v1_to_v2",
    "verify",
]


class _Package(types.ModuleType):
    """Importing the submodule ``converters.verify`` binds the package attribute
    ``verify``; the eager ``from .verify import verify`` this file used to make let the
    function win, and so does this (``converters.verify`` stays the function)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "verify" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'converters' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
