"""The output's files: their names, the refusal to overwrite, and the atomic commit.

One file: ``DST`` (``model.safetensors``). Sharded (Hugging Face's convention):
``model-00001-of-00003.safetensors`` ... beside ``DST`` plus
``model.safetensors.index.json`` (``{"metadata": {"total_size": ...},
"weight_map": {tensor: file}}``). A ``DST`` that is a directory (or ends in ``/``)
means ``DST/model.safetensors``.

Every file is written under a temporary name (``naming.temp_path``) in its own
directory, fsynced, and only then renamed into place; for shards the index JSON
goes last, so a loader that starts from the index never sees a partial set
(``commit``). Anything failing before that removes the temporaries and
whatever was already renamed, and puts back the files of an earlier export it had
replaced (kept under temporary names until the new export is whole). Replacing an
earlier export (``overwrite``) also removes the files of it that the new one does not
rewrite, by exact name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass

from legacy_saver.bundle.fileio import (
    EarlyFlush,
    copy_file_atomic,
    fsync_dir,
    write_bytes_atomic,
    write_direct,
)
from legacy_saver.bundle.naming import temp_path
from legacy_saver.errors import CheckpointExistsError

SUFFIX = ".safetensors"
INDEX_SUFFIX = ".safetensors.index.json"  # transformers' SAFE_WEIGHTS_INDEX_NAME
DEFAULT_NAME = "model.safetensors"
SHARD_DIGITS = 5  # transformers: "model-00001-of-00002.safetensors"
_SHARD = re.compile(r"^(?P<stem>.+)-\d{5}-of-\d{5}\.safetensors$")


@dataclass(frozen=True)
class Destination:
    """The file names one export writes (``shard_names`` when sharded)."""

    single: str
    index: str
    stem: str

    def shard_names(self, count: int) -> list[str]:
        if count == 1:
            return [self.single]
        return [f"{self.stem}-{i:0{SHARD_DIGITS}d}-of-{count:0{SHARD_DIGITS}d}{SUFFIX}"
                for i in range(1, count + 1)]  # fmt: skip


def destination(dst: str) -> Destination:
    if dst.endswith(("/", os.sep)) or os.path.isdir(dst):
        dst = os.path.join(dst, DEFAULT_NAME)
    stem = dst.removesuffix(SUFFIX)
    return Destination(dst, stem + INDEX_SUFFIX, stem)


def same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_destination(dest: Destination, names: list[str], sources: list[str],
                      overwrite: bool) -> None:  # fmt: skip
    """Refuse to write over the source ever, and over an earlier export unless asked."""
    for path in [*names, dest.index, dest.single]:
        for src in sources:
            if same_file(path, src):
                raise CheckpointExistsError(f"{path} is a file of the source checkpoint ({src})")
    for path in [dest.index, dest.single, *names]:  # only files are ever replaced
        if os.path.lexists(path) and not (os.path.isfile(path) or os.path.islink(path)):
            raise CheckpointExistsError(f"{path} exists and is not a regular file; it is never "
                                        "replaced")  # fmt: skip
    if overwrite:
        return
    for path in [dest.index, dest.single, *names]:
        if os.path.lexists(path):
            raise CheckpointExistsError(f"{path} already exists; pass overwrite=True "
                                        "(--overwrite) to replace it")  # fmt: skip


class OutputFile:
    """One ``.safetensors`` file being written under its temporary name."""

    def __init__(self, final: str, header: bytes, fsync: bool) -> None:
        self.final = final
        self.temp = temp_path(final)
        self.data_start = len(header)
        self._fsync = fsync
        self._early = EarlyFlush() if fsync else None
        self.file = open(self.temp, "xb")  # noqa: SIM115 (closed by finish/discard)
        self.position = 0  # bytes written
        self.write(header)

    def write(self, chunk: memoryview | bytes) -> None:
        write_direct(self.file, chunk)  # in the file now: the check thread reads it
        self.wrote(len(memoryview(chunk).cast("B")))

    def wrote(self, n: int) -> None:
        """``n`` more bytes are in the file (written here or copied by the kernel)."""
        self.position += n
        if self._early is not None:
            self._early.wrote(self.file.fileno(), self.position)

    def finish(self) -> None:
        if self._early is not None:
            self._early.wait()
        self.file.flush()
        if self._fsync:
            os.fsync(self.file.fileno())
        self.file.close()

    def discard(self) -> None:
        if self._early is not None:
            self._early.wait()
        self.file.close()
        with contextlib.suppress(OSError):
            os.remove(self.temp)


def index_json(weight_map: dict[str, str], total_size: int, metadata: dict[str, str]) -> bytes:
    body = {"metadata": {**metadata, "total_size": total_size},
            "weight_map": {k: weight_map[k] for k in sorted(weight_map)}}  # fmt: skip
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def commit(files: list[OutputFile], dest: Destination, index: bytes | None, fsync: bool) -> None:
    """Rename every finished file into place, then write the index (if any). Then
    remove stale files of an earlier export.

    An earlier export at these names is kept until the new one is whole: every file
    about to be replaced (its shards, the single file, the index) is first kept under
    a temporary name (a hard link, else a copy), and if anything fails the files
    renamed so far are removed and the kept ones put back, so a failed overwrite
    leaves the earlier export as it was. The old index is retired before the first
    shard is renamed (a loader never sees the old index over new shards)."""
    stale = _earlier_export(dest) - {f.final for f in files}
    kept: dict[str, str] = {}  # replaced name -> the earlier file, kept under a temp name
    renamed: list[str] = []
    try:
        for f in files:
            f.finish()
        for path in [*(f.final for f in files), dest.index]:
            if os.path.lexists(path):
                kept[path] = _keep(path, fsync)
        if os.path.lexists(dest.index):  # retire the old commit point first
            os.remove(dest.index)
        for f in files:
            os.replace(f.temp, f.final)
            renamed.append(f.final)
        if index is not None:
            write_bytes_atomic(dest.index, index, fsync=fsync)
        elif fsync:
            fsync_dir(os.path.dirname(dest.single))
    except BaseException:
        _roll_back(files, renamed, kept, dest.index)
        raise
    for path in [*kept.values(), *stale]:
        with contextlib.suppress(OSError):
            os.remove(path)


def _keep(path: str, fsync: bool) -> str:
    """A second name for the file at ``path`` (a temporary): a hard link, or where
    the filesystem has none, a copy."""
    kept = temp_path(path)
    try:
        os.link(path, kept, follow_symlinks=False)
    except OSError:
        copy_file_atomic(path, kept, fsync=fsync)
    return kept


def _roll_back(files: list[OutputFile], renamed: list[str], kept: dict[str, str],
               index: str) -> None:  # fmt: skip
    """Undo a failed ``commit``: the new files go, the earlier export comes back (a kept
    file that cannot be put back stays under its temporary name, never deleted)."""
    for f in files:
        with contextlib.suppress(OSError):
            os.remove(f.temp)
    for path in renamed:
        if path not in kept:
            with contextlib.suppress(OSError):
                os.remove(path)
    for path, earlier in kept.items():
        with contextlib.suppress(OSError):
            if path in renamed or path == index:
                os.replace(earlier, path)
            else:  # never replaced: the kept link is not needed
                os.remove(earlier)


def _earlier_export(dest: Destination) -> set[str]:
    """Files of an export already at ``dest``: the single file, and the shards its
    index names that are shards of this stem in this directory (an allowlist:
    an index naming ``../x`` or another stem removes nothing)."""
    found = {dest.single} if os.path.lexists(dest.single) else set()
    try:
        with open(dest.index, encoding="utf-8") as f:
            weight_map = json.load(f).get("weight_map", {})
    except (OSError, ValueError, AttributeError):
        return found
    directory = os.path.dirname(dest.single)
    stem = os.path.basename(dest.stem)
    for name in set(weight_map.values()) if isinstance(weight_map, dict) else ():
        match = _SHARD.match(name) if isinstance(name, str) else None
        if match and match["stem"] == stem and "/" not in name and os.sep not in name:
            found.add(os.path.join(directory, name))
    return found
