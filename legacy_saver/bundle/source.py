"""What every checkpoint reader offers: the ``TensorReader`` protocol.

``BundleReader`` (V2) and ``V1Reader`` (V1) both implement it, so ``CheckpointReader``
dispatches to one object without knowing which, and tools (``inspect``, ``diff``, the
converters) are written once against it. Format-specific extras stay on the readers
(``BundleReader.entry``/``open_data`` for byte copies, ``slice_entries``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .dtypes import DType

__all__ = ["CheckpointFile", "TensorReader"]


@dataclass(frozen=True)
class CheckpointFile:
    """One file of a checkpoint: its path (on the reader's storage) and size in bytes,
    ``None`` when the file is missing."""

    path: str
    size: int | None


class TensorReader(Protocol):
    """A checkpoint's tensors by name, and the files that hold them."""

    prefix: str

    def keys(self) -> list[str]:
        """Every tensor name (internal slice keys left out)."""
        ...

    def __contains__(self, key: object) -> bool: ...

    def shape(self, key: str) -> tuple[int, ...]: ...

    def dtype(self, key: str) -> DType: ...

    def get_tensor(self, key: str) -> np.ndarray:
        """The value, checksums verified (partitioned tensors assembled)."""
        ...

    def files(self) -> list[CheckpointFile]:
        """The files of the checkpoint, metadata first (``.index`` or the V1 files)."""
        ...

    def close(self) -> None: ...
