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
  here before planning so a dry run says it too.

URLs (``s3://``...) have no inode; they are compared as normalized text.
"""

from __future__ import annotations

from legacy_saver.bundle import CheckpointReader
from legacy_saver.bundle.aliasing import find_same_file, same_path
from legacy_saver.bundle.files import files_of
from legacy_saver.bundle.naming import index_path, is_url, local_path, meta_path
from legacy_saver.bundle.storage import storage_for
from legacy_saver.bundle.writer import refuse_existing
from legacy_saver.errors import CheckpointExistsError


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


def check_destination(reader: CheckpointReader, dst: str, *, overwrite: bool) -> None:
    """Refuse ``dst`` when it is the source (always) or holds a checkpoint (unless
    ``overwrite``: ``BundleWriter``'s own rule and wording, ``writer.refuse_existing``)."""
    check_not_source(reader, dst)
    if not overwrite:
        storage, prefix = storage_for(dst)
        refuse_existing(prefix, storage)
