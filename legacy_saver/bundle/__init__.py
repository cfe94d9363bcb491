"""The checkpoint format, natively: numpy + protobuf, never TensorFlow.

See ``FORMAT.md`` beside this file for the byte layouts.
"""

from .checkpoint import CheckpointReader, list_variables, load_checkpoint, resolve_checkpoint
from .dtypes import DType
from .entry import BundleEntry
from .reader import BundleReader
from .v1 import V1Reader
from .v1_writer import V1Writer
from .writer import BundleWriter

__all__ = [
    "BundleEntry",
    "BundleReader",
    "BundleWriter",
    "CheckpointReader",
    "DType",
    "V1Reader",
    "V1Writer",
    "list_variables",
    "load_checkpoint",
    "resolve_checkpoint",
]
