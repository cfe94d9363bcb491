"""Which converter a batch item runs, and with which options.

The batch's ``ConversionOptions`` come from the CLI unchanged; each item's
converter gets the part of them that applies to it (``item_options``), chosen
by the source's kind (``choose_action_for``; the table in ``item``).
"""

from __future__ import annotations

import os
from typing import Any

from ..options import ConversionOptions, TargetFormat

__all__ = ["ACTION_TARGET", "BatchOptions", "choose_action_for", "digest_fields", "item_options"]

BatchOptions = ConversionOptions  # the name batch callers used before ConversionOptions
ACTION_TARGET = {"tf1_to_tf2": TargetFormat.TF2, "tf2_to_tf1": TargetFormat.TF1,
                 "v1_to_v2": TargetFormat.V2}  # fmt: skip


def digest_fields(options: ConversionOptions) -> dict[str, Any]:
    """What decides an item's result: changed fields redo ``done`` items. A rules
    file counts by path, size and mtime."""
    rules: Any = options.rules
    if isinstance(rules, str | os.PathLike) and os.path.exists(rules):
        st = os.stat(rules)
        rules = f"{os.fspath(rules)}:{st.st_size}:{st.st_mtime_ns}"
    elif rules is not None and not isinstance(rules, str | os.PathLike):
        rules = repr(rules)
    return {"to": str(options.to), "rules": rules, "optimizer": str(options.optimizer)}


def item_options(action: str, options: ConversionOptions) -> ConversionOptions:
    """The batch's options narrowed to what applies to one item's converter
    (a V1 file under ``--to tf1`` runs ``v1_to_v2``, which takes no rules)."""
    to = ACTION_TARGET[action]
    item = ConversionOptions(to=to, overwrite=True, fsync=options.fsync,
                             record_plan=options.record_plan)  # fmt: skip
    if to is not TargetFormat.V2:
        item = item.but(rules=options.rules, optimizer=options.optimizer)
    if to is TargetFormat.TF2:
        item = item.but(link=options.link)
    return item


def choose_action_for(reader: Any, to: str) -> str:
    """``choose_action`` for an open reader."""
    object_based, version = reader.is_object_based, reader.format_version
    if to == "tf2":
        return "copy" if object_based else "tf1_to_tf2"
    if to == "tf1":
        return "tf2_to_tf1" if object_based else ("v1_to_v2" if version == 1 else "copy")
    if to == "v2":
        return "v1_to_v2" if version == 1 else "copy"
    raise ValueError(f"unknown target format {to!r} (expected tf2, tf1 or v2)")
