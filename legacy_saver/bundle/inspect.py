"""What is in a checkpoint: ``legacy-ckpt inspect`` as a library function.

``inspect_checkpoint`` reads only the metadata: the ``.index`` of a V2
checkpoint (its data shards are only sized, never read), the small table of a
V1 file. That is why inspecting a checkpoint in an ``s3://`` bucket fetches a
few kilobytes however large the checkpoint is. ``tensor_value`` reads one
tensor on request. Nothing here imports TensorFlow, nor the converters: the
CLI's ``inspect`` loads the format layer only. The tables people read are
printed by ``converters.inspect`` (``format_table``, ``format_tensor``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checkpoint import CheckpointReader, load_checkpoint
from .dtypes import DType
from .naming import OBJECT_GRAPH_KEY

SCHEMA = "legacy-ckpt/inspect/1"
JSON_VALUE_MAX_ELEMENTS = 1000  # larger tensors get statistics, not values, in JSON
PREVIEW_EDGE_ITEMS = 3  # tensor_preview: strings kept at each end of each axis (numpy's edges)
PREVIEW_MAX_ELEMENTS = 1 << 20  # more edge slots than this (rank > 7): none are kept


def inspect_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe the checkpoint at ``path`` (a prefix, directory, file of a
    checkpoint, V1 file or fsspec URL) without reading tensor values.

    Returns:
        A JSON-ready dict: ``schema``, ``path``, ``prefix``, ``format`` (``"V1"``
        or ``"V2"``), ``kind`` (``"name-based"`` or ``"object-based"``),
        ``shards``, ``compressed_index``, ``files`` (``[{path, bytes}]``),
        ``variables`` (``[{name, dtype, shape, bytes, slices}]``), ``totals``
        (``variables``, ``elements``, ``bytes``, ``files_bytes``),
        ``object_graph_nodes`` and ``notes``.

    Raises:
        CheckpointNotFoundError: nothing at ``path`` is a checkpoint.
        CorruptCheckpointError: the metadata does not parse.
    """
    with load_checkpoint(path) as reader:
        variables = [_describe(reader, key) for key in reader.keys()]
        files = _files(reader)
        graph = reader.object_graph() if reader.is_object_based else None
        bundle = reader.bundle
        return {
            "schema": SCHEMA,
            "path": os.fspath(path),
            "prefix": reader.prefix,
            "format": f"V{reader.format_version}",
            "kind": "object-based" if reader.is_object_based else "name-based",
            "shards": bundle.num_shards if bundle else len(files),
            "compressed_index": bool(bundle and bundle.compressed_blocks),
            "files": files,
            "variables": variables,
            "totals": {
                "variables": sum(1 for v in variables if v["name"] != OBJECT_GRAPH_KEY),
                "elements": sum(math.prod(v["shape"]) for v in variables),
                "bytes": sum(v["bytes"] for v in variables),
                "files_bytes": sum(f["bytes"] for f in files),
            },
            "object_graph_nodes": len(graph.nodes) if graph is not None else None,  # type: ignore[attr-defined]
            "notes": list(reader.notes),
        }


def _describe(reader: CheckpointReader, key: str) -> dict[str, Any]:
    dtype, shape = reader.dtype(key), list(reader.shape(key))
    bundle = reader.bundle
    slices = 0
    if bundle is not None:
        entry = bundle.entry(key)
        slices = len(entry.slices)
        size = sum(p.size for _, p in bundle.slice_entries(key)) if slices else entry.size
    elif dtype is DType.STRING:
        size = sum(len(s) for s in reader.get_tensor(key).reshape(-1))  # V1: already in memory
    else:
        size = math.prod(shape) * dtype.itemsize
    return {
        "name": key,
        "dtype": dtype.tf_name,
        "shape": shape,
        "bytes": int(size),
        "slices": slices,
    }


def _files(reader: CheckpointReader) -> list[dict[str, Any]]:
    return [{"path": f.path, "bytes": -1 if f.size is None else f.size} for f in reader.files()]


def tensor_value(path: str | os.PathLike[str], name: str) -> np.ndarray:
    """The value of tensor ``name`` (reads that one tensor only).

    Raises:
        TensorNotFoundError: the checkpoint has no tensor ``name``.
    """
    with load_checkpoint(path) as reader:
        return reader.get_tensor(name)


@dataclass(frozen=True)
class TensorPreview:
    """What a summarised printout shows of a big string tensor, without the rest.

    ``edges`` is an object array in which every axis longer than ``2 * edgeitems`` is cut
    to its first ``edgeitems`` strings, one placeholder (``None``), and its last
    ``edgeitems``; numpy's summarised printing of ``edges`` (threshold 0) skips exactly
    the placeholders, so it prints what numpy prints for the whole tensor.
    """

    shape: tuple[int, ...]
    edges: np.ndarray
    edgeitems: int = PREVIEW_EDGE_ITEMS

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def tensor_preview(
    path: str | os.PathLike[str], name: str, *, edgeitems: int = PREVIEW_EDGE_ITEMS
) -> np.ndarray | TensorPreview:
    """``tensor_value``, except that a stored string tensor of more than
    ``JSON_VALUE_MAX_ELEMENTS`` elements comes back as a ``TensorPreview``: the strings a
    summarised printout shows, read in one pass over the stored bytes, never a Python
    object per string. What ``legacy-ckpt inspect --tensor`` prints and reports."""
    with load_checkpoint(path) as reader:
        bundle = reader.bundle
        if (
            bundle is None
            or name not in bundle
            or bundle.dtype(name) is not DType.STRING
            or bundle.entry(name).slices
            or bundle.entry(name).num_elements <= JSON_VALUE_MAX_ELEMENTS
        ):
            return reader.get_tensor(name)
        shape = bundle.entry(name).shape
        cut = [d > 2 * edgeitems for d in shape]
        kept = [np.r_[0:edgeitems, d - edgeitems : d] if c else np.arange(d)
                for d, c in zip(shape, cut, strict=True)]  # fmt: skip
        slots = [np.r_[0:edgeitems, edgeitems + 1 : 2 * edgeitems + 1] if c else np.arange(d)
                 for d, c in zip(shape, cut, strict=True)]  # fmt: skip
        edges = np.empty([2 * edgeitems + 1 if c else d for d, c in zip(shape, cut, strict=True)],
                         dtype=object)  # fmt: skip
        if edges.size > PREVIEW_MAX_ELEMENTS:  # absurd ranks: show nothing rather than hang
            return TensorPreview(shape, np.empty([0] * len(shape), dtype=object), edgeitems)
        flat = np.ravel_multi_index(np.meshgrid(*kept, indexing="ij"), shape).reshape(-1)
        order = np.argsort(flat)
        strings = np.empty(flat.size, dtype=object)
        strings[order] = bundle.string_layout(name).take(flat[order])
        edges[np.ix_(*slots)] = strings.reshape([len(k) for k in kept])
        return TensorPreview(shape, edges, edgeitems)


def tensor_to_json(name: str, value: np.ndarray | TensorPreview) -> dict[str, Any]:
    """A tensor for ``--json``: the values when small, statistics always."""
    if isinstance(value, TensorPreview):  # a big string tensor: no values, no statistics
        return {"name": name, "dtype": "string", "shape": list(value.shape), "truncated": True,
                "value": None, "stats": None}  # fmt: skip
    out: dict[str, Any] = {
        "name": name,
        "dtype": str(value.dtype) if value.dtype != object else "string",
        "shape": list(value.shape),
        "truncated": value.size > JSON_VALUE_MAX_ELEMENTS,
        "value": None,
        "stats": None,
    }
    if value.dtype == object:  # text only for what is reported: never a str per string
        if not out["truncated"]:
            as_text = np.vectorize(_bytes_text, otypes=[object])(value) if value.size else value
            out["value"] = as_text.tolist()
        return out
    if not out["truncated"]:
        out["value"] = _jsonable(value).tolist()
    if value.size and value.dtype.kind in "biuf":
        data = value.astype(np.float64)
        out["stats"] = {
            "min": float(np.nanmin(data)),
            "max": float(np.nanmax(data)),
            "mean": float(np.nanmean(data)),
        }
    return out


def _jsonable(value: np.ndarray) -> np.ndarray:
    if value.dtype.kind == "c":
        return np.stack([value.real, value.imag], axis=-1)
    if value.dtype.kind == "f" and value.dtype.itemsize <= 2 or value.dtype.kind == "V":
        return value.astype(np.float64)
    return value


def _bytes_text(item: object) -> str:
    if isinstance(item, bytes):
        return item.decode("utf-8", "backslashreplace")
    return str(item)
