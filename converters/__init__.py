"""Checkpoint converters: TF1 name-based <-> TF2 object-based, V1 -> V2, and
checkpoints -> safetensors (``to_safetensors``).

Structural conversion, ``tf2_to_tf1``, ``v1_to_v2`` and ``verify`` never import
TensorFlow; conversion into a target model (``target=``) does, lazily.
"""

from legacy_saver.errors import CheckpointError

from .api import convert, plan_tf1_to_tf2, tf1_to_tf2, tf2_to_tf1, v1_to_v2
from .load import load_structural
from .options import ConversionOptions, OptimizerMode, TargetFormat
from .plan import Plan
from .report import ConversionReport
from .rules import Rule, RuleError, load_rules
from .safetensors import to_safetensors
from .verify import VerifyReport, verify

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
