"""An optional sha256 manifest beside a checkpoint: integrity beyond crc32c.

The bundle format checksums each tensor (crc32c) and each ``.index`` block, but
a crc only catches accidents: anyone can edit a file and recompute it, and the
``.meta`` graph, which is a program that ``import_meta_graph`` runs, has no
checksum at all. ``write_digest`` records the sha256 and size of every file of a
checkpoint (``.meta`` if present, ``.index``, every data shard) in
``<prefix>.sha256``; ``verify_digest`` recomputes them and names the first file
that differs. Keep the manifest (or just its own sha256) somewhere the attacker
cannot write, and it detects tampering, not only bit rot.

The manifest is JSON with file names relative to the checkpoint's directory, so
the directory can be moved::

    {"format": "legacy-saver-digest", "version": 1, "algorithm": "sha256",
     "files": {"model.ckpt-100.index": {"size": 1234, "sha256": "9f86..."}, ...}}

It is written atomically (temporary file, fsync, rename, fsync of the
directory). This module never imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from ..errors import CheckpointNotFoundError, CorruptCheckpointError
from .fileio import open_regular, read_regular, write_bytes_atomic
from .naming import DIGEST_SUFFIX, META_SUFFIX, data_path, digest_path, index_path
from .reader import BundleReader

__all__ = ["DIGEST_SUFFIX", "digest_path", "write_digest", "verify_digest"]

FORMAT_NAME = "legacy-saver-digest"
FORMAT_VERSION = 1
CHUNK_BYTES = 8 << 20  # hash in 8 MiB reads: constant memory for any shard size
MAX_MANIFEST_BYTES = 16 << 20  # a manifest lists a few files; refuse to slurp more


def checkpoint_files(prefix: str | os.PathLike[str]) -> list[str]:
    """The files a digest covers: ``.meta`` when present, ``.index``, every shard.

    Raises:
        CheckpointNotFoundError: ``prefix.index`` or a data shard is missing.
        CorruptCheckpointError: the ``.index`` is unreadable.
    """
    prefix = os.fspath(prefix)
    with BundleReader(prefix) as reader:  # reads only the index header and keys
        shards = [data_path(prefix, i, reader.num_shards) for i in range(reader.num_shards)]
    files = [prefix + META_SUFFIX] if os.path.exists(prefix + META_SUFFIX) else []
    files += [index_path(prefix), *shards]
    for path in files:
        if not os.path.exists(path):  # special files exist: _sha256 refuses them by name
            raise CheckpointNotFoundError(f"{path} is missing: cannot digest {prefix}")
    return files


def _sha256(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open_regular(path) as f:  # a FIFO or device is refused, not read forever
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def write_digest(prefix: str | os.PathLike[str], *, fsync: bool = True) -> str:
    """Hash every file of the checkpoint at ``prefix`` into ``<prefix>.sha256``.

    Args:
        prefix: a finished V2 checkpoint prefix.
        fsync: make the manifest durable before returning.

    Returns:
        The manifest's path.
    """
    prefix = os.fspath(prefix)
    entries = {}
    for path in checkpoint_files(prefix):
        sha, size = _sha256(path)
        entries[os.path.basename(path)] = {"size": size, "sha256": sha}
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "algorithm": "sha256",
        "files": entries,
    }
    out = digest_path(prefix)
    data = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    write_bytes_atomic(out, data, fsync=fsync)
    return out


def verify_digest(prefix: str | os.PathLike[str]) -> None:
    """Check every file of the checkpoint against ``<prefix>.sha256``.

    Raises:
        CheckpointNotFoundError: the manifest, or a file it lists, is missing.
        CorruptCheckpointError: a file's size or sha256 differs (the message names
            it), a ``.meta`` exists that the manifest does not cover, or the
            manifest itself is malformed.
    """
    prefix = os.fspath(prefix)
    directory = os.path.dirname(prefix)
    entries = _read_manifest(digest_path(prefix))
    meta = prefix + META_SUFFIX
    if os.path.exists(meta) and os.path.basename(meta) not in entries:
        raise CorruptCheckpointError(
            f"{meta} is not covered by {digest_path(prefix)} (was it added after the save?)"
        )
    for name, want in entries.items():
        path = os.path.join(directory, name)
        if not os.path.exists(path):  # a FIFO or device exists: _sha256 refuses it by name
            raise CheckpointNotFoundError(f"{path} is missing (listed in {digest_path(prefix)})")
        sha, size = _sha256(path)
        if size != want["size"] or sha != want["sha256"]:
            raise CorruptCheckpointError(
                f"{path} does not match {digest_path(prefix)}: expected {want['size']} bytes "
                f"with sha256 {want['sha256'][:16]}…, found {size} bytes with {sha[:16]}…"
            )


def _read_manifest(path: str) -> dict[str, dict[str, Any]]:
    if not os.path.exists(path):
        raise CheckpointNotFoundError(f"{path} does not exist (no digest was written)")
    raw = read_regular(path, MAX_MANIFEST_BYTES)  # bounded; FIFOs and devices refused
    try:
        manifest = json.loads(raw.decode("utf-8"))
        if manifest["format"] != FORMAT_NAME or manifest["algorithm"] != "sha256":
            raise ValueError(f"format {manifest['format']!r}, algorithm {manifest['algorithm']!r}")
        if manifest["version"] > FORMAT_VERSION:
            raise ValueError(f"version {manifest['version']} is newer than {FORMAT_VERSION}")
        entries = manifest["files"]
        for name, want in entries.items():
            if (
                os.path.basename(name) != name
                or not isinstance(want["size"], int)
                or len(want["sha256"]) != 64
            ):
                raise ValueError(f"bad entry {name!r}")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptCheckpointError(f"{path} is not a valid digest manifest: {exc}") from None
    if not any(n.endswith(".index") for n in entries):
        raise CorruptCheckpointError(f"{path} lists no .index file")
    return dict(entries)
