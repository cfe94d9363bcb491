"""Batch conversion of whole checkpoint trees (``legacy-ckpt batch``).

``discover`` finds checkpoints, ``run_batch`` converts them on an engine
(local worker processes, or a Dask cluster: ``engines``) into a mirrored tree,
recording progress in a resumable manifest; ``docs/cli.md`` has the rules.
"""

from .choices import BatchOptions
from .discover import Discovery, Item, discover
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
