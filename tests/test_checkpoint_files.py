"""``checkpoint_exists``, ``get_checkpoint_mtimes``, ``remove_checkpoint``, ours and TF's."""

from __future__ import annotations

import os

import pytest

from legacy_saver.state import (
    checkpoint_exists,
    get_checkpoint_mtimes,
    remove_checkpoint,
)
from tests.helpers.fake_files import fake_v1 as _v1
from tests.helpers.fake_files import fake_v2 as _v2

# A warning nobody asked for is a bug: every expected one is caught with pytest.warns.
pytestmark = pytest.mark.filterwarnings("error::legacy_saver.state.StateFileWarning")


# --- checkpoint files ------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    _v2(tmp_path / "model.ckpt-1")
    _v2(tmp_path / "model.ckpt-10", shards=2)
    (tmp_path / "model.ckpt-1.meta").write_bytes(b"m")
    (tmp_path / "model.ckpt-10.meta").write_bytes(b"m")
    _v1(tmp_path / "v1.ckpt")
    _v1(tmp_path / "v1s-00000-of-00002")
    _v1(tmp_path / "v1s-00001-of-00002")
    (tmp_path / "v1s.meta").write_bytes(b"m")
    (tmp_path / "adir").mkdir()
    return tmp_path


EXISTS = {
    "model.ckpt-1": True, "model.ckpt-10": True, "model.ckpt-2": False, "model.ckpt": False,
    "v1.ckpt": True, "v1s-?????-of-00002": True, "v1s-00001-of-00002": True,
    # never globs (TF globs these): a pattern means a file of that very name
    "model.ckpt-1?": False, "model.ckpt-*": False, "v1.ck*": False, "nope*": False,
}  # fmt: skip


def test_checkpoint_exists(files):
    for name, expected in EXISTS.items():
        assert checkpoint_exists(files / name) is expected, name
    assert checkpoint_exists(files / "v1s")  # a bare V1 prefix finds its shards (TF: no)
    assert not checkpoint_exists(files / "adir")  # a directory is no checkpoint (TF: yes)


def test_get_checkpoint_mtimes(files):
    os.utime(files / "model.ckpt-10.index", ns=(0, 1_700_000_000_250_000_000))
    os.utime(files / "v1.ckpt", ns=(0, 1_600_000_000_000_000_000))
    names = ["model.ckpt-10", "model.ckpt-2", "v1.ckpt"]
    assert get_checkpoint_mtimes([files / n for n in names]) == [1_700_000_000.25, 1.6e9]


REMOVED = {  # (prefix, format version): the files it removes
    ("model.ckpt-1", 2): {f"model.ckpt-1.{x}" for x in ("index", "data-00000-of-00001", "meta")},
    ("model.ckpt-10", 2): {
        f"model.ckpt-10.{x}"
        for x in ("index", "data-00000-of-00002", "data-00001-of-00002", "meta")
    },
    ("v1.ckpt", 1): {"v1.ckpt"},
    ("v1s-?????-of-00002", 1): {"v1s-00000-of-00002", "v1s-00001-of-00002", "v1s.meta"},
    ("missing", 2): set(),
}


@pytest.mark.parametrize("prefix, version", REMOVED, ids=[p for p, _ in REMOVED])
def test_remove_checkpoint(files, prefix, version):
    before = set(os.listdir(files))
    removed = remove_checkpoint(files / prefix, version)
    after = set(os.listdir(files))
    assert before - after == REMOVED[prefix, version]
    assert after <= before  # nothing left behind (the deletion's temporaries)
    assert {os.path.basename(p) for p in removed} == REMOVED[prefix, version]


def test_remove_checkpoint_with_a_name_too_long_for_a_temporary(tmp_path):
    base = "m" * (255 - len(".data-00000-of-00001"))  # the longest name TensorFlow can save
    _v2(tmp_path / base)
    (tmp_path / f"{base}.meta").write_bytes(b"m")
    removed = remove_checkpoint(tmp_path / base)
    assert os.listdir(tmp_path) == []
    assert os.path.basename(removed[0]) == f"{base}.index"  # the checkpoint goes first


def test_remove_checkpoint_takes_the_index_first(files, monkeypatch):
    """Whatever happens after the first step, no index is left whose data is gone."""
    from legacy_saver.bundle import files as module

    seen = []
    real = os.rename
    monkeypatch.setattr(module.os, "rename", lambda a, b: (seen.append(a), real(a, b))[1])
    remove_checkpoint(files / "model.ckpt-10")
    assert seen[0] == str(files / "model.ckpt-10.index")
    assert not checkpoint_exists(files / "model.ckpt-10")


GLOBS = {"model.ckpt-1?", "model.ckpt-*", "v1.ck*"}  # TF globs them; we never do


@pytest.mark.tf
def test_tensorflow_file_helpers_agree(tf, files):
    for name, expected in EXISTS.items():
        tf_says = tf.compat.v1.train.checkpoint_exists(str(files / name))
        assert tf_says is (expected or name in GLOBS), name
    for (prefix, version), removed in REMOVED.items():
        before = set(os.listdir(files))
        tf.compat.v1.train.remove_checkpoint(str(files / prefix), version)
        assert before - set(os.listdir(files)) == removed, prefix


def test_a_failed_removal_leaves_its_claim_for_the_next_sweep(tmp_path, monkeypatch):
    """EIO on one renamed file: the error is raised, every other file still goes, and what
    stays under the deletion's temporary names is swept by the next save's sweep."""
    import errno

    from legacy_saver.bundle.temps import sweep_stale

    prefix = _v2(tmp_path / "m-1", shards=2)
    real, failed = os.remove, []

    def remove(path):
        if ".tmp-" in os.path.basename(path) and not path.endswith(".lock") and not failed:
            failed.append(path)
            raise OSError(errno.EIO, "Input/output error", path)
        real(path)

    monkeypatch.setattr(os, "remove", remove)
    with pytest.raises(OSError, match="Input/output"):
        remove_checkpoint(prefix)
    monkeypatch.setattr(os, "remove", real)
    assert not checkpoint_exists(prefix)
    left = os.listdir(tmp_path)
    assert len(left) == 2 and all(".tmp-" in n for n in left), left  # the file and its claim
    assert sweep_stale(str(tmp_path)) and os.listdir(tmp_path) == []


def test_a_deletion_waiting_for_a_republish_deletes_what_it_finds_then(tmp_path, monkeypatch):
    """The files are listed under the directory lock: a re-save of the prefix that held the
    lock is deleted whole, never its index alone."""
    import contextlib

    import numpy as np

    from legacy_saver import BundleWriter
    from legacy_saver.bundle import files as module

    prefix = str(tmp_path / "m-1")
    with BundleWriter(prefix) as w:
        w.add("x", np.zeros(3, np.float32))
    real_lock = module.directory_lock

    @contextlib.contextmanager
    def lock_after_a_republish(directory, **kw):
        with BundleWriter(prefix, num_shards=2, overwrite=True) as w:  # held the lock first
            w.add("x", np.ones(3, np.float32))
            w.add("y", np.ones(3, np.float32))
        with real_lock(directory, **kw):
            yield

    monkeypatch.setattr(module, "directory_lock", lock_after_a_republish)
    remove_checkpoint(prefix)
    assert os.listdir(tmp_path) == []


def test_readable_now_never_globs(tmp_path):
    """``files.readable_now`` (does a reader find a checkpoint already?) knows a prefix, a
    file of one and stock's V1 pattern by its first shard; ``*`` and ``?`` are never
    expanded: a pattern-like name is only itself."""
    from legacy_saver.bundle.files import readable_now

    (tmp_path / "m-1.index").write_bytes(b"x")
    (tmp_path / "v1-00000-of-00002").write_bytes(b"x")
    assert readable_now(str(tmp_path / "m-1")) and readable_now(str(tmp_path / "m-1.index"))
    assert readable_now(str(tmp_path / "v1-?????-of-00002"))
    assert not readable_now(str(tmp_path / "v1-?????-of-00003"))
    assert not readable_now(str(tmp_path / "m-*")) and not readable_now(str(tmp_path / "m-?"))
    assert not readable_now(str(tmp_path / "*")) and not readable_now(str(tmp_path / "missing"))
