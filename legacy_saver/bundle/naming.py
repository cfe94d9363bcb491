"""Every file name the project reads or writes, in one place (as LevelDB's ``filename.cc``).

A checkpoint is a *prefix* ``P``; its files are named from it::

    P.index                         the V2 index (a prefix "exists" when this file does)
    P.data-00000-of-00002           V2 data shards (5 digits each, as TensorFlow's %05d)
    P.meta                          the MetaGraphDef (a V1 shard pattern is dropped first)
    P.sha256                        our optional digest manifest
    P.plan.json                     a conversion's plan, written beside its output (verify)
    P   or  P-00000-of-00002        a V1 checkpoint: one table, or its shards
    DIR/checkpoint                  the state file (TensorFlow's default ``latest_filename``)

Temporaries. Everything this project writes first goes under a hidden name in the same
directory, ``.<base>.tmp-<pid>-<tag><rest>`` (``tag``: 8 hex digits, fresh per write;
``rest``: the suffix of the final name, e.g. ``.index``), then is renamed over the final
name. ``parse_temp`` recovers the parts; ``is_temp`` also recognises the temporaries
TensorFlow's own writers make (``<name>.tempstate<digits>`` from ``BundleWriter``,
``<prefix>_temp/`` part directories of sharded saves). Nothing that lists checkpoints
(discovery, retention, ``checkpoint_files``) may count a temporary as a checkpoint. A write
claims its temporaries with ``<group>.lock`` (``claim_lock_path``, ``bundle.temps``); a Saver
updating ``DIR/checkpoint`` holds ``DIR/.checkpoint.lock`` (``state_lock_path``).

Names here are exact: nothing in this module builds or matches globs, so a prefix
containing ``*``, ``[`` or ``?`` means itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

__all__ = [
    "DIGEST_SUFFIX",
    "INDEX_SUFFIX",
    "META_SUFFIX",
    "OBJECT_GRAPH_KEY",
    "STATE_FILENAME",
    "TempName",
    "checkpoint_prefix_of",
    "claim_lock_path",
    "data_path",
    "digest_path",
    "index_path",
    "is_temp",
    "is_temp_path",
    "is_url",
    "local_path",
    "meta_path",
    "parse_data_name",
    "parse_temp",
    "parse_v1_shard",
    "plan_path",
    "state_lock_path",
    "state_path",
    "strip_v1_shard",
    "temp_path",
    "v1_shard_path",
]

INDEX_SUFFIX = ".index"
META_SUFFIX = ".meta"
DIGEST_SUFFIX = ".sha256"
PLAN_SUFFIX = ".plan.json"  # converters.record: what a conversion did, for verify
STATE_FILENAME = "checkpoint"  # tf.train.latest_checkpoint's default latest_filename
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"  # TF2 checkpoints: the TrackableObjectGraph
SHARD_DIGITS = 5  # tensor_bundle.cc DataFilename: "%s.data-%05d-of-%05d"

_DATA = re.compile(r"^(?P<prefix>.+)\.data-(?P<shard>\d{5})-of-(?P<count>\d{5})$", re.S)
_V1_SHARD = re.compile(r"^(?P<prefix>.+)-(?P<shard>\d{5}|\?{5})-of-(?P<count>\d{5})$", re.S)
_FILE_OF_PREFIX = re.compile(r"\.(index|meta|sha256|plan\.json|data-\d{5}-of-\d{5})$")
_TEMP = re.compile(r"^\.(?P<base>.+)\.tmp-(?P<pid>\d+)-(?P<tag>[0-9a-f]{8})(?P<rest>.*)$", re.S)
TEMP_INFIX = ".tmp-"
TF_TEMP_MARKER = ".tempstate"  # TensorFlow's BundleWriter: "<final name>.tempstate<random>"
TF_PARTS_SUFFIX = "_temp"  # sharded saves write parts into "<prefix>_temp/" and merge them
LOCK_SUFFIX = ".lock"  # temps.py: a write's claim ``<group>.lock``; a state file's ``.<name>.lock``


# -- a checkpoint's files ------------------------------------------------------------


def index_path(prefix: str) -> str:
    """``P.index``."""
    return prefix + INDEX_SUFFIX


def data_path(prefix: str, shard: int, num_shards: int) -> str:
    """``P.data-00000-of-00001``."""
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


def parse_data_name(name: str) -> tuple[str, int, int] | None:
    """``(prefix, shard, num_shards)`` of a data shard's name or path, else None."""
    match = _DATA.match(name)
    if match is None:
        return None
    return match["prefix"], int(match["shard"]), int(match["count"])


def strip_v1_shard(path: str) -> str:
    """``P-00000-of-00002`` or ``P-?????-of-00002`` -> ``P``; anything else unchanged."""
    match = _V1_SHARD.match(path)
    return match["prefix"] if match else path


def v1_shard_path(prefix: str, shard: int, num_shards: int) -> str:
    """``P-00000-of-00002`` (a V1 Saver's sharded file)."""
    return f"{prefix}-{shard:05d}-of-{num_shards:05d}"


def parse_v1_shard(name: str) -> tuple[str, int, int] | None:
    """``(prefix, shard, num_shards)`` of a V1 shard name (not the ``?????`` pattern)."""
    match = _V1_SHARD.match(name)
    if match is None or match["shard"] == "?????":
        return None
    return match["prefix"], int(match["shard"]), int(match["count"])


def meta_path(checkpoint_file: str, suffix: str = "meta") -> str:
    """``P.meta`` for prefix ``P`` (or a V1 shard or shard pattern of it), as TensorFlow's
    ``meta_graph_filename``."""
    return f"{strip_v1_shard(checkpoint_file)}.{suffix}"


def digest_path(prefix: str) -> str:
    """``P.sha256``: the digest manifest (``legacy_saver.digest``)."""
    return prefix + DIGEST_SUFFIX


def plan_path(prefix: str) -> str:
    """``P.plan.json``: the plan of the conversion that wrote ``P`` (``converters.record``)."""
    return prefix + PLAN_SUFFIX


def state_path(directory: str, latest_filename: str | None = None) -> str:
    """``DIR/checkpoint`` (or ``DIR/<latest_filename>``)."""
    return os.path.join(directory, STATE_FILENAME if latest_filename is None else latest_filename)


def state_lock_path(directory: str, latest_filename: str | None = None) -> str:
    """``DIR/.checkpoint.lock``: the lock held while a Saver updates ``DIR/checkpoint``
    (``bundle.temps.locked``). Hidden, persistent, never a checkpoint."""
    return os.path.join(
        directory, "." + os.path.basename(state_path("", latest_filename)) + LOCK_SUFFIX
    )


def checkpoint_prefix_of(path: str) -> str | None:
    """The prefix a file of a checkpoint belongs to (``P.index``, ``P.meta``, ``P.sha256``,
    ``P.plan.json``, ``P.data-*``), else None."""
    match = _FILE_OF_PREFIX.search(path)
    if match is None or match.start() == 0 or path[match.start() - 1] in "/" + os.sep:
        return None
    return path[: match.start()]


# -- temporaries -----------------------------------------------------------------------


@dataclass(frozen=True)
class TempName:
    """The parts of one of our temporary names: ``.<base>.tmp-<pid>-<tag><rest>``.

    ``base`` is the final name's basename without ``rest``; ``pid`` the writer's process id
    (informative only: pids repeat across hosts and containers, see ``fileio``).
    """

    base: str
    pid: int
    tag: str
    rest: str

    @property
    def group(self) -> str:
        """The name shared by every file of one write (``.<base>.tmp-<pid>-<tag>``)."""
        return f".{self.base}{TEMP_INFIX}{self.pid}-{self.tag}"


def new_tag() -> str:
    """A fresh 8-hex-digit tag for a temporary name."""
    return os.urandom(4).hex()


def temp_path(path: str, *, tag: str | None = None, pid: int | None = None) -> str:
    """A temporary name beside ``path`` (same directory, so the final rename is atomic)."""
    directory, base = os.path.split(path)
    owner = os.getpid() if pid is None else pid
    return os.path.join(directory, f".{base}{TEMP_INFIX}{owner}-{tag or new_tag()}")


def claim_lock_path(temp: str) -> str:
    """``<temp>.lock``: the lock file claiming the temporaries of one write (``bundle.temps``);
    itself a member of the write's group (``parse_temp`` reads ``rest=".lock"``)."""
    return temp + LOCK_SUFFIX


def parse_temp(name: str) -> TempName | None:
    """The parts of one of our temporaries (a basename), else None."""
    match = _TEMP.match(name)
    if match is None:
        return None
    return TempName(match["base"], int(match["pid"]), match["tag"], match["rest"])


def is_temp(name: str) -> bool:
    """Whether the basename ``name`` is a temporary of ours or of TensorFlow's BundleWriter."""
    return parse_temp(name) is not None or TF_TEMP_MARKER in name


_TF_PART = re.compile(r"^part-\d{5}-of-\d{5}(\.|$)")


def is_temp_path(path: str) -> bool:
    """Whether any component of ``path`` ('/'- or os.sep-separated) is a temporary, or the
    path is a part of a sharded save (``<prefix>_temp/part-00000-of-00002.index``)."""
    parts = [p for p in re.split(r"[/\\]", path) if p]
    if any(is_temp(p) for p in parts):
        return True
    return (
        len(parts) >= 2 and parts[-2].endswith(TF_PARTS_SUFFIX) and bool(_TF_PART.match(parts[-1]))
    )


# -- URLs ----------------------------------------------------------------------------------


def is_url(path: str) -> bool:
    """True for fsspec URLs (``s3://``, ``gs://``, ``memory://``); ``file://`` is a local path."""
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> str:
    """``file:///a/b`` -> ``/a/b``; other paths unchanged."""
    return path[len("file://") :] if path.startswith("file://") else path


def lexically(path: str) -> str:
    """``path`` with a ``..`` in its directory resolved as TensorFlow's file system resolves
    it, lexically (``io::CleanPath``): ``link/../ckpt/m`` is ``ckpt/m`` whatever ``link``
    points to. The last component is kept as it is: it is a name the Saver appends to
    (``a/..`` with a step saves ``a/..-3``). URLs and paths without ``..`` are unchanged."""
    if is_url(path) or os.pardir not in path.split(os.sep):
        return path
    directory, base = os.path.split(path)
    lexical = os.path.normpath(directory) if directory else ""
    return base if lexical in ("", os.curdir) else os.path.join(lexical, base)


def as_tensorflow_means(path: str, *, prefix: bool = True) -> str:
    """``path`` as TensorFlow's kernels will read it (``lexically``), for code that runs
    those kernels *and* its own file operations on one path (the Saver, ``restore_variables``):
    both must mean the same files (a save whose data went one way and whose renames and
    state file the other lost the checkpoint). Where the OS's reading of the directory is
    the same directory (no symlink on the way, the usual case) the caller's spelling is
    kept. ``prefix``: the last component is a name to append to, else a path that may be a
    directory (``restore``: ``a/..`` is read whole). The TF-free readers and converters do
    not call this: they read paths as the OS does."""
    if is_url(path) or os.pardir not in path.split(os.sep):
        return path
    directory, base = os.path.split(path)
    if not prefix and base in (os.curdir, os.pardir):  # a directory: read it whole
        directory, base = path, ""
    lexical = os.path.normpath(directory) if directory else ""
    try:
        if os.path.samefile(directory or ".", lexical or "."):
            return path
    except OSError:
        pass  # one of them does not exist (yet): TensorFlow's reading, for every file
    return lexically(path) if base else lexical
