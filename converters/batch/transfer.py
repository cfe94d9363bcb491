"""Moving checkpoint files: atomic local copies, fsspec downloads and uploads.

Writing to a remote destination (``s3://``, ``gs://``, ``memory://``) works by
converting into a local temporary directory and uploading the result with
fsspec ``put``, data shards first and the ``.index`` last. Object stores make
each object appear whole or not at all, and a checkpoint exists when its
``.index`` does, so a killed upload leaves no checkpoint under the final name,
just as the local temp-file-and-rename does. (The storage seam in
``legacy_saver.bundle.storage`` stays read-only.)
"""

from __future__ import annotations

import glob
import os
from typing import Any

from legacy_saver.bundle.fileio import TEMP_INFIX


def is_url(path: str) -> bool:
    """True for fsspec URLs other than ``file://`` (those are plain paths)."""
    return "://" in path and not path.startswith("file://")


def fs_for(path: str) -> tuple[Any, str]:
    """The fsspec filesystem and inner path of a path or URL."""
    import fsspec

    return fsspec.core.url_to_fs(path)  # type: ignore[no-any-return]


def local_path(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def remove_stale_temps(prefix: str) -> list[str]:
    """Delete temporary files a killed writer left beside ``prefix``."""
    directory, base = os.path.split(prefix)
    patterns = [
        glob.escape(prefix) + "*.tempstate*",  # BundleWriter's data/index temporaries
        os.path.join(glob.escape(directory), "." + glob.escape(base) + f"*{TEMP_INFIX}*"),
    ]
    removed = []
    for pattern in patterns:
        for path in glob.glob(pattern):
            os.remove(path)
            removed.append(path)
    return removed


def checkpoint_outputs(prefix: str) -> list[str]:
    """The final-named files of the V2 checkpoint (and .meta) at local ``prefix``."""
    names = glob.glob(glob.escape(prefix) + ".data-[0-9]*-of-[0-9]*")
    names = sorted(n for n in names if ".tempstate" not in n)
    for suffix in (".meta", ".index"):
        if os.path.exists(prefix + suffix):
            names.append(prefix + suffix)
    return names  # the .index last: upload order


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
