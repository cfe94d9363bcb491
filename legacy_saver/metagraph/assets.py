"""A TF1 SavedModel's assets: which graph tensor holds which file, and where that file is.

A SavedModel lists its assets (vocabularies for lookup tables, mostly) as ``AssetFileDef``\\ s:
a tensor of the graph (a ``Const`` holding the path the file had at export) and a file name
relative to the model's ``assets/`` directory. TF 2 writes them in
``MetaGraphDef.asset_file_def``; TF 1.x and ``tf.compat.v1``'s ``Builder`` in the
``saved_model_assets`` collection, as ``AssetFileDef``\\ s packed in ``Any``\\ s. The loader feeds
each tensor with the file's path inside the model's directory while the main op runs (so a
table initializer reads the model's copy, not the exporter's).

``collect_assets`` reads both places. ``resolve_assets`` maps each name into ``assets/`` (or,
when only there, ``assets.extra/``) and refuses, with ``UnsafeGraphError``, a name that is
absolute, has a ``..`` part, or resolves (through symlinks) outside those directories: the
path is fed to an op that reads it, so a name like ``../../../../etc/passwd`` must never
reach it. An asset that is not a regular file (a FIFO, a device, a directory) is refused too:
the op reading it would hang or fail. Nothing is read here: only names, ``realpath`` and
``stat`` are looked at.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any

from legacy_saver.errors import UnsafeGraphError

from .walk import tensor_name

__all__ = ["ASSETS_DIR", "ASSETS_EXTRA_DIR", "Asset", "collect_assets", "resolve_assets"]

ASSETS_DIR = "assets"
ASSETS_EXTRA_DIR = "assets.extra"
ASSETS_COLLECTION = "saved_model_assets"  # tf.compat.v1.saved_model.constants.ASSETS_KEY
_ASSET_TYPE_URL = "type.googleapis.com/tensorflow.AssetFileDef"


@dataclass(frozen=True)
class Asset:
    """One asset of a SavedModel.

    Attributes:
        tensor: the graph tensor that holds its path (fed at load).
        filename: its name as recorded, relative to ``assets/``.
        path: the file inside the SavedModel directory (None before ``resolve_assets``).
    """

    tensor: str
    filename: str
    path: str | None = None


def collect_assets(meta: Any) -> list[Asset]:
    """Assets from ``asset_file_def`` and the ``saved_model_assets`` collection, once each.

    Raises:
        UnsafeGraphError: an entry of the collection is not an ``AssetFileDef``.
    """
    from tensorflow.core.protobuf import meta_graph_pb2

    found: dict[str, Asset] = {}
    for asset_def in meta.asset_file_def:
        name = tensor_name(asset_def.tensor_info.name)  # "op" is "op:0", as TF reads it
        found.setdefault(name, Asset(name, asset_def.filename))
    collection = meta.collection_def.get(ASSETS_COLLECTION)
    if collection is not None:
        for packed in collection.any_list.value:
            asset_def = meta_graph_pb2.AssetFileDef()
            if packed.type_url != _ASSET_TYPE_URL or not packed.Unpack(asset_def):
                raise UnsafeGraphError(
                    f"the {ASSETS_COLLECTION} collection holds a {packed.type_url!r}, "
                    "not an AssetFileDef"
                )
            name = tensor_name(asset_def.tensor_info.name)
            found.setdefault(name, Asset(name, asset_def.filename))
    return list(found.values())


def resolve_assets(meta: Any, saved_model_dir: str) -> list[Asset]:
    """Every asset with ``path`` set to its file inside ``saved_model_dir``.

    Raises:
        UnsafeGraphError: a name escapes ``assets/`` (absolute, ``..``, a symlink out, NUL).
    """
    return [_resolve(asset, saved_model_dir) for asset in collect_assets(meta)]


def _resolve(asset: Asset, saved_model_dir: str) -> Asset:
    name = asset.filename
    parts = name.replace("\\", "/").split("/")
    if not name or "\0" in name or os.path.isabs(name) or ".." in parts:
        raise UnsafeGraphError(_escapes(asset, saved_model_dir))
    candidates = [
        os.path.join(saved_model_dir, ASSETS_DIR, name),
        os.path.join(saved_model_dir, ASSETS_EXTRA_DIR, name),
    ]
    path = next((c for c in candidates if os.path.lexists(c)), candidates[0])
    directory = ASSETS_DIR if path == candidates[0] else ASSETS_EXTRA_DIR
    base = os.path.realpath(os.path.join(saved_model_dir, directory))
    real = os.path.realpath(path)
    if os.path.commonpath([base, real]) != base or real == base:
        raise UnsafeGraphError(_escapes(asset, saved_model_dir))
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        mode = None  # missing: the reader reports it, as TensorFlow's loader does
    if mode is not None and not stat.S_ISREG(mode):
        raise UnsafeGraphError(
            f"SavedModel {saved_model_dir}: asset {asset.filename!r} (fed to {asset.tensor}) "
            f"is {path}, which is not a regular file (a FIFO, device or directory would hang "
            "or fail the op reading it); refusing it"
        )
    return Asset(asset.tensor, asset.filename, path)


def _escapes(asset: Asset, saved_model_dir: str) -> str:
    return (
        f"SavedModel {saved_model_dir}: asset {asset.filename!r} (fed to "
        f"{asset.tensor}) escapes {os.path.join(saved_model_dir, ASSETS_DIR)}; refusing it"
    )
