"""``legacy-ckpt diff``: the library function lives in the format layer
(``legacy_saver.bundle.diff``); re-exported here so ``converters.diff`` keeps working."""

from legacy_saver.bundle.diff import (
    CHUNK_ELEMENTS,
    SCHEMA,
    Changed,
    DiffReport,
    ValueDiff,
    diff_checkpoints,
)

__all__ = ["CHUNK_ELEMENTS", "SCHEMA", "Changed", "DiffReport", "ValueDiff", "diff_checkpoints"]
