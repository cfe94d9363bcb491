"""``legacy_saver.digest``: a sha256 manifest over .meta, .index and data shards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from legacy_saver import BundleWriter, CheckpointNotFoundError, CorruptCheckpointError
from legacy_saver.digest import digest_path, verify_digest, write_digest


@pytest.fixture
def ckpt(tmp_path):
    prefix = str(tmp_path / "model.ckpt-7")
    with BundleWriter(prefix, num_shards=2, fsync=False) as w:
        w.add("a", np.arange(10, dtype=np.float32), shard=0)
        w.add("b", np.arange(6, dtype=np.int64).reshape(2, 3), shard=1)
    with open(prefix + ".meta", "wb") as f:
        f.write(b"\x0a\x04meta graph bytes")
    return prefix


def _files(prefix):
    d, base = os.path.split(prefix)
    return sorted(
        os.path.join(d, n)
        for n in os.listdir(d)
        if n.startswith(base + ".") and not n.endswith(".sha256")
    )


def test_manifest_lists_every_file_and_verifies(ckpt):
    path = write_digest(ckpt)
    assert path == digest_path(ckpt) == ckpt + ".sha256"
    with open(path) as f:
        manifest = json.load(f)
    assert sorted(manifest["files"]) == sorted(os.path.basename(p) for p in _files(ckpt))
    assert len(manifest["files"]) == 4  # .meta, .index, 2 shards
    verify_digest(ckpt)


def test_a_flipped_byte_in_any_file_is_named(ckpt):
    write_digest(ckpt)
    for path in _files(ckpt):
        with open(path, "r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(bytes([first[0] ^ 0x01]))
        with pytest.raises(
            CorruptCheckpointError, match=f"{os.path.basename(path)} does not match"
        ):
            verify_digest(ckpt)
        with open(path, "r+b") as f:
            f.write(first)
        verify_digest(ckpt)


def test_tampered_meta_with_recomputed_nothing_is_detected(ckpt):
    """The .meta has no checksum of its own: the digest is its only protection."""
    write_digest(ckpt)
    with open(ckpt + ".meta", "ab") as f:
        f.write(b"\x12\x08WriteFile")
    with pytest.raises(CorruptCheckpointError, match=r"model\.ckpt-7\.meta does not match"):
        verify_digest(ckpt)


def test_meta_added_after_the_digest_is_refused(ckpt):
    os.rename(ckpt + ".meta", ckpt + ".hidden")
    write_digest(ckpt)
    os.rename(ckpt + ".hidden", ckpt + ".meta")
    with pytest.raises(CorruptCheckpointError, match="not covered"):
        verify_digest(ckpt)


def test_missing_file_and_missing_manifest(ckpt):
    with pytest.raises(CheckpointNotFoundError, match=r"\.sha256 does not exist"):
        verify_digest(ckpt)
    write_digest(ckpt)
    os.remove(ckpt + ".data-00001-of-00002")
    with pytest.raises(CheckpointNotFoundError, match="data-00001-of-00002 is missing"):
        verify_digest(ckpt)
    with pytest.raises(CheckpointNotFoundError, match="data-00001-of-00002 is missing"):
        write_digest(ckpt)


@pytest.mark.parametrize(
    "manifest",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": "other"}',
        b'{"format": "legacy-saver-digest", "version": 1, "algorithm": "md5", "files": {}}',
        b'{"format": "legacy-saver-digest", "version": 9, "algorithm": "sha256", "files": {}}',
        b'{"format": "legacy-saver-digest", "version": 1, "algorithm": "sha256", "files": {}}',
        b'{"format": "legacy-saver-digest", "version": 1, "algorithm": "sha256", '
        b'"files": {"../x.index": {"size": 1, "sha256": "' + b"0" * 64 + b'"}}}',
    ],
)
def test_malformed_manifest_is_corrupt(ckpt, manifest):
    with open(digest_path(ckpt), "wb") as f:
        f.write(manifest)
    with pytest.raises(CorruptCheckpointError, match=r"sha256"):
        verify_digest(ckpt)


def test_directory_can_move(ckpt, tmp_path):
    write_digest(ckpt)
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    shutil.copytree(tmp_path, moved)
    verify_digest(str(moved / "model.ckpt-7"))


def test_digest_is_tensorflow_free():
    code = "import sys, legacy_saver.digest; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
