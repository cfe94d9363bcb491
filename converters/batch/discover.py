"""Find every checkpoint under a root directory or URL.

What counts as a checkpoint:

- a V2 prefix: every ``P.index`` (with its ``P.data-NNNNN-of-MMMMM`` shards,
  any number of them); TF1 SavedModel ``variables/variables`` prefixes are
  V2 prefixes labelled ``savedmodel``;
- a V1 checkpoint: any other file whose last 8 bytes are the LevelDB table
  magic (V1 files have no suffix, so names prove nothing), with files named
  ``P-NNNNN-of-MMMMM`` grouped into one checkpoint ``P``.

``P.meta`` travels with checkpoint ``P``. Files named ``checkpoint`` that are
not tables are state files; the batch rewrites them for the new location.
Listing goes through fsspec, so local paths, ``file://``, ``s3://`` and
``memory://`` roots all work; only V1 candidates' last 8 bytes are read.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from legacy_saver.bundle.naming import STATE_FILENAME, is_temp_path, parse_data_name, parse_v1_shard
from legacy_saver.bundle.table_format import FOOTER_BYTES, TABLE_MAGIC

MANIFEST_NAME = "legacy-ckpt-manifest.json"


@dataclass(frozen=True)
class FileInfo:
    """One file under the root: path relative to it ('/'-separated), size,
    and a version token (mtime, or an ETag for object stores)."""

    rel: str
    size: int
    version: str


@dataclass(frozen=True)
class Item:
    """One checkpoint found under the root.

    Attributes:
        rel: the prefix relative to the root (the V1 file, or its shard base).
        kind: ``"v2"``, ``"savedmodel"`` (a SavedModel's variables) or ``"v1"``.
        files: the checkpoint's files, relative to the root.
        meta: the ``.meta`` travelling with it, if any.
        size: bytes of ``files``.
    """

    rel: str
    kind: str
    files: tuple[FileInfo, ...]
    meta: FileInfo | None
    size: int

    def fingerprint(self) -> dict[str, list[Any]]:
        """``{file: [size, version]}`` of every file, the .meta included."""
        files = self.files + ((self.meta,) if self.meta else ())
        return {f.rel: [f.size, f.version] for f in files}


@dataclass(frozen=True)
class Discovery:
    items: tuple[Item, ...]
    state_dirs: tuple[str, ...]  # directories (relative) holding a ``checkpoint`` state file


def list_files(fs: Any, root: str, exclude: str | None = None) -> list[FileInfo]:
    """Every regular file under ``root`` on fsspec filesystem ``fs``."""
    root = root.rstrip("/")
    out = []
    for path, info in sorted(fs.find(root, detail=True).items()):
        if info.get("type", "file") != "file":
            continue
        rel = posixpath.relpath(path, root) if root else path
        if exclude and (rel == exclude or rel.startswith(exclude + "/")):
            continue
        if rel.split("/")[-1] == MANIFEST_NAME or is_temp_path(rel):
            continue
        version = (
            info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
        )
        out.append(FileInfo(rel, int(info.get("size") or 0), str(version)))
    return out


def discover(fs: Any, root: str, *, exclude: str | None = None) -> Discovery:
    """Find the checkpoints under ``root`` (see the module docstring).

    Args:
        fs: an fsspec filesystem.
        root: the root path on ``fs``.
        exclude: a relative directory to skip (the destination, when nested).
    """
    files = list_files(fs, root, exclude)
    by_rel = {f.rel: f for f in files}
    claimed: set[str] = set()
    items = _v2_items(files, by_rel, claimed)
    items += _v1_items(fs, root.rstrip("/"), files, by_rel, claimed)
    states = sorted(
        posixpath.dirname(f.rel)
        for f in files
        if posixpath.basename(f.rel) == STATE_FILENAME and f.rel not in claimed
    )
    return Discovery(tuple(sorted(items, key=lambda i: i.rel)), tuple(states))


def _v2_items(files: list[FileInfo], by_rel: dict[str, FileInfo], claimed: set[str]) -> list[Item]:
    shards: dict[str, list[FileInfo]] = {}
    for f in files:
        parsed = parse_data_name(f.rel)
        if parsed:
            shards.setdefault(parsed[0], []).append(f)
    items = []
    for f in files:
        if not f.rel.endswith(".index"):
            continue
        prefix = f.rel[: -len(".index")]
        parts = (f, *sorted(shards.get(prefix, []), key=lambda s: s.rel))
        items.append(_item(prefix, _kind_v2(prefix), parts, by_rel, claimed))
    return items


def _kind_v2(prefix: str) -> str:
    parts = prefix.split("/")
    return "savedmodel" if parts[-2:] == ["variables", "variables"] else "v2"


def _v1_items(
    fs: Any, root: str, files: list[FileInfo], by_rel: dict[str, FileInfo], claimed: set[str]
) -> list[Item]:
    groups: dict[str, list[FileInfo]] = {}
    for f in files:
        if f.rel in claimed or f.rel.endswith(".meta") or f.size < FOOTER_BYTES:
            continue
        if not _has_table_magic(fs, posixpath.join(root, f.rel) if root else f.rel, f.size):
            continue
        parsed = parse_v1_shard(f.rel)
        groups.setdefault(parsed[0] if parsed else f.rel, []).append(f)
    return [
        _item(p, "v1", tuple(sorted(g, key=lambda s: s.rel)), by_rel, claimed)
        for p, g in groups.items()
    ]


def _item(
    prefix: str,
    kind: str,
    parts: Iterable[FileInfo],
    by_rel: dict[str, FileInfo],
    claimed: set[str],
) -> Item:
    parts = tuple(parts)
    meta = by_rel.get(prefix + ".meta")
    claimed.update(p.rel for p in parts)
    if meta:
        claimed.add(meta.rel)
    return Item(prefix, kind, parts, meta, sum(p.size for p in parts))


def _has_table_magic(fs: Any, path: str, size: int) -> bool:
    try:
        tail = fs.cat_file(path, start=size - 8, end=size)
    except OSError:
        return False
    return len(tail) == 8 and int.from_bytes(tail, "little") == TABLE_MAGIC
