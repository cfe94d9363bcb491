"""May a conversion write its destination? The one place that decides.

Two rules, both checked before anything is planned onto disk:

* **Never the source.** The destination prefix must not be the source prefix
  under another spelling (``a/../a``, a symlinked or bind-mounted directory),
  and no file the conversion would replace (``DST.index``, a V1 file ``DST``,
  ``DST.meta``) may be one of the source's files (hard links, symlinks). This
  holds with ``overwrite=True`` too: an in-place rewrite would replace the only
  copy of the source, and a failed one would lose it. Files are compared by
  device and inode (``legacy_saver.bundle.aliasing``), never as strings.
  (Destination *data shards* may share an inode with the source's: that is
  what ``link=True`` makes, and every write replaces a name by rename, so the
  shared file itself is never modified.)
* **Never an existing checkpoint without ``overwrite``**: ``CheckpointExistsError``,
  by the rule ``BundleWriter`` itself applies (``writer.refuse_existing``), checked
  here before planning so a dry run says it too. The plan record ``DST.plan.json``
  counts as part of the checkpoint: an existing one is refused without ``overwrite``,
  and even with it only a plan record of ours is replaced (a file of some other
  content at that name is refused: it is not ours to delete).
* **Only regular files are ever replaced**: a FIFO, device, directory or socket at
  ``DST.index``, ``DST.plan.json`` or a ``DST.data-*`` name is refused, with
  ``overwrite`` too.

URLs (``s3://``...) have no inode; they are compared as normalized text.
"""

from __future__ import annotations

import os
import stat

from legacy_saver.bundle import CheckpointReader
from legacy_saver.bundle.aliasing import find_same_file, same_path
from legacy_saver.bundle.files import files_of
from legacy_saver.bundle.naming import (
    index_path,
    is_url,
    local_path,
    meta_path,
    parse_data_name,
    plan_path,
)
from legacy_saver.bundle.storage import storage_for
from legacy_saver.bundle.writer import refuse_existing
from legacy_saver.errors import CheckpointExistsError

from .record import is_plan_record_file


def source_files(reader: CheckpointReader) -> list[str]:
    """Every local file of the checkpoint ``reader`` reads (index, shards, V1 files, .meta)."""
    if is_url(reader.prefix):
        return []
    return files_of(reader.prefix, reader.format_version)


def check_not_source(reader: CheckpointReader, dst: str) -> None:
    """Refuse a destination that is the source checkpoint, however it is spelled."""
    src = reader.prefix
    if is_url(src) or is_url(dst):
        if is_url(src) and is_url(dst) and src.rstrip("/") == dst.rstrip("/"):
            raise CheckpointExistsError(f"destination {dst} is the source checkpoint")
        return
    dst = local_path(dst)
    if same_path(dst, src):
        raise CheckpointExistsError(
            f"destination {dst} is the source checkpoint {src} (the same directory and name); "
            "a conversion never rewrites its source, even with overwrite"
        )
    own = source_files(reader)
    for replaced in (index_path(dst), dst, meta_path(dst)):
        same = find_same_file(replaced, own)
        if same is not None:
            raise CheckpointExistsError(
                f"destination {replaced} is the source file {same} (the same file under "
                "another name); a conversion never rewrites its source, even with overwrite"
            )


def check_destination(
    reader: CheckpointReader, dst: str, *, overwrite: bool, record_plan: bool = False
) -> None:
    """Refuse ``dst`` when it is the source (always), when a file it would replace is not
    a regular file (always), or when it holds a checkpoint (unless ``overwrite``:
    ``BundleWriter``'s own rule and wording, ``writer.refuse_existing``). With
    ``record_plan`` the plan record ``DST.plan.json`` is checked too (see the module
    docstring)."""
    check_not_source(reader, dst)
    storage, prefix = storage_for(dst)
    local = storage.is_local
    if local:
        _refuse_special_files(prefix, record_plan)
    if not overwrite:
        refuse_existing(prefix, storage)
    if record_plan:
        _check_plan_record(prefix, overwrite, local)


def _replaced_names(prefix: str, record_plan: bool) -> list[str]:
    """The local names a conversion into ``prefix`` may rename over."""
    names = [index_path(prefix)] + ([plan_path(prefix)] if record_plan else [])
    directory, base = os.path.split(prefix)
    try:
        listed = os.listdir(directory or ".")
    except OSError:
        return names
    shards = [n for n in listed if (parsed := parse_data_name(n)) is not None and parsed[0] == base]
    return names + [os.path.join(directory, n) for n in sorted(shards)]


def _refuse_special_files(prefix: str, record_plan: bool) -> None:
    for path in _replaced_names(prefix, record_plan):
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):  # a link is replaced, not followed
            raise CheckpointExistsError(
                f"{path} exists and is not a regular file; a conversion never replaces it"
            )


def _check_plan_record(prefix: str, overwrite: bool, local: bool) -> None:
    """``DST.plan.json``: refused without ``overwrite``; with it, replaced only when it is
    a plan record (``converters.record``), never a stranger's file of that name."""
    path = plan_path(prefix)
    if not local or not os.path.lexists(path):
        return  # remote: the record is staged locally and uploaded with the checkpoint
    if not overwrite:
        raise CheckpointExistsError(
            f"{path} already exists; pass overwrite=True (--overwrite on the command line) "
            "to replace it"
        )
    if not is_plan_record_file(path):
        raise CheckpointExistsError(
            f"{path} exists and is not a plan record written by legacy-ckpt; it is never "
            "replaced (move it away to convert to this destination)"
        )
