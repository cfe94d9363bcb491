"""Issue 13, item 2: a conversion never rewrites its source, however the destination
is spelled (symlinked directory, ``a/../a``, hard links, symlinks, a bind mount),
even with ``overwrite=True``; and the aliasing rules themselves (device + inode)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from converters.api import tf1_to_tf2, tf2_to_tf1
from converters.cli import main
from converters.verify import verify
from legacy_saver.bundle import BundleWriter
from legacy_saver.bundle.aliasing import (
    file_id,
    find_same_file,
    is_inside,
    path_id,
    relation,
    same_file,
    same_path,
)
from legacy_saver.errors import CheckpointExistsError

REFUSED = "a conversion never rewrites its source, even with overwrite"


def _tf1(prefix: Path) -> None:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with BundleWriter(str(prefix)) as w:
        w.add("dense/kernel", np.arange(6, dtype=np.float32).reshape(3, 2))
        w.add("dense/kernel/Adam", np.ones((3, 2), np.float32))
        w.add("dense/kernel/Adam_1", np.full((3, 2), 2, np.float32))
        w.add("beta1_power", np.float32(0.9))


def _digest(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


@pytest.fixture
def src(tmp_path) -> Path:
    prefix = tmp_path / "real" / "model.ckpt"
    _tf1(prefix)
    return prefix


def _refused(src: Path, dst: str, **kw) -> None:
    before = _digest(src.parent)
    for overwrite in (False, True):
        with pytest.raises(CheckpointExistsError, match="never rewrites its source"):
            tf1_to_tf2(str(src), dst, overwrite=overwrite, optimizer="drop", **kw)
    assert _digest(src.parent) == before  # not a byte of the source changed


def test_symlinked_directory_reaches_the_same_prefix(src, tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    _refused(src, str(tmp_path / "link" / "model.ckpt"))
    _refused(src, str(tmp_path / "link" / "model.ckpt"), link=True)


def test_dot_dot_spellings_reach_the_same_prefix(src, tmp_path):
    _refused(src, str(tmp_path / "real" / ".." / "real" / "model.ckpt"))
    _refused(src, str(tmp_path / "real" / "." / "model.ckpt"))
    os.chdir(tmp_path / "real")
    _refused(src, "model.ckpt")


def test_dot_dot_after_a_symlink_climbs_the_links_target(src, tmp_path):
    """``link/../real`` with ``link -> real/sub`` is ``real/real``, not ``./real``: the
    kernel's reading; and ``other/../model.ckpt`` with ``other -> real/x`` is the source."""
    (tmp_path / "real" / "x").mkdir()
    (tmp_path / "other").symlink_to(tmp_path / "real" / "x", target_is_directory=True)
    _refused(src, str(tmp_path / "other" / ".." / "model.ckpt"))


def test_hard_linked_index_is_the_source(src, tmp_path):
    (tmp_path / "out").mkdir()
    os.link(str(src) + ".index", tmp_path / "out" / "copy.index")
    _refused(src, str(tmp_path / "out" / "copy"))


def test_symlinked_index_is_the_source(src, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "alias.index").symlink_to(str(src) + ".index")
    _refused(src, str(tmp_path / "out" / "alias"))


def test_hard_linked_data_shard_is_replaced_by_name_never_written_through(src, tmp_path):
    """A destination shard sharing the source shard's inode (what ``link=True`` makes) is
    replaced by rename: the conversion succeeds and the source's bytes stay the same."""
    dst = tmp_path / "out" / "model"
    tf1_to_tf2(str(src), str(dst), link=True)
    shard = str(src) + ".data-00000-of-00001"
    assert same_file(shard, str(dst) + ".data-00000-of-00002")  # + a shard for the graph
    before = _digest(src.parent)
    tf1_to_tf2(str(src), str(dst), overwrite=True, optimizer="drop")  # a copy this time
    tf1_to_tf2(str(src), str(dst), overwrite=True, link=True)  # and a link again
    assert _digest(src.parent) == before
    assert verify(str(src), str(dst)).ok


def test_bind_mount_of_the_source_directory(src, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    done = subprocess.run(["mount", "--bind", str(src.parent), str(mirror)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.decode().strip()}")
    try:
        assert path_id(mirror / "model.ckpt.index") == path_id(str(src) + ".index")
        _refused(src, str(mirror / "model.ckpt"))
        assert relation(mirror, src.parent) == "same"
    finally:
        subprocess.run(["umount", str(mirror)], check=False)


def test_other_verbs_refuse_too(src, tmp_path):
    tf2 = tmp_path / "tf2" / "ckpt"
    tf1_to_tf2(str(src), str(tf2))
    (tmp_path / "tf2link").symlink_to(tmp_path / "tf2", target_is_directory=True)
    with pytest.raises(CheckpointExistsError, match="never rewrites its source"):
        tf2_to_tf1(str(tf2), str(tmp_path / "tf2link" / "ckpt"), overwrite=True)
    with pytest.raises(CheckpointExistsError, match="never rewrites its source"):
        # the directory form resolves to the prefix it holds
        tf1_to_tf2(str(tmp_path / "real"), str(tmp_path / "real" / "model.ckpt"), overwrite=True)


def test_cli_convert_src_alias_overwrite_exits_1_and_keeps_the_source(src, tmp_path, capsys):
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    before = _digest(src.parent)
    argv = ["convert", str(src), str(tmp_path / "link" / "model.ckpt"), "--overwrite"]
    assert main([*argv, "--optimizer", "drop"]) == 1
    err = capsys.readouterr().err
    assert REFUSED in err and "Traceback" not in err and err.count("\n") == 1
    assert _digest(src.parent) == before


def test_writing_beside_the_source_is_fine(src, tmp_path):
    report = tf1_to_tf2(str(src), str(tmp_path / "real" / "model-tf2"))
    assert len(report.actions) == 4


# -- the aliasing rules ----------------------------------------------------------------


def test_file_identity_follows_links(tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b"x")
    os.link(a, tmp_path / "hard")
    (tmp_path / "soft").symlink_to(a)
    assert same_file(a, tmp_path / "hard") and same_file(a, tmp_path / "soft")
    assert not same_file(a, tmp_path / "missing") and file_id(tmp_path / "missing") is None
    (tmp_path / "b").write_bytes(b"x")
    assert not same_file(a, tmp_path / "b")  # equal bytes are not the same file
    assert find_same_file(tmp_path / "hard", [tmp_path / "b", a]) == str(a)


def test_paths_that_do_not_exist_yet_compare_by_directory_and_name(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "d", target_is_directory=True)
    assert same_path(tmp_path / "d" / "new", tmp_path / "l" / "new")
    assert same_path(tmp_path / "d" / "new", tmp_path / "d" / ".." / "d" / "new")
    assert not same_path(tmp_path / "d" / "new", tmp_path / "d" / "other")


def test_inside_and_relation(tmp_path):
    root = tmp_path / "root"
    (root / "sub" / "deep").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)
    assert is_inside(root / "sub" / "deep", root)
    assert is_inside(tmp_path / "alias" / "sub" / "not-yet", root)  # need not exist
    assert is_inside(root, tmp_path / "alias")
    assert not is_inside(tmp_path, root)
    assert not is_inside(root, tmp_path / "missing")
    assert relation(root, tmp_path / "alias") == "same"
    assert relation(tmp_path / "alias" / "sub", root) == "a inside b"
    assert relation(root, root / "sub") == "b inside a"
    (tmp_path / "apart").mkdir()
    assert relation(root, tmp_path / "apart") is None


def test_a_failed_link_leaves_nothing_and_the_old_destination_whole(src, tmp_path, monkeypatch):
    import converters.execute as execute

    dst = tmp_path / "out" / "model"
    tf1_to_tf2(str(src), str(dst), optimizer="drop")
    before = _digest(dst.parent)

    def broken(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(execute, "publish_prefix", broken)
    with pytest.raises(OSError, match="simulated"):
        tf1_to_tf2(str(src), str(dst), link=True, overwrite=True)
    assert _digest(dst.parent) == before  # no temporaries, the old checkpoint untouched
    assert verify(str(src), str(dst)).ok
