"""Checkpoints to safetensors (``to_safetensors``), TF-free and streaming.

``spec`` (the file format), ``planner`` (names, layouts, dtypes, shards: pure),
``layout`` (PyTorch layouts and presets), ``stream`` (bytes, checked), ``files``
(names, refusal to overwrite, atomic commit), ``convert`` (the verb). See
docs/safetensors.md.
"""

from .convert import to_safetensors
from .layout import PRESETS
from .planner import SafetensorsOptions, SafetensorsPlan, plan_safetensors

__all__ = ["PRESETS", "SafetensorsOptions", "SafetensorsPlan", "plan_safetensors", "to_safetensors"]
