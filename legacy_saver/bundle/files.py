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

Deleting (``remove_checkpoint``, and retention through it) is stricter still: only files
*proven* to be a checkpoint's are removed (``removable_files``; ``docs/state-file.md``,
"Path rules"):

1. the checkpoint's table exists and ends in the LevelDB table magic: ``prefix.index``
   (V2) or the V1 file ``prefix`` / each of its shards. Without one, nothing of the prefix
   goes, not even a ``.meta``: a state-file entry ``train.py`` (V1) or ``*`` deletes nothing;
2. only the exact names of that prefix: data shards, index or V1 file(s), ``.meta``, digest;
3. with ``directory``: only when the prefix's directory *is* that directory (same device
   and inode after resolving symlinks), so ``link/victim`` with ``link`` pointing out of it,
   or a subdirectory, deletes nothing;
4. never a file that is (same device and inode) one of the ``keep`` files: the checkpoint
   just written under any alias, the state file itself. Removing a name never touches the
   file behind a symlink, and a hard link to a file elsewhere leaves that file intact.

A deletion never leaves an index whose data is gone (a checkpoint that "exists" but cannot
be loaded): under the directory's lock (no reader of ours opens it half-deleted), its files
are first renamed into a claimed temporary group (``temps.claimed``), the index (or V1
file) first, so the checkpoint disappears in one step, and then removed. A process killed
in between leaves only that group, which the next save's ``sweep_stale`` deletes (and, if
it died between two renames, data files no index names: space, never a wrong load); so
does a removal that fails (EIO), whose claim is left for the sweep. A *sharded V1*
checkpoint has no single file that makes it exist: its shards go one after another, and a
kill between two leaves the rest (TensorFlow's V1 format has the same gap). Where ``fcntl``
is missing (Windows) nothing is swept, and a killed deletion's group stays.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Callable, Sequence

from .fileio import directory_lock, open_regular
from .naming import (
    DIGEST_SUFFIX,
    INDEX_SUFFIX,
    index_path,
    is_temp,
    is_url,
    meta_path,
    parse_data_name,
    parse_v1_shard,
    plan_path,
    strip_v1_shard,
)
from .table_format import FOOTER_BYTES, TABLE_MAGIC
from .temps import claimed

StrPath = str | os.PathLike[str]


def checkpoint_exists(checkpoint_prefix: StrPath) -> bool:
    """Whether a V2 (``prefix.index``) or V1 (the file, or its shards) checkpoint exists.

    Unlike TensorFlow, the prefix is never a glob pattern, a directory never counts, and
    a bare V1 prefix also finds its shards.
    """
    return bool(checkpoint_files(os.fspath(checkpoint_prefix)))


_V1_PATTERN = re.compile(r"-\?{5}-of-(\d{5})$")  # stock's glob of a V1 checkpoint's shards


def readable_now(path: StrPath) -> bool:
    """Whether a reader given ``path`` finds a checkpoint there already: a prefix (V2 or V1),
    a file of one (``P.index``), or stock's V1 pattern ``P-?????-of-0000N`` (its first shard
    exists; the pattern is never expanded as a glob)."""
    text = os.fspath(path)
    match = _V1_PATTERN.search(text)
    if match is not None:
        return os.path.isfile(f"{text[: match.start()]}-00000-of-{match.group(1)}")
    return os.path.isfile(text) or checkpoint_exists(text)


def get_checkpoint_mtimes(checkpoint_prefixes: Sequence[StrPath]) -> list[float]:
    """Modification times (seconds) of the ``.index`` (V2) or data file (V1) of each prefix.

    Missing ones are skipped, as TensorFlow does; unlike its, sub-second parts are kept.
    """
    files = [checkpoint_files(os.fspath(p)) for p in checkpoint_prefixes]
    return [os.stat(f[0]).st_mtime for f in files if f]


def remove_checkpoint(
    checkpoint_prefix: StrPath,
    checkpoint_format_version: int = 2,
    meta_graph_suffix: str = "meta",
    *,
    directory: StrPath | None = None,
    keep: Sequence[StrPath] = (),
) -> list[str]:
    """Deletes a checkpoint's files; files already missing are not an error.

    Format 2 (``SaverDef.V2``): ``prefix.index`` and every ``prefix.data-NNNNN-of-NNNNN``;
    format 1: the data file or its shards. ``prefix.<meta_graph_suffix>`` and the digest
    manifest go too. Only regular files with exactly these names are removed, and only
    when they are proven a checkpoint's (``removable_files``: the module docstring's rules;
    ``directory`` and ``keep`` as there). Returns the paths removed.
    """
    prefix = os.fspath(checkpoint_prefix)
    removed: list[str] = []
    with directory_lock(os.path.dirname(prefix)), contextlib.ExitStack() as claim:
        # the files, proven a checkpoint's, taken under the lock: never a re-save's half
        doomed = removable_files(prefix, checkpoint_format_version, meta_graph_suffix,
                                 directory=directory, keep=keep)  # fmt: skip
        if not doomed:
            return []
        tables = set(_tables(prefix, checkpoint_format_version))
        ordered = [f for f in doomed if f in tables] + [f for f in doomed if f not in tables]
        try:  # a failure below keeps the claim's lock file: the next sweep ends the group
            temp: str | None = claim.enter_context(claimed(prefix, keep_lock_on_error=True))
        except OSError:  # no claim beside it (a name too long for one): removed in place
            temp = None
        moved: list[tuple[str, str]] = []
        try:  # each file renamed into the claim first, the index (the checkpoint) first
            for i, path in enumerate(ordered):
                if temp is None:
                    _unlink(path, path, removed)
                    continue
                target = os.path.join(os.path.dirname(path), f"{os.path.basename(temp)}.{i}")
                try:
                    os.rename(path, target)
                    moved.append((path, target))
                except FileNotFoundError:  # another process got there first
                    pass
                except OSError:  # no rename (a full directory): removed in place
                    _unlink(path, path, removed)
        finally:  # every renamed file, even after one fails; then the first error
            errors = []
            for path, target in moved:
                try:
                    _unlink(target, path, removed)
                except OSError as error:
                    errors.append(error)
            if errors:
                raise errors[0]
    return removed


def _unlink(path: str, name: str, removed: list[str]) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
        removed.append(name)


def _tables(prefix: str, version: int) -> list[str]:
    """The files that make ``prefix`` a checkpoint: its index (V2), its V1 file or shards."""
    return [prefix + INDEX_SUFFIX] if version == 2 else [prefix, *_v1_shards(prefix)]


def removable_files(
    prefix: str,
    version: int = 2,
    meta_graph_suffix: str = "meta",
    *,
    directory: StrPath | None = None,
    keep: Sequence[StrPath] = (),
) -> list[str]:
    """The files of ``prefix`` that may be deleted (the module docstring's four rules),
    index or V1 file(s) last; [] when nothing proves ``prefix`` a checkpoint."""
    if is_temp(os.path.basename(prefix)) or not os.path.basename(strip_v1_shard(prefix)):
        return []
    if directory is not None and not _same_file(os.path.dirname(prefix) or ".", directory):
        return []
    tables = _tables(prefix, version)
    if not any(_is_table(t) for t in tables):
        return []
    kept = {_identity(p) for k in keep for p in (os.fspath(k), *_all_files(os.fspath(k)))}
    kept.discard(None)
    found = files_of(prefix, version, meta_graph_suffix)
    return [f for f in found if _identity(f) not in kept and (f not in tables or _is_table(f))]


def _all_files(prefix: str) -> list[str]:
    """Every file ``prefix`` may own, in either format (for ``keep``)."""
    return files_of(prefix, 2) + files_of(prefix, 1)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def _same_file(a: StrPath, b: StrPath) -> bool:
    ia = _identity(os.fspath(a))
    return ia is not None and ia == _identity(os.fspath(b))


def _is_table(path: str) -> bool:
    """A regular file ending in the LevelDB table magic (V2 index or V1 file). Opened
    without blocking, so a FIFO under the name neither hangs nor counts."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError):
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size < FOOTER_BYTES:
            return False
        return os.pread(fd, 8, st.st_size - 8) == TABLE_MAGIC.to_bytes(8, "little")
    except OSError:
        return False
    finally:
        os.close(fd)


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


def refuse_special_files(save_path: str) -> None:
    """TensorFlow's restore ops open the checkpoint's files with a blocking ``open``: a FIFO
    under a data shard's (or the V1 file's) name would hang them forever (#13.6). Each file
    of the prefix is opened first without blocking (``open_regular``).

    Raises:
        CorruptCheckpointError: one is a FIFO, device, socket or directory (named); a
            directory named like the prefix itself is left to the not-found error.
    """
    if is_url(save_path):
        return
    directory, base = os.path.split(save_path)
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return
    v2 = os.path.lexists(index_path(save_path))
    for name in names:
        parsed = parse_data_name(name) if v2 else parse_v1_shard(name)
        path = os.path.join(directory, name)
        if parsed is not None and parsed[0] == base:
            open_regular(path).close()
        elif not v2 and name == base and not os.path.isdir(path):  # a directory: not found
            open_regular(path).close()
