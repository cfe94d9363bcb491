"""Find every checkpoint under a root directory or URL.

What counts as a checkpoint:

- a V2 prefix: every ``P.index`` (with its ``P.data-NNNNN-of-MMMMM`` shards,
  any number of them); TF1 SavedModel ``variables/variables`` prefixes are
  V2 prefixes labelled ``savedmodel``, and the SavedModel's other files
  (``saved_model.pb``/``.pbtxt``, ``fingerprint.pb``, ``assets/``,
  ``assets.extra/``) travel with them, so the destination is a SavedModel too;
- a V1 checkpoint: any other file whose last 8 bytes are the LevelDB table
  magic (V1 files have no suffix, so names prove nothing), with files named
  ``P-NNNNN-of-MMMMM`` grouped into one checkpoint ``P``.

``P.meta`` travels with checkpoint ``P``. Files named ``checkpoint`` that are
not tables are state files; the batch rewrites them for the new location.

Listing is ``walk.list_tree``: special files are never opened; a checkpoint
with a FIFO (socket, device, dangling link) among its files is found with a
``problem`` and fails without being read, and a directory that cannot be
listed is reported (``Discovery.problems``). Each small file the decision
to skip rests on (``.index``, ``.meta``, V1 tables, SavedModel files) gets a
content token in the item's fingerprint: its crc32c, or the store's own
content hash (ETag) where there is one; data shards are covered by the crc32c
of every tensor that the ``.index`` holds. No data shard byte is read here.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field, replace
from typing import Any

from legacy_saver.bundle.naming import STATE_FILENAME, is_temp_path, parse_data_name, parse_v1_shard
from legacy_saver.bundle.table_format import FOOTER_BYTES, TABLE_MAGIC

from .walk import FileInfo, Listing, crc_regular, is_local_fs, list_tree, read_regular

MANIFEST_NAME = "legacy-ckpt-manifest.json"
LOCK_NAME = ".legacy-ckpt-batch.lock"
SAVEDMODEL_FILES = ("saved_model.pb", "saved_model.pbtxt", "fingerprint.pb")
SAVEDMODEL_DIRS = ("assets", "assets.extra")

__all__ = ["Discovery", "FileInfo", "Item", "MANIFEST_NAME", "discover"]


@dataclass(frozen=True)
class Item:
    """One checkpoint found under the root.

    Attributes:
        rel: the prefix relative to the root (the V1 file, or its shard base).
        kind: ``"v2"``, ``"savedmodel"`` (a SavedModel's variables) or ``"v1"``.
        files: the checkpoint's files, relative to the root.
        meta: the ``.meta`` travelling with it, if any.
        size: bytes of ``files``.
        extras: files copied as they are (a SavedModel's graph and assets).
        content: content token (crc32c hex or ETag) of each file that has one.
        problem: why it cannot be converted without reading it (a FIFO shard...).
    """

    rel: str
    kind: str
    files: tuple[FileInfo, ...]
    meta: FileInfo | None
    size: int
    extras: tuple[FileInfo, ...] = ()
    content: dict[str, str] = field(default_factory=dict, compare=False)
    problem: str | None = None

    def all_files(self) -> tuple[FileInfo, ...]:
        return self.files + ((self.meta,) if self.meta else ()) + self.extras

    def fingerprint(self) -> dict[str, list[Any]]:
        """``{file: [size, version, content]}`` of every file, the .meta and
        SavedModel files included (``content`` None for data shards)."""
        return {f.rel: [f.size, f.version, self.content.get(f.rel)] for f in self.all_files()}


@dataclass(frozen=True)
class Discovery:
    items: tuple[Item, ...]
    state_dirs: tuple[str, ...]  # directories (relative) holding a ``checkpoint`` state file
    problems: dict[str, str] = field(default_factory=dict)  # rel -> reason (exit 1)


def skipped_name(rel: str) -> bool:
    """Names discovery never looks at: the batch's own files and every temporary."""
    return rel.split("/")[-1] in (MANIFEST_NAME, LOCK_NAME) or is_temp_path(rel)


def discover(fs: Any, root: str, *, exclude: str | None = None) -> Discovery:
    """Find the checkpoints under ``root`` (see the module docstring).

    Args:
        fs: an fsspec filesystem.
        root: the root path on ``fs``.
        exclude: a directory to leave out (DST_ROOT, when nested): a local path,
            or a path on ``fs``.
    """
    listing = list_tree(fs, root, skipped_name, exclude)
    reader = _Reader(fs, root.rstrip("/"))
    by_rel = {f.rel: f for f in listing.files}
    claimed: set[str] = set()
    items = _v2_items(listing, by_rel, claimed)
    items += _v1_items(reader, listing, claimed)
    items = [_with_content(reader, _with_problem(i, listing)) for i in items]
    problems = dict(listing.problems)
    states = []
    for f in listing.files:
        if posixpath.basename(f.rel) == STATE_FILENAME and f.rel not in claimed:
            states.append(posixpath.dirname(f.rel))
    for rel, what in listing.special.items():
        if posixpath.basename(rel) == STATE_FILENAME:
            problems[rel] = f"state file is {what}, not a regular file; not read"
    return Discovery(tuple(sorted(items, key=lambda i: i.rel)), tuple(sorted(states)), problems)


def _v2_items(listing: Listing, by_rel: dict[str, FileInfo], claimed: set[str]) -> list[Item]:
    shards: dict[str, list[FileInfo]] = {}
    for f in listing.files:
        parsed = parse_data_name(f.rel)
        if parsed:
            shards.setdefault(parsed[0], []).append(f)
    prefixes = [f.rel[: -len(".index")] for f in listing.files if f.rel.endswith(".index")]
    prefixes += [r[: -len(".index")] for r in listing.special if r.endswith(".index")]
    items = []
    for prefix in sorted(set(prefixes)):
        index = by_rel.get(prefix + ".index")
        parts = ((index,) if index else ()) + tuple(sorted(shards.get(prefix, []),
                                                           key=lambda s: s.rel))  # fmt: skip
        kind = _kind_v2(prefix)
        extras = _savedmodel_files(prefix, listing) if kind == "savedmodel" else ()
        items.append(_item(prefix, kind, parts, by_rel, claimed, extras))
    return items


def _kind_v2(prefix: str) -> str:
    parts = prefix.split("/")
    return "savedmodel" if parts[-2:] == ["variables", "variables"] else "v2"


def _savedmodel_files(prefix: str, listing: Listing) -> tuple[FileInfo, ...]:
    """The SavedModel's own files beside ``X/variables/variables``: its graph and assets."""
    base = posixpath.dirname(posixpath.dirname(prefix))
    lead = base + "/" if base else ""
    wanted = {lead + n for n in SAVEDMODEL_FILES}
    dirs = tuple(lead + d + "/" for d in SAVEDMODEL_DIRS)
    return tuple(f for f in listing.files if f.rel in wanted or f.rel.startswith(dirs))


def _v1_items(reader: _Reader, listing: Listing, claimed: set[str]) -> list[Item]:
    groups: dict[str, list[FileInfo]] = {}
    for f in listing.files:
        if f.rel in claimed or f.rel.endswith(".meta") or f.size < FOOTER_BYTES:
            continue
        if not reader.has_table_magic(f):
            continue
        parsed = parse_v1_shard(f.rel)
        groups.setdefault(parsed[0] if parsed else f.rel, []).append(f)
    by_rel = {f.rel: f for f in listing.files}
    return [
        _item(p, "v1", tuple(sorted(g, key=lambda s: s.rel)), by_rel, claimed)
        for p, g in groups.items()
    ]


def _item(prefix: str, kind: str, parts: tuple[FileInfo, ...], by_rel: dict[str, FileInfo],
          claimed: set[str], extras: tuple[FileInfo, ...] = ()) -> Item:  # fmt: skip
    meta = by_rel.get(prefix + ".meta")
    claimed.update(p.rel for p in parts + extras)
    if meta:
        claimed.add(meta.rel)
    return Item(prefix, kind, parts, meta, sum(p.size for p in parts), extras)


def _with_problem(item: Item, listing: Listing) -> Item:
    """The item, with a problem when one of its files is not a regular file."""
    names = [item.rel + ".index", item.rel + ".meta"] if item.kind != "v1" else [item.rel + ".meta"]
    bad = [r for r in names if r in listing.special]
    bad += [r for r in listing.special if (parse_data_name(r) or ("",))[0] == item.rel]
    if not bad:
        return item
    what = "; ".join(f"{r} is {listing.special[r]}" for r in sorted(bad))
    return replace(item, problem=f"{what}, not a regular file; not read")


def _with_content(reader: _Reader, item: Item) -> Item:
    if item.problem:
        return item
    small = [f for f in item.all_files() if parse_data_name(f.rel) is None]
    try:
        content = {f.rel: reader.content(f) for f in small}
    except OSError as exc:  # unreadable, or replaced by a special file since listing
        return replace(item, problem=f"cannot read {item.rel}: {exc}")
    return replace(item, content=content)


class _Reader:
    """Small reads during discovery: table magic, content tokens."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs, self.root, self.local = fs, root, is_local_fs(fs)

    def path(self, f: FileInfo) -> str:
        return posixpath.join(self.root, f.rel) if self.root else f.rel

    def has_table_magic(self, f: FileInfo) -> bool:
        try:
            if self.local:
                tail = read_regular(self.path(f), f.size - 8, f.size)
            else:
                tail = self.fs.cat_file(self.path(f), start=f.size - 8, end=f.size)
        except (OSError, ValueError):
            return False
        return len(tail) == 8 and int.from_bytes(tail, "little") == TABLE_MAGIC

    def content(self, f: FileInfo) -> str:
        if self.local:
            return crc_regular(self.path(f))
        if f.digest:
            return f.digest
        from legacy_saver.bundle.coding import crc32c

        return f"{crc32c(bytes(self.fs.cat_file(self.path(f)))):08x}"
