"""A checkpoint's files on disk: does it exist, when was it written, delete it.

TensorFlow's ``checkpoint_management`` functions of the same names, without
TensorFlow: a V2 checkpoint is ``prefix.index`` plus ``prefix.data-NNNNN-of-NNNNN``;
a V1 one is the file ``prefix`` or its shards ``prefix-NNNNN-of-NNNNN``. Re-exported
by ``legacy_saver.bundle.state``, which uses them to tell listed checkpoints that exist.

Names are exact (``naming``): a prefix is never used as a glob, so ``*``, ``[1]`` or
``?`` in it mean themselves (TensorFlow globs them, and its retention can delete the
files of other checkpoints that way). The one pattern understood is TensorFlow's own
V1 shard pattern ``prefix-?????-of-00002``. Only regular files count; a directory or
a symlink to one never does.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Sequence

from .naming import (
    DIGEST_SUFFIX,
    INDEX_SUFFIX,
    is_temp,
    meta_path,
    parse_data_name,
    parse_v1_shard,
    plan_path,
    strip_v1_shard,
)

StrPath = str | os.PathLike[str]


def checkpoint_exists(checkpoint_prefix: StrPath) -> bool:
    """Whether a V2 (``prefix.index``) or V1 (the file, or its shards) checkpoint exists.

    Unlike TensorFlow, the prefix is never a glob pattern, a directory never counts, and
    a bare V1 prefix also finds its shards.
    """
    return bool(checkpoint_files(os.fspath(checkpoint_prefix)))


def get_checkpoint_mtimes(checkpoint_prefixes: Sequence[StrPath]) -> list[float]:
    """Modification times (seconds) of the ``.index`` (V2) or data file (V1) of each prefix.

    Missing ones are skipped, as TensorFlow does; unlike its, sub-second parts are kept.
    """
    files = [checkpoint_files(os.fspath(p)) for p in checkpoint_prefixes]
    return [os.stat(f[0]).st_mtime for f in files if f]


def remove_checkpoint(
    checkpoint_prefix: StrPath, checkpoint_format_version: int = 2, meta_graph_suffix: str = "meta"
) -> None:
    """Deletes a checkpoint's files; files already missing are not an error.

    Format 2 (``SaverDef.V2``): ``prefix.index`` and every ``prefix.data-NNNNN-of-NNNNN``;
    format 1: the data file or its shards. ``prefix.<meta_graph_suffix>`` and the digest
    manifest go too. Only regular files with exactly these names are removed.
    """
    for path in files_of(os.fspath(checkpoint_prefix), checkpoint_format_version,
                         meta_graph_suffix):  # fmt: skip
        with contextlib.suppress(FileNotFoundError):  # another process got there first
            os.remove(path)


def files_of(prefix: str, version: int = 2, meta_graph_suffix: str = "meta") -> list[str]:
    """Every existing regular file of the checkpoint ``prefix`` (format ``version``), by
    exact name: data shards, index (V2) or V1 file(s), ``.meta``, digest, conversion plan;
    index last."""
    directory, base = os.path.split(prefix)
    found = [p for p in (meta_path(prefix, meta_graph_suffix), prefix + DIGEST_SUFFIX,
                         plan_path(prefix)) if _is_file(p)]  # fmt: skip
    if version == 2:
        found += _listed(directory, lambda n: (parse_data_name(n) or ("",))[0] == base)
        found += [p for p in [prefix + INDEX_SUFFIX] if _is_file(p)]
    else:
        found += [p for p in [prefix] if _is_file(p)] + _v1_shards(prefix)
    return found


def checkpoint_files(prefix: str) -> list[str]:
    """The V2 index of ``prefix``, else its V1 data file, else its V1 shards."""
    index = prefix + INDEX_SUFFIX
    if _is_file(index):
        return [index]
    if _is_file(prefix) and not is_temp(os.path.basename(prefix)):
        return [prefix]
    return _v1_shards(prefix)


def _v1_shards(prefix: str) -> list[str]:
    """``prefix-NNNNN-of-MMMMM`` files (``prefix`` may be the ``-?????-of-MMMMM`` pattern)."""
    base_prefix = strip_v1_shard(prefix)
    directory, base = os.path.split(base_prefix)
    return _listed(directory, lambda n: (parse_v1_shard(n) or ("",))[0] == base)


def _listed(directory: str, wanted: Callable[[str], bool]) -> list[str]:
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return []
    paths = [os.path.join(directory, n) for n in sorted(names) if wanted(n)]
    return [p for p in paths if _is_file(p)]


def _is_file(path: str) -> bool:
    """A regular file (a symlink to one counts; directories, FIFOs and devices do not)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
