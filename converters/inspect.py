"""``legacy-ckpt inspect`` for people: the table and the tensor printout.

The library functions live in the format layer (``legacy_saver.bundle.inspect``) and
are re-exported here, so ``converters.inspect.inspect_checkpoint`` keeps working.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from legacy_saver.bundle.inspect import (
    JSON_VALUE_MAX_ELEMENTS,
    SCHEMA,
    TensorPreview,
    inspect_checkpoint,
    tensor_preview,
    tensor_to_json,
    tensor_value,
)

__all__ = ["JSON_VALUE_MAX_ELEMENTS", "PRINT_THRESHOLD", "SCHEMA", "TensorPreview", "format_table",
           "format_tensor", "human_bytes", "inspect_checkpoint", "tensor_preview",
           "tensor_to_json", "tensor_value"]  # fmt: skip

PRINT_THRESHOLD = 200  # numpy summarises arrays with more elements than this


def format_tensor(name: str, value: np.ndarray | TensorPreview) -> str:
    """A tensor for people: header line, then numpy's (truncated) printing."""
    if isinstance(value, TensorPreview):  # the strings numpy would show, and its layout
        with np.printoptions(threshold=0, edgeitems=value.edgeitems, linewidth=100):
            body = np.array2string(value.edges, separator=", ") if value.edges.size else "[...]"
        return f"{name}  string  {list(value.shape)}\n{body}"
    dtype = "string" if value.dtype == object else str(value.dtype)
    with np.printoptions(threshold=PRINT_THRESHOLD, edgeitems=3, linewidth=100, precision=6):
        body = np.array2string(value, separator=", ") if value.size else "[]"
    return f"{name}  {dtype}  {list(value.shape)}\n{body}"


def format_table(info: dict[str, Any]) -> str:
    """``inspect_checkpoint``'s result as a readable table."""
    lines = [
        f"checkpoint  {info['prefix']}",
        f"format      {info['format']}, {info['kind']}, {info['shards']} shard(s)"
        + (", snappy-compressed index" if info["compressed_index"] else ""),
    ]
    if info["object_graph_nodes"] is not None:
        lines.append(f"objects     {info['object_graph_nodes']} nodes in the object graph")
    lines += [f"note        {n}" for n in info["notes"]]
    rows = [
        (v["name"], v["dtype"], _shape(v["shape"]), human_bytes(v["bytes"]))
        for v in info["variables"]
    ]
    head = ("name", "dtype", "shape", "bytes")
    widths = [max([len(head[i])] + [len(r[i]) for r in rows]) for i in range(4)]
    lines.append("")
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    totals = info["totals"]
    lines.append("")
    tensors, files = human_bytes(totals["bytes"]), human_bytes(totals["files_bytes"])
    lines.append(
        f"{totals['variables']} variables, {totals['elements']:,} elements, "
        f"{tensors} of tensors in {files} of files"
    )
    return "\n".join(lines)


def _shape(shape: list[int]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
