"""Special files where a checkpoint file should be: a FIFO as ``.index``, data shard, V1
file, state file or digest manifest; an ``.index`` or shard symlinked to ``/dev/zero`` or
``/dev/urandom``; a directory. Every read opens the file without blocking and checks,
with ``fstat`` after opening, that it is a regular file (``fileio.open_regular``): a
typed error naming the file, never a hang, never a read to EOF of an endless device.
Each case runs under a 10 s alarm."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from legacy_saver import load_checkpoint
from legacy_saver.bundle import BundleWriter, fileio
from legacy_saver.errors import CheckpointError, CorruptCheckpointError, StateFileError

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")


@contextlib.contextmanager
def alarm(seconds: int = 10) -> Iterator[None]:
    def hang(signum: int, frame: object) -> None:
        raise TimeoutError(f"hung for {seconds} s")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _checkpoint(prefix: Path) -> None:
    with BundleWriter(prefix, fsync=False) as w:
        w.add("w", np.arange(4, dtype=np.float32))


def _swap(path: Path, kind: str) -> None:
    """Replace ``path`` by a FIFO, a symlink to a device, or a directory."""
    os.remove(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        os.mkdir(path)
    else:
        os.symlink(kind, path)


SPECIAL = ["fifo", "/dev/zero", "/dev/urandom", "dir"]
KIND = {"fifo": "a FIFO", "/dev/zero": "a character device",
        "/dev/urandom": "a character device", "dir": "a directory"}  # fmt: skip


@pytest.mark.parametrize("kind", SPECIAL)
def test_special_index_is_refused(tmp_path: Path, kind: str) -> None:
    _checkpoint(tmp_path / "ckpt")
    index = tmp_path / "ckpt.index"
    _swap(index, kind)
    with alarm(), pytest.raises(CorruptCheckpointError) as info:
        load_checkpoint(tmp_path / "ckpt")
    assert str(info.value) == f"{index} is {KIND[kind]}, not a regular file: not read"


@pytest.mark.parametrize("kind", SPECIAL)
def test_special_data_shard_is_refused_at_read(tmp_path: Path, kind: str) -> None:
    _checkpoint(tmp_path / "ckpt")
    shard = tmp_path / "ckpt.data-00000-of-00001"
    _swap(shard, kind)
    with alarm():
        reader = load_checkpoint(tmp_path / "ckpt")  # the index alone is fine
        assert reader.keys() == ["w"]
        with pytest.raises(CorruptCheckpointError, match=f"{shard} is {KIND[kind]}"):
            reader.get_tensor("w")


def test_fifo_data_shard_in_inspect_tensor_and_diff(tmp_path: Path, capsys) -> None:
    from converters.cli import main

    _checkpoint(tmp_path / "a")
    _checkpoint(tmp_path / "b")
    _swap(tmp_path / "b.data-00000-of-00001", "fifo")
    with alarm():
        assert main(["inspect", str(tmp_path / "b"), "--tensor", "w"]) == 1
        assert main(["diff", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert "b.data-00000-of-00001 is a FIFO" in err and "Traceback" not in err


def test_fifo_data_shard_in_a_conversion(tmp_path: Path) -> None:
    from converters import tf1_to_tf2

    _checkpoint(tmp_path / "src")
    _swap(tmp_path / "src.data-00000-of-00001", "fifo")
    with alarm(), pytest.raises(CorruptCheckpointError, match="is a FIFO"):
        tf1_to_tf2(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert not (tmp_path / "dst.index").exists()


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "dir"])
def test_special_state_file_is_refused(tmp_path: Path, kind: str) -> None:
    from legacy_saver.state import latest_checkpoint, update_checkpoint_state

    _checkpoint(tmp_path / "ckpt")
    update_checkpoint_state(str(tmp_path), str(tmp_path / "ckpt"))
    _swap(tmp_path / "checkpoint", kind)
    with alarm(), pytest.raises(StateFileError, match=f"checkpoint is {KIND[kind]}"):
        latest_checkpoint(str(tmp_path))


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_special_v1_file_is_not_a_checkpoint(tmp_path: Path, kind: str) -> None:
    (tmp_path / "model").write_bytes(b"x")
    _swap(tmp_path / "model", kind)
    with alarm(), pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "model")


@pytest.mark.parametrize("which", ["manifest", "shard"])
def test_special_files_under_a_digest(tmp_path: Path, which: str) -> None:
    from legacy_saver.digest import verify_digest, write_digest

    _checkpoint(tmp_path / "ckpt")
    write_digest(str(tmp_path / "ckpt"), fsync=False)
    target = "ckpt.sha256" if which == "manifest" else "ckpt.data-00000-of-00001"
    _swap(tmp_path / target, "fifo")
    with alarm(), pytest.raises(CorruptCheckpointError, match=f"{target} is a FIFO"):
        verify_digest(str(tmp_path / "ckpt"))


def test_a_swap_between_stat_and_open_is_caught(tmp_path: Path, monkeypatch) -> None:
    """The index is a regular file when looked at, a FIFO when opened: the check runs on
    the open descriptor, so it still refuses."""
    _checkpoint(tmp_path / "ckpt")
    index = tmp_path / "ckpt.index"
    real_open = os.open

    def swapping_open(path: str, flags: int, *args: object) -> int:
        if os.fspath(path) == str(index) and not os.path.exists(str(index) + ".swapped"):
            (tmp_path / "ckpt.index.swapped").touch()
            _swap(index, "fifo")
        return real_open(path, flags, *args)

    monkeypatch.setattr(fileio.os, "open", swapping_open)
    assert os.path.isfile(index)
    with alarm(), pytest.raises(CorruptCheckpointError, match="ckpt.index is a FIFO"):
        load_checkpoint(tmp_path / "ckpt")


def test_read_regular_is_bounded_by_the_size_at_open(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert fileio.read_regular(str(path)) == b"abc"
    with pytest.raises(CorruptCheckpointError, match="is 3 bytes, more than 2 allowed"):
        fileio.read_regular(str(path), max_bytes=2)
