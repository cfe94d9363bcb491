"""The readers' public API: one ``TensorReader`` protocol for V2 and V1, ``files()`` with
sizes, ``open_data`` (bounds-checked, for byte copies), and a V1 reader that refuses a
V2 index instead of reading "0 tensors"."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from legacy_saver.bundle import BundleReader, BundleWriter, V1Reader, load_checkpoint
from legacy_saver.bundle.source import CheckpointFile, TensorReader
from legacy_saver.errors import CheckpointNotFoundError, CorruptCheckpointError

V1_FILE = "serving_bad_half_plus_two/00000123/export"  # a real V1 checkpoint (realdata)


def _v2(prefix: Path, shards: int = 2) -> None:
    with BundleWriter(prefix, num_shards=shards, fsync=False) as w:
        w.add("a", np.arange(6, dtype=np.float32).reshape(2, 3), shard=0)
        w.add("b", np.array([b"x", b"yz"], dtype=object), shard=shards - 1)


def _check_protocol(reader: TensorReader) -> None:
    for key in reader.keys():
        assert key in reader
        value = reader.get_tensor(key)
        assert tuple(value.shape) == reader.shape(key)
        assert reader.dtype(key).numpy == value.dtype or value.dtype == object


def test_both_readers_implement_the_protocol(tmp_path: Path, realdata: Path) -> None:
    _v2(tmp_path / "c")
    v2: TensorReader = BundleReader(tmp_path / "c")
    v1: TensorReader = V1Reader([str(realdata / V1_FILE)])
    for reader in (v2, v1):
        _check_protocol(reader)
        reader.close()


def test_files_lists_paths_and_sizes(tmp_path: Path, realdata: Path) -> None:
    _v2(tmp_path / "c")
    reader = load_checkpoint(tmp_path / "c")
    prefix = str(tmp_path / "c")
    assert reader.files() == [
        CheckpointFile(p, os.path.getsize(p))
        for p in (prefix + ".index", prefix + ".data-00000-of-00002",
                  prefix + ".data-00001-of-00002")
    ]  # fmt: skip
    os.remove(prefix + ".data-00001-of-00002")
    assert load_checkpoint(prefix).files()[-1] == CheckpointFile(
        prefix + ".data-00001-of-00002", None
    )
    v1 = load_checkpoint(realdata / V1_FILE)
    assert v1.files() == [CheckpointFile(str(realdata / V1_FILE),
                                         os.path.getsize(realdata / V1_FILE))]  # fmt: skip


def test_open_data_is_bounds_checked_and_positioned_reads_work(tmp_path: Path) -> None:
    _v2(tmp_path / "c", shards=1)
    reader = load_checkpoint(tmp_path / "c").bundle
    assert reader is not None
    entry = reader.entry("a")
    f = reader.open_data(entry)
    assert os.pread(f.fileno(), entry.size, entry.offset) == np.arange(6, dtype="<f4").tobytes()
    data = f"{tmp_path / 'c'}.data-00000-of-00001"
    with open(data, "r+b") as g:
        g.truncate(entry.offset + entry.size - 1)
    fresh = load_checkpoint(tmp_path / "c").bundle
    assert fresh is not None
    with pytest.raises(CorruptCheckpointError, match=r"is truncated: tensor 'a' needs bytes"):
        fresh.open_data(fresh.entry("a"))
    os.remove(data)
    gone = load_checkpoint(tmp_path / "c").bundle
    assert gone is not None
    with pytest.raises(CheckpointNotFoundError, match="tensor 'a' is stored there"):
        gone.open_data(gone.entry("a"))


@pytest.mark.parametrize("name", ["c.index", "renamed"])
def test_v1_reader_refuses_a_v2_index(tmp_path: Path, name: str) -> None:
    _v2(tmp_path / "c")
    path = tmp_path / name
    if name != "c.index":
        shutil.copy(f"{tmp_path / 'c'}.index", path)
    with pytest.raises(CorruptCheckpointError) as info:
        V1Reader([str(path)])
    assert str(info.value) == (
        f"{path} is corrupt: it is a V2 index (its header entry is a BundleHeaderProto with "
        "2 shard(s)), not a V1 checkpoint: open its prefix instead"
    )


def test_v1_reader_refuses_a_table_with_name_keys(tmp_path: Path) -> None:
    """A table with V1 metadata but a non-slice key is not a V1 checkpoint either."""
    from legacy_saver.bundle.protos import SavedTensorSlices
    from legacy_saver.bundle.table import TableBuilder

    meta = SavedTensorSlices()
    meta.meta.versions.producer = 1
    with open(tmp_path / "t", "wb") as f:
        table = TableBuilder(f)
        table.add(b"", meta.SerializeToString())
        table.add(b"plain_name", b"")
        table.finish()
    with pytest.raises(CorruptCheckpointError, match="key b'plain_name' is not a V1 slice key"):
        V1Reader([str(tmp_path / "t")])
