"""Moving checkpoint files: atomic local copies, fsspec downloads and uploads.

Writing to a remote destination (``s3://``, ``gs://``, ``memory://``) works by
converting into a local temporary directory and uploading the result with
fsspec ``put``, data shards first and the ``.index`` last. Object stores make
each object appear whole or not at all, and a checkpoint exists when its
``.index`` does, so a killed upload leaves no checkpoint under the final name,
just as the local temp-file-and-rename does.
"""

from __future__ import annotations

import os
from typing import Any

from legacy_saver.bundle.fileio import fsync_dir
from legacy_saver.bundle.files import files_of
from legacy_saver.bundle.naming import (
    TF_TEMP_MARKER,
    checkpoint_prefix_of,
    is_url,
    local_path,
    parse_temp,
    temp_path,
)

from .walk import open_regular

__all__ = ["checkpoint_outputs", "copy_regular", "download", "fs_for", "is_url", "local_path",
           "remove_stale_temps", "upload"]  # fmt: skip
COPY_CHUNK_BYTES = 8 << 20


def fs_for(path: str) -> tuple[Any, str]:
    """The fsspec filesystem and inner path of a path or URL."""
    import fsspec

    return fsspec.core.url_to_fs(path)  # type: ignore[no-any-return]


def remove_stale_temps(prefix: str) -> list[str]:
    """Delete temporary files a killed writer left beside ``prefix`` (exact names only:
    ``naming.parse_temp`` of the prefix's own basename or of one of its files, ``P.index``,
    ``P.meta``, ``P.plan.json``..., or TensorFlow's ``.tempstate``). Only under the batch's
    destination lock: no other writer of ours can be writing there."""
    directory, base = os.path.split(prefix)
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        parsed = parse_temp(name)
        ours = parsed is not None and base in (parsed.base, checkpoint_prefix_of(parsed.base))
        head = name.split(TF_TEMP_MARKER, 1)[0] if TF_TEMP_MARKER in name else None
        tf_temp = head is not None and checkpoint_prefix_of(head) == base  # P.index.tempstate*
        if ours or tf_temp:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                os.remove(path)
                removed.append(path)
    return removed


def copy_regular(src: str, dst: str) -> None:
    """Copy regular file ``src`` to ``dst`` atomically (temporary, fsync, rename).
    ``src`` is opened without blocking and checked first (``walk.open_regular``):
    a FIFO or device raises ``NotRegularFileError`` instead of hanging."""
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    fd = open_regular(src)
    temp = temp_path(dst)
    try:
        with os.fdopen(fd, "rb") as fin, open(temp, "xb") as fout:
            while chunk := fin.read(COPY_CHUNK_BYTES):
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(temp, dst)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
    fsync_dir(os.path.dirname(dst))


def checkpoint_outputs(prefix: str) -> list[str]:
    """The final-named files of the V2 checkpoint (and .meta) at local ``prefix``, the
    ``.index`` last (upload order)."""
    return [p for p in files_of(prefix) if not p.endswith(".sha256")]


def download(fs: Any, root: str, rels: list[str], local_root: str) -> None:
    """Fetch ``root/rel`` for each rel into ``local_root/rel``."""
    for rel in rels:
        target = os.path.join(local_root, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fs.get_file(f"{root.rstrip('/')}/{rel}", target)


def upload(fs: Any, files: list[tuple[str, str]]) -> None:
    """Upload ``(local, remote)`` pairs in order (callers put the .index last).

    When the last file is an ``.index`` that already exists remotely, it is
    deleted first, so the old checkpoint stops existing before any of its
    shards is replaced (never old index + new shards under the final name).
    """
    if files and files[-1][1].endswith(".index") and fs.exists(files[-1][1]):
        fs.rm_file(files[-1][1])
    for local, remote in files:
        parent = remote.rsplit("/", 1)[0]
        fs.makedirs(parent, exist_ok=True)
        fs.put_file(local, remote)
