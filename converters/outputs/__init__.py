"""Outputs a Keras 3 backend loads: ``.weights.h5`` files (``keras_h5``,
``keras_layout``, ``keras_plan``, ``keras_write``), and the choice of format.

``format_for(dst, explicit)`` picks the output format: an explicit
``--format``, else ``keras`` for a destination ending in ``.weights.h5``, else
``tf2`` (the object-based checkpoint). Importing this package imports
neither Keras nor TensorFlow.
"""

from __future__ import annotations

import enum

from legacy_saver.errors import CheckpointError

from .keras_h5 import WEIGHTS_SUFFIX, KerasWeightsWriter


class OutputFormat(enum.Enum):
    TF2 = "tf2"  # object-based TF checkpoint (tf.train.Checkpoint reads it)
    KERAS = "keras"  # a .weights.h5 file (model.load_weights, any backend)
    KERAS_HUB = "keras-hub"  # a keras-hub preset directory


def format_for(dst: str, explicit: str | OutputFormat | None = None) -> OutputFormat:
    """The output format: ``explicit`` when given, else from ``dst``'s suffix."""
    if isinstance(explicit, OutputFormat):
        fmt = explicit
    elif explicit is not None:
        try:
            fmt = OutputFormat(explicit)
        except ValueError:
            known = ", ".join(f.value for f in OutputFormat)
            raise CheckpointError(f"unknown format {explicit!r} (known: {known})") from None
    else:
        fmt = OutputFormat.KERAS if dst.endswith(WEIGHTS_SUFFIX) else OutputFormat.TF2
    if fmt is OutputFormat.KERAS and not dst.endswith(WEIGHTS_SUFFIX):
        raise CheckpointError(
            f"{dst}: a Keras weights file must end in {WEIGHTS_SUFFIX} "
            "(Keras's load_weights refuses any other name)"
        )
    if fmt is OutputFormat.KERAS_HUB:
        raise CheckpointError("format 'keras-hub' is not available in this build yet")
    return fmt


__all__ = ["WEIGHTS_SUFFIX", "KerasWeightsWriter", "OutputFormat", "format_for"]
