"""Batch conversion of whole checkpoint trees (``legacy-ckpt batch``).

``discover`` finds checkpoints, ``run_batch`` converts them in worker
processes into a mirrored tree, recording progress in a resumable manifest.
"""

from .discover import Discovery, Item, discover
from .item import BatchOptions
from .run import run_batch
from .summary import BatchSummary, format_summary

__all__ = [
    "BatchOptions",
    "BatchSummary",
    "Discovery",
    "Item",
    "discover",
    "format_summary",
    "run_batch",
]
