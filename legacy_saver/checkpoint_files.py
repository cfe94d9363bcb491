"""A checkpoint's files on disk: does it exist, when was it written, delete it.

TensorFlow's ``checkpoint_management`` functions of the same names, without
TensorFlow: a V2 checkpoint is ``prefix.index`` plus ``prefix.data-NNNNN-of-NNNNN``;
a V1 one is the file ``prefix`` or its shards ``prefix-NNNNN-of-NNNNN``. Re-exported
by ``legacy_saver.state``, which uses them to tell listed checkpoints that exist.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
from collections.abc import Sequence

StrPath = str | os.PathLike[str]

_V1_SHARDS = "-?????-of-?????"  # sharded V1 data files: ``prefix-00000-of-00002``
_SHARD_SUFFIX = re.compile(r"-[\d?]+-of-\d+$")  # as TensorFlow's ``meta_graph_filename``


def checkpoint_exists(checkpoint_prefix: StrPath) -> bool:
    """Whether a V2 (``prefix.index``) or V1 (the file, or its shards) checkpoint exists.

    Glob patterns are accepted, as TensorFlow does; a literal existing name wins. Unlike
    TensorFlow, a directory never counts, and a bare V1 prefix also finds its shards.
    """
    return bool(checkpoint_files(os.fspath(checkpoint_prefix)))


def get_checkpoint_mtimes(checkpoint_prefixes: Sequence[StrPath]) -> list[float]:
    """Modification times (seconds) of the ``.index`` (V2) or data file (V1) of each prefix.

    Missing ones are skipped, as TensorFlow does; unlike its, sub-second parts are kept.
    """
    files = [checkpoint_files(os.fspath(p)) for p in checkpoint_prefixes]
    return [os.stat(f[0]).st_mtime for f in files if f]


DIGEST_SUFFIX = ".sha256"  # legacy_saver.digest.DIGEST_SUFFIX (not imported: digest imports more)


def remove_checkpoint(
    checkpoint_prefix: StrPath, checkpoint_format_version: int = 2, meta_graph_suffix: str = "meta"
) -> None:
    """Deletes a checkpoint's files; files already missing are not an error.

    Format 2 (``SaverDef.V2``): ``prefix.index`` and every ``prefix.data-NNNNN-of-NNNNN``;
    format 1: the data file or its shards. ``prefix.<meta_graph_suffix>`` goes too.
    """
    prefix = os.fspath(checkpoint_prefix)
    doomed = _match(_SHARD_SUFFIX.sub("", prefix) + "." + meta_graph_suffix)
    doomed += _match(prefix + DIGEST_SUFFIX)
    if checkpoint_format_version == 2:
        data = re.compile(re.escape(os.path.basename(prefix)) + r"\.data-\d+-of-\d+")
        doomed += _match(prefix + ".index")
        shards = _match(glob.escape(prefix) + ".data-*-of-*")
        doomed += [p for p in shards if data.fullmatch(os.path.basename(p))]
    else:
        doomed += _match(prefix) + _match(glob.escape(prefix) + _V1_SHARDS)
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):  # another process got there first
            os.remove(path)


def checkpoint_files(prefix: str) -> list[str]:
    """The V2 index of ``prefix``, else its V1 data file, else its V1 shards."""
    return _match(prefix + ".index") or _match(prefix) or _match(glob.escape(prefix) + _V1_SHARDS)


def _match(pattern: str) -> list[str]:
    """Regular files named ``pattern`` literally, else matching it as a glob."""
    if os.path.isfile(pattern):
        return [pattern]
    return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
