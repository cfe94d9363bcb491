"""``BundleWriter``'s destination rules: an existing checkpoint is refused unless
``overwrite=True``, before anything is written; names are exact."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from legacy_saver.bundle import BundleWriter, load_checkpoint
from legacy_saver.errors import CheckpointError, CheckpointExistsError


def _write(prefix: Path | str, value: float, **kwargs: object) -> None:
    with BundleWriter(prefix, fsync=False, **kwargs) as w:  # type: ignore[arg-type]
        w.add("w", np.full(3, value, np.float32))


def _listing(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def test_existing_v2_checkpoint_is_refused_and_untouched(tmp_path: Path) -> None:
    _write(tmp_path / "ckpt", 1.0)
    before = _listing(tmp_path)
    with pytest.raises(CheckpointExistsError) as info:
        BundleWriter(tmp_path / "ckpt")
    message = str(info.value)
    assert message == (
        f"{tmp_path / 'ckpt'}.index already exists; pass overwrite=True (--overwrite on the "
        "command line) to replace it"
    )
    assert isinstance(info.value, CheckpointError) and isinstance(info.value, FileExistsError)
    assert _listing(tmp_path) == before  # not even a temporary was created


@pytest.mark.parametrize("v1_name", ["ckpt", "ckpt-00000-of-00002"])
def test_existing_v1_file_or_shard_is_refused(tmp_path: Path, v1_name: str) -> None:
    (tmp_path / v1_name).write_bytes(b"a V1 table would be here")
    with pytest.raises(CheckpointExistsError, match=f"{v1_name} already exists"):
        BundleWriter(tmp_path / "ckpt")


def test_overwrite_replaces(tmp_path: Path) -> None:
    _write(tmp_path / "ckpt", 1.0)
    _write(tmp_path / "ckpt", 2.0, overwrite=True)
    assert (load_checkpoint(tmp_path / "ckpt").get_tensor("w") == 2.0).all()


def test_refusal_creates_no_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub" / "ckpt", 1.0)
    with pytest.raises(CheckpointExistsError):
        BundleWriter(tmp_path / "sub" / "ckpt", num_shards=3)
    assert sorted(os.listdir(tmp_path / "sub")) == ["ckpt.data-00000-of-00001", "ckpt.index"]


@pytest.mark.parametrize("odd", ["ck*", "ck?pt", "[c]kpt", "ckpt\nx", "..ckpt"])
def test_names_are_exact_not_patterns(tmp_path: Path, odd: str) -> None:
    _write(tmp_path / "ckpt", 1.0)
    _write(tmp_path / odd, 2.0)  # nothing named exactly `odd` exists: not refused
    assert (load_checkpoint(str(tmp_path / odd)).get_tensor("w") == 2.0).all()
    assert (load_checkpoint(tmp_path / "ckpt").get_tensor("w") == 1.0).all()


def test_a_directory_named_like_the_prefix_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    _write(tmp_path / "ckpt", 1.0)  # writes ckpt.index beside the directory
    assert (tmp_path / "ckpt.index").is_file()
