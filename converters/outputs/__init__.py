"""Outputs a Keras 3 backend loads: ``.weights.h5`` files (``keras_h5``,
``keras_layout``, ``keras_plan``, ``keras_write``), and the choice of format.

``format_for(dst, explicit)`` picks the output format: an explicit
``--format``, else ``keras`` for a destination ending in ``.weights.h5``, else
``tf2`` (the object-based checkpoint). Importing this package imports
neither Keras nor TensorFlow.
"""

from __future__ import annotations

from legacy_saver.errors import CheckpointError

from ..options import TargetFormat
from .keras_h5 import WEIGHTS_SUFFIX, KerasWeightsWriter

# The formats are ``converters.options.TargetFormat`` (one enum for the whole
# package); the outputs here are its TF2, KERAS and KERAS_HUB members.
OutputFormat = TargetFormat
OUTPUT_FORMATS = (TargetFormat.TF2, TargetFormat.KERAS, TargetFormat.KERAS_HUB)


def format_for(dst: str, explicit: str | OutputFormat | None = None) -> OutputFormat:
    """The output format: ``explicit`` when given, else from ``dst``'s suffix."""
    if isinstance(explicit, OutputFormat):
        fmt = explicit
    elif explicit is not None:
        try:
            fmt = OutputFormat(explicit)
        except ValueError:
            fmt = None
    else:
        fmt = OutputFormat.KERAS if dst.endswith(WEIGHTS_SUFFIX) else OutputFormat.TF2
    if fmt not in OUTPUT_FORMATS:
        known = ", ".join(f.value for f in OUTPUT_FORMATS)
        raise CheckpointError(f"unknown format {explicit!r} (known: {known})")
    if fmt is OutputFormat.KERAS and not dst.endswith(WEIGHTS_SUFFIX):
        raise CheckpointError(
            f"{dst}: a Keras weights file must end in {WEIGHTS_SUFFIX} "
            "(Keras's load_weights refuses any other name)"
        )
    if fmt is OutputFormat.KERAS_HUB and dst.endswith(WEIGHTS_SUFFIX):
        raise CheckpointError(f"{dst}: a keras-hub preset is a directory, not a {WEIGHTS_SUFFIX}")
    return fmt


__all__ = ["OUTPUT_FORMATS", "WEIGHTS_SUFFIX", "KerasWeightsWriter", "OutputFormat", "format_for"]
