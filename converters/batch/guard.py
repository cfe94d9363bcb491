"""Never write a source: how SRC_ROOT and DST_ROOT may overlap, and where an
item may write.

Roots are compared as real directories, never as strings: locally by
``(st_dev, st_ino)`` after resolving symlinks (``legacy_saver.bundle.aliasing``),
so ``SRC``, ``SRC/``, ``SRC/../SRC``, ``file://SRC``, a symlink to SRC and a
directory reached through a symlinked parent are all the same directory. On
an object store (no links, no aliases) the normalised ``protocol://path``.

* DST_ROOT **is** SRC_ROOT: refused, with or without ``--overwrite`` (an
  in-place rewrite replaces the only copy).
* DST_ROOT **contains** SRC_ROOT: refused (``SRC/x`` would be written to
  ``DST/x``, which may be a source file).
* DST_ROOT **inside** SRC_ROOT: allowed. Discovery skips everything inside
  DST_ROOT, however it is reached (``walk``), so no output is ever taken for a
  source; and every item writes only inside DST_ROOT by real path
  (``check_item_destination``), so no source file is ever written or deleted.
  Writes are always a fresh temporary renamed over a name inside DST_ROOT:
  they never write through an existing inode.
* An item whose destination directory resolves outside DST_ROOT (a symlink
  inside DST_ROOT pointing back into SRC_ROOT, or anywhere else) is refused.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

from legacy_saver.bundle.aliasing import is_inside, relation, same_file
from legacy_saver.errors import CheckpointExistsError

from .walk import is_local_fs


def check_roots(src_fs: Any, src: str, dst_fs: Any, dst: str, src_root: str,
                dst_root: str) -> str | None:  # fmt: skip
    """Refuse overlapping roots (see the module docstring); return the directory
    discovery must skip (DST_ROOT nested in SRC_ROOT), as a path on ``src_fs``.

    Raises:
        CheckpointExistsError: DST_ROOT is SRC_ROOT, or contains it.
    """
    local_src, local_dst = is_local_fs(src_fs), is_local_fs(dst_fs)
    if local_src and local_dst:
        how = relation(src, dst)
    elif not local_src and not local_dst and _protocol(src_fs) == _protocol(dst_fs):
        how = _text_relation(src, dst)
    else:
        return None  # different storage: apart
    if how == "same":
        raise CheckpointExistsError(
            f"{dst_root} is the source directory {src_root}: a batch never rewrites its "
            "source in place, even with --overwrite; choose another DST_ROOT"
        )
    if how == "a inside b":
        raise CheckpointExistsError(
            f"{dst_root} contains the source directory {src_root}: outputs could land on "
            "source files; choose a DST_ROOT outside SRC_ROOT (or inside it)"
        )
    return dst if how == "b inside a" else None


def _protocol(fs: Any) -> str:
    return str(fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0])


def _text_relation(a: str, b: str) -> str | None:
    a, b = posixpath.normpath("/" + a.strip("/")), posixpath.normpath("/" + b.strip("/"))
    if a == b:
        return "same"
    if a.startswith(b.rstrip("/") + "/"):
        return "a inside b"
    if b.startswith(a.rstrip("/") + "/"):
        return "b inside a"
    return None


def check_item_destination(dst: str, dst_root: str, src: str) -> None:
    """Before an item writes local prefix ``dst``: its directory must lie inside
    ``dst_root`` after resolving links, and must not be the source's directory.

    Raises:
        CheckpointExistsError: either does not hold.
    """
    directory = os.path.dirname(dst) or "."
    if not is_inside(directory, dst_root):
        raise CheckpointExistsError(
            f"{dst} resolves to {os.path.realpath(directory)}, outside {dst_root} "
            "(a symlink in DST_ROOT?); refusing to write there"
        )
    if same_file(directory, os.path.dirname(src) or "."):
        raise CheckpointExistsError(
            f"{dst} is in the source checkpoint's own directory; refusing to write in place"
        )
