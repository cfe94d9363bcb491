"""The review of commits 7f35475 and 3ae5628: ``..`` in save/restore paths read as
TensorFlow's file system reads them (``as_tensorflow_means``), the restore of the files
the reader checked (``_as_read``), the 'wrote nothing' check, the step read from its
snapshot (``Snapshot.step_shadow``), the write's umask taken from the process, and bytes
paths, attacked as a careless user would.

Fifteen of these failed on 3ae5628 and pass since its follow-up; four assert a documented
choice instead of stock's behaviour (a save path that is a directory is refused, retention
deletes only in the directory being saved, the TF-free reader reads ``..`` as the OS does,
a non-UTF-8 directory is a typed error where stock crashes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver import latest_checkpoint, load_checkpoint  # noqa: E402
from legacy_saver.errors import StateFileError  # noqa: E402
from legacy_saver.graph.restore import restore_variables  # noqa: E402
from legacy_saver.saver import Saver, background  # noqa: E402
from legacy_saver.saver import saver as saver_module  # noqa: E402
from tests.helpers.async_rig import CHILD_ENV, Gate, Model, RefModel, step_of, temporaries  # noqa: E402

v1 = tf.compat.v1
ENV = CHILD_ENV


class One(RefModel):
    """A scalar float ``v`` and global step 7; ``save`` waits for an async write."""

    def __init__(self, value: float = 0.0, step: int = 7):
        super().__init__(np.float32(value), step)

    def save(self, saver, *args, **kwargs):
        path = super().save(saver, *args, **kwargs)
        if hasattr(saver, "wait"):
            saver.wait()
        return path

    def restored(self, saver, path) -> float:
        self.sess.run(self.v.initializer)
        with self.graph.as_default():
            saver.restore(self.sess, path)
        return float(self.sess.run(self.v))


def fresh_restore(path, **kwargs) -> float:
    """The value of ``v`` a new model's Saver restores from ``path``."""
    model = One()
    return model.restored(model.saver(**kwargs), path)


def listing(directory=".") -> list[str]:
    out = []
    for root, _, names in os.walk(directory):
        out += [os.path.relpath(os.path.join(root, n), directory) for n in names]
    return sorted(out)


def two_checkpoints_behind_a_link():
    """cwd layout: ``s/m`` holds v=1, ``other/s/m`` holds v=2, ``link -> other/deep``:
    ``link/../s/m`` is ``s/m`` lexically (TensorFlow) and ``other/s/m`` through the link."""
    os.makedirs("s")
    os.makedirs("other/deep")
    os.makedirs("other/s")
    os.symlink(os.path.join("other", "deep"), "link")
    for path, value in (("s/m", 1.0), ("other/s/m", 2.0)):
        model = One(value)
        model.save(model.saver(v1.train.Saver), path, write_meta_graph=False, write_state=False)


# -- save paths with '..' ----------------------------------------------------------------


def test_stock_keeps_a_trailing_dotdot_in_the_basename(tmp_path, monkeypatch):
    """The baseline: ``a/..`` names files *in* ``a`` (``a/..-1.index``): TensorFlow cleans
    the paths of the files (``a/..-1.index``), whose last component is never ``..``."""
    monkeypatch.chdir(tmp_path)
    os.mkdir("a")
    model = One()
    assert model.save(model.saver(v1.train.Saver), "a/..", global_step=1) == "a/..-1"
    assert os.path.exists("a/..-1.index") and not os.path.exists(".-1.index")


def test_save_path_ending_in_dotdot_lands_where_stock_puts_it(tmp_path, monkeypatch):
    """``a/..`` with a step is the name ``..-1`` in ``a`` (the step makes it a name)."""
    monkeypatch.chdir(tmp_path)
    os.mkdir("a")
    model = One()
    path = model.save(model.saver(), "a/..", global_step=1)
    assert path == "a/..-1" and os.path.exists("a/..-1.index")
    assert not [n for n in os.listdir(".") if n.endswith(".index")]  # nothing in the cwd


def test_save_path_that_is_a_directory_is_refused_before_writing(tmp_path, monkeypatch):
    """``a/..`` without a step: stock writes ``a/...index`` and a state file listing
    ``..``, which every reader takes for the parent directory. Ours refuses it up front
    (ValueError, as for other unusable save paths) and writes nothing."""
    monkeypatch.chdir(tmp_path)
    os.mkdir("a")
    model = One()
    with pytest.raises(ValueError, match="names a directory"):
        model.save(model.saver(), "a/..")
    assert os.listdir("a") == [] and os.listdir(".") == ["a"]


def test_a_bare_dotdot_save_path_is_stocks(tmp_path, monkeypatch):
    """``..`` alone (both readings one directory): ``..-1`` in the cwd, as stock."""
    monkeypatch.chdir(tmp_path)
    paths = {}
    for kind, cls in (("stock", v1.train.Saver), ("ours", Saver)):
        os.mkdir(kind)
        os.chdir(kind)
        model = One()
        paths[kind] = model.save(model.saver(cls), "..", global_step=1, write_meta_graph=False)
        assert os.path.exists("..-1.index"), kind
        os.chdir(tmp_path)
    assert paths["ours"] == paths["stock"] == "..-1"


def test_dotdot_past_the_root_is_the_root(tmp_path):
    """``/../tmp/...`` is ``/tmp/...`` for both readings: the caller's spelling, as stock."""
    model = One(3.0)
    path = model.save(model.saver(), "/.." + str(tmp_path / "m"), global_step=1)
    assert path == "/.." + str(tmp_path / "m-1")
    assert os.path.exists(tmp_path / "m-1.index") and os.path.exists(tmp_path / "checkpoint")
    assert latest_checkpoint(str(tmp_path)) == path  # as spelled, as stock's state file
    assert fresh_restore(path) == 3.0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_dotdot_into_directories_that_do_not_exist_yet(tmp_path, monkeypatch, mode):
    """``link/../new/deeper/m`` (nothing of ``new`` exists, either reading): the parents are
    created where TensorFlow's kernels write (lexically), and every file lands there."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("other/deep")
    os.symlink(os.path.join("other", "deep"), "link")
    model = One(4.0)
    saver = model.saver(async_save=mode == "async")
    path = model.save(saver, "link/../new/deeper/m", global_step=1)
    saver.close()
    assert path == "new/deeper/m-1"
    assert listing("new") == [
        "deeper/checkpoint",
        "deeper/m-1.data-00000-of-00001",
        "deeper/m-1.index",
        "deeper/m-1.meta",
    ]
    assert listing("other") == []
    assert latest_checkpoint("new/deeper") == "new/deeper/m-1"
    assert fresh_restore(path) == 4.0


@pytest.mark.parametrize(
    "kind",
    ["v1", "v1_sharded", "v2_sharded", "async", "async_sharded"],
)
@pytest.mark.parametrize("spelling", ["link/../x/m", "link/../s/m", "s/../m"])
def test_dotdot_saves_of_every_format_keep_their_files_together(
    tmp_path, monkeypatch, kind, spelling
):
    monkeypatch.chdir(tmp_path)
    os.makedirs("s")
    os.makedirs("other/deep")
    os.symlink(os.path.join("other", "deep"), "link")
    model = Model(devices=2)
    model.set(5)
    kwargs = {
        "v1": {"write_version": v1.train.SaverDef.V1},
        "v1_sharded": {"write_version": v1.train.SaverDef.V1, "sharded": True},
        "v2_sharded": {"sharded": True},
        "async": {"async_save": True},
        "async_sharded": {"async_save": True, "sharded": True},
    }[kind]
    saver = model.saver(**kwargs)
    path = saver.save(model.sess, spelling, global_step=5)
    saver.close()
    lexical = os.path.normpath(spelling)
    assert os.path.normpath(path).startswith(lexical + "-5")
    assert listing("other") == []  # nothing went through the link
    assert not temporaries(os.path.dirname(lexical) or ".")
    model.set(0)
    saver.restore(model.sess, latest_checkpoint(os.path.dirname(lexical) or "."))
    assert model.sess.run(model.step) == 5


# -- restore with '..' ------------------------------------------------------------------


def test_restore_of_dotdot_through_a_link_restores_what_stock_restores(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    two_checkpoints_behind_a_link()
    model = One()
    assert model.restored(model.saver(v1.train.Saver), "link/../s/m") == 1.0
    assert model.restored(model.saver(), "link/../s/m") == 1.0
    assert model.restored(model.saver(async_save=True), "link/../s/m") == 1.0


def test_load_checkpoint_of_dotdot_reads_as_the_os_does(tmp_path, monkeypatch):
    """The documented split (docs/saver.md, "The traps we fix"): what runs TensorFlow's
    kernels (``Saver``, ``restore_variables``) reads ``..`` as TensorFlow does, lexically;
    the TF-free reader, like the converters, reads it as the OS does, through the link.
    Each is consistent with itself: a converter's identity checks and its reads use one
    meaning."""
    monkeypatch.chdir(tmp_path)
    two_checkpoints_behind_a_link()
    assert float(tf.train.load_checkpoint("link/../s/m").get_tensor("v")) == 1.0
    assert float(load_checkpoint("link/../s/m").get_tensor("v")) == 2.0  # other/s/m
    assert float(load_checkpoint("s/m").get_tensor("v")) == 1.0


def test_restore_variables_of_dotdot_agrees_with_saver_restore(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    two_checkpoints_behind_a_link()
    model = One()
    assert model.restored(model.saver(), "link/../s/m") == 1.0
    model.sess.run(model.v.initializer)
    restore_variables(model.sess, "link/../s/m", var_list=[model.v])
    assert float(model.sess.run(model.v)) == 1.0


def test_restore_of_a_directory_restores_its_latest(tmp_path):
    """Documented (docs/saver.md): restore takes what load_checkpoint takes, a directory
    too (stock fails with DataLossError)."""
    model = One(6.0)
    saver = model.saver()
    model.save(saver, str(tmp_path / "m"), global_step=3)
    with model.graph.as_default():
        model.sess.run(model.v.assign(1.0))
    model.save(saver, str(tmp_path / "m"), global_step=4)
    assert fresh_restore(str(tmp_path)) == 1.0
    assert fresh_restore(str(tmp_path / "sub" / "..")) == 1.0


# -- retention and the state file with '..' ------------------------------------------


def test_retention_across_spellings_with_and_without_dotdot(tmp_path, monkeypatch):
    """max_to_keep=1, saved as ``sub/../m`` then ``m`` (one directory): the older one is
    deleted, the state file lists what stock's lists."""
    monkeypatch.chdir(tmp_path)
    results = {}
    for kind, cls in (("stock", v1.train.Saver), ("ours", Saver)):
        os.makedirs(f"{kind}/sub")
        os.chdir(kind)
        model = One()
        saver = model.saver(cls, max_to_keep=1)
        first = model.save(saver, "sub/../m", global_step=1, write_meta_graph=False)
        second = model.save(saver, "m", global_step=2, write_meta_graph=False)
        third = model.save(saver, "sub/../m", global_step=3, write_meta_graph=False)
        with open("checkpoint") as f:
            state = [line for line in f.read().splitlines() if "timestamp" not in line]
        results[kind] = (first, second, third, list(saver.last_checkpoints), state, listing())
        os.chdir(tmp_path)
    assert results["ours"] == results["stock"]
    assert results["ours"][-1] == ["checkpoint", "m-3.data-00000-of-00001", "m-3.index"]


def test_retention_after_the_dotdot_directory_is_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    left = {}
    for kind, cls in (("stock", v1.train.Saver), ("ours", Saver)):
        os.makedirs(f"{kind}/sub")
        os.chdir(kind)
        model = One()
        saver = model.saver(cls, max_to_keep=1)
        model.save(saver, "sub/../m", global_step=1, write_meta_graph=False)
        os.rmdir("sub")  # e.g. a scratch directory cleaned up meanwhile
        model.save(saver, "m", global_step=2, write_meta_graph=False)
        left[kind] = listing()
        os.chdir(tmp_path)
    assert left["stock"] == ["checkpoint", "m-2.data-00000-of-00001", "m-2.index"]
    assert left["ours"] == left["stock"]


def test_retention_never_deletes_another_directorys_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    left = {}
    for kind, cls in (("stock", v1.train.Saver), ("ours", Saver)):
        os.makedirs(f"{kind}/sub")
        os.makedirs(f"{kind}/other/deep")
        os.chdir(kind)
        model = One()
        saver = model.saver(cls, max_to_keep=1)
        model.save(saver, "sub/../m", global_step=1, write_meta_graph=False)
        os.rmdir("sub")
        os.symlink(os.path.join("other", "deep"), "sub")
        foreign = One(9.0)  # someone else's checkpoint, named m-1 too
        foreign.save(foreign.saver(v1.train.Saver), "other/m-1", write_meta_graph=False,
                     write_state=False)  # fmt: skip
        model.save(saver, "other/m", global_step=2, write_meta_graph=False)
        left[kind] = listing()
        os.chdir(tmp_path)
    assert "other/m-1.index" in left["stock"] and "m-1.index" not in left["stock"]
    assert "other/m-1.index" in left["ours"], "another directory's checkpoint was deleted"
    # Ours deletes only in the directory being saved (docs/saver.md, "Retention across
    # restarts"): our own ./m-1 stays, where stock deletes it from another directory.
    assert "m-1.index" in left["ours"]


# -- the 'wrote nothing' check ---------------------------------------------------------


def _kernels_write_elsewhere(monkeypatch, elsewhere):
    """The failure the check exists for: the save kernels wrote under another name (here
    another directory) than the temporary prefix the Saver commits."""
    monkeypatch.setattr(
        saver_module, "_for_kernels", lambda p: os.path.join(elsewhere, os.path.basename(p))
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_save_that_wrote_nothing_is_an_error(tmp_path, monkeypatch, mode):
    (tmp_path / "elsewhere").mkdir()
    model = One()
    saver = model.saver(async_save=mode == "async")
    _kernels_write_elsewhere(monkeypatch, str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match="wrote no checkpoint files"):
        model.save(saver, str(tmp_path / "m"), global_step=1)
    assert sorted(os.listdir(tmp_path)) == ["elsewhere"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_resave_that_wrote_nothing_is_an_error(tmp_path, monkeypatch, mode):
    (tmp_path / "elsewhere").mkdir()
    model = One(1.0)
    saver = model.saver(async_save=mode == "async")
    path = model.save(saver, str(tmp_path / "m"), global_step=1)
    with model.graph.as_default():
        model.sess.run(model.v.assign(2.0))
    _kernels_write_elsewhere(monkeypatch, str(tmp_path / "elsewhere"))
    try:
        model.save(saver, str(tmp_path / "m"), global_step=1)
    except FileNotFoundError as error:
        assert "wrote no checkpoint files" in str(error)  # the promise
        return
    finally:
        monkeypatch.undo()
        saver.close()
    assert float(load_checkpoint(path).get_tensor("v")) == 2.0, "success, the old values"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"write_version": 1},
        {"write_version": 1, "sharded": True},
        {"sharded": True},
        {"async_save": True, "sharded": True},
    ],
    ids=["v1", "v1_sharded", "v2_sharded", "async_sharded"],
)
def test_the_check_passes_every_real_format(tmp_path, kwargs):
    """No false alarm: V1 (one file, shards), sharded V2, async sharded, fresh and
    re-saved prefixes."""
    model = Model(devices=2)
    saver = model.saver(**kwargs)
    for k in (1, 2, 2):
        model.set(k)
        saver.save(model.sess, str(tmp_path / "m"), global_step=k)
        saver.wait()
    saver.restore(model.sess, latest_checkpoint(str(tmp_path)))
    assert model.sess.run(model.step) == 2
    assert not temporaries(tmp_path)


def test_the_check_passes_an_eager_save(tmp_path):
    assert tf.executing_eagerly()
    v = tf.Variable([1.0, 2.0], name="v")
    saver = Saver(var_list=[v])
    for k in (1, 1):
        path = saver.save(None, str(tmp_path / "m"), global_step=k)
    assert path == str(tmp_path / "m-1")
    assert list(load_checkpoint(path).get_tensor("v")) == [1.0, 2.0]


# -- the step read from its snapshot ------------------------------------------------------


def _steps_graph():
    g = tf.Graph()
    with g.as_default():
        v = v1.Variable(np.float32(3.9), name="v", use_resource=False)
        step = v1.Variable(np.int64(7), name="global_step", use_resource=False)
        other = v1.Variable(np.int64(50), name="other", use_resource=True)
        small = v1.Variable(np.int32(11), name="small", use_resource=False)
        sess = v1.Session(graph=g)
        sess.run(v1.global_variables_initializer())
    return g, sess, {"v": v, "step": step, "other": other, "small": small}


@pytest.mark.parametrize(
    "given, expected",
    [
        ("identity_of_other", 50),  # another saved variable's snapshot: its value, right
        ("cast", 11),  # a cast is no read: the live tensor
        ("identity_of_float", 3),
        ("excluded", 7),  # a step the Saver does not save: the live tensor
        ("constant", 5),
        ("resource_read", 50),
    ],
)
def test_step_spellings_name_the_async_checkpoint_as_stock(tmp_path, given, expected):
    g, sess, var = _steps_graph()
    with g.as_default():
        step = {
            "identity_of_other": lambda: tf.identity(var["other"]),
            "cast": lambda: tf.cast(var["small"], tf.int64),
            "identity_of_float": lambda: tf.identity(var["v"]),
            "excluded": lambda: var["step"],
            "constant": lambda: tf.constant(5),
            "resource_read": lambda: var["other"].read_value(),
        }[given]()
        var_list = [var["v"]] if given == "excluded" else None
        stock = v1.train.Saver(var_list=var_list).save(
            sess, str(tmp_path / "s"), global_step=step, write_meta_graph=False
        )
        saver = Saver(var_list=var_list, async_save=True)
        path = saver.save(sess, str(tmp_path / "m"), global_step=step, write_meta_graph=False)
        saver.close()
    assert path == str(tmp_path / f"m-{expected}") and stock == str(tmp_path / f"s-{expected}")


def test_a_step_of_another_graph_is_refused_as_stock(tmp_path):
    model = One(step=7)
    foreign = One(step=99)
    for saver in (model.saver(v1.train.Saver), model.saver()):
        with pytest.raises(ValueError):
            model.save(saver, str(tmp_path / "s"), global_step=foreign.step)
    saver = model.saver(async_save=True)
    try:
        with pytest.raises(ValueError):
            model.save(saver, str(tmp_path / "m"), global_step=foreign.step)
    finally:
        saver.close()


def test_a_step_with_a_control_dependency_is_run_as_stock(tmp_path):
    names = {}
    for kind in ("stock", "sync", "async"):
        g, sess, var = _steps_graph()
        with g.as_default():
            with tf.control_dependencies([var["step"].assign_add(1)]):
                step = tf.identity(var["step"])
            saver = v1.train.Saver() if kind == "stock" else Saver(async_save=kind == "async")
            path = saver.save(sess, str(tmp_path / kind), global_step=step,
                              write_meta_graph=False)  # fmt: skip
            if kind != "stock":
                saver.close()
        names[kind] = (path.rsplit("-", 1)[1], int(sess.run(var["step"])))
    assert names["stock"] == names["sync"] == ("8", 8)
    assert names["async"] == names["stock"]


# -- the write's umask -------------------------------------------------------------------


def test_the_write_completes_without_proc(tmp_path, monkeypatch):
    """No readable /proc/self/status: follow_process_umask keeps the umask of save()."""

    def no_proc(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "/proc/self/status")

    monkeypatch.setattr(background, "open", no_proc, raising=False)
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    model.set(3)
    path = saver.save(model.sess, str(tmp_path / "m"), global_step=3)
    assert gate.waiting.wait(30)
    gate.open()
    saver.close()
    assert step_of(path) == 3 and latest_checkpoint(str(tmp_path)) == path


MAIN_THREAD_EXITS = textwrap.dedent(
    """
    import ctypes, os, sys, threading, time
    import numpy as np
    import tensorflow as tf
    from legacy_saver.saver import Saver
    v1 = tf.compat.v1
    out = sys.argv[1]
    with tf.Graph().as_default() as g:
        v1.Variable(np.ones(3, np.float32), name="v", use_resource=False)
        sess = v1.Session(graph=g)
        sess.run(v1.global_variables_initializer())
        saver = Saver(async_save=True)
    hold = threading.Event()
    real = Saver._write_checkpoint
    def gated(self, sess, checkpoint_file, save_op=None):
        if save_op is not None:
            hold.wait(30)
        return real(self, sess, checkpoint_file, save_op=save_op)
    Saver._write_checkpoint = gated
    def worker():
        try:
            os.umask(0o022)
            saver.save(sess, os.path.join(out, "m"), global_step=1)
            time.sleep(0.5)  # the main thread has exited by now
            os.umask(0o077)
            hold.set()
            saver.wait()
            modes = {n: oct(os.stat(os.path.join(out, n)).st_mode & 0o777)
                     for n in sorted(os.listdir(out))}
            print("MODES", modes, flush=True)
        finally:
            os._exit(0)
    threading.Thread(target=worker).start()
    time.sleep(0.2)
    ctypes.CDLL(None).pthread_exit(None)  # the main thread exits, the process goes on
    """
)


def test_the_umask_is_followed_after_the_main_thread_exited(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", MAIN_THREAD_EXITS, str(tmp_path)],
        env=ENV, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    line = [x for x in proc.stdout.splitlines() if x.startswith("MODES")]
    assert line, proc.stdout + proc.stderr[-2000:]
    modes = eval(line[0][len("MODES ") :])  # noqa: S307 - our own child's repr
    assert len(modes) == 4, modes
    assert len(set(modes.values())) == 1, modes


# -- bytes paths --------------------------------------------------------------------------


class BytesPath(os.PathLike):
    def __init__(self, raw: bytes):
        self.raw = raw

    def __fspath__(self) -> bytes:
        return self.raw


def test_utf8_bytes_paths_save_and_restore_as_stock(tmp_path):
    model = One(2.0)
    paths = {}
    for kind, cls in (("stock", v1.train.Saver), ("ours", Saver)):
        raw = os.fsencode(str(tmp_path / f"é{kind}"))
        paths[kind] = model.save(model.saver(cls), raw, write_meta_graph=False)
    assert paths["ours"] == paths["stock"].replace("stock", "ours")
    assert fresh_restore(os.fsencode(paths["ours"])) == 2.0
    assert float(load_checkpoint(os.fsencode(paths["ours"])).get_tensor("v")) == 2.0


def test_non_utf8_and_pathlike_bytes_are_refused_by_save_as_by_stock(tmp_path):
    model = One()
    raw = os.fsencode(str(tmp_path)) + b"/\xff"
    for cls in (v1.train.Saver, Saver):
        with pytest.raises(UnicodeDecodeError):
            model.save(model.saver(cls), raw)
        with pytest.raises(TypeError):
            model.save(model.saver(cls), BytesPath(os.fsencode(str(tmp_path / "p"))))
    assert os.listdir(tmp_path) == []


def _under_a_non_utf8_directory(tmp_path) -> bytes:
    model = One(4.0)
    model.save(model.saver(), str(tmp_path / "plain" / "m"), write_meta_graph=False)
    raw = os.fsencode(str(tmp_path)) + b"/\xff"
    os.rename(os.fsencode(str(tmp_path / "plain")), raw)
    return raw + b"/m"


@pytest.mark.parametrize("wrap", [bytes, BytesPath, os.fsdecode], ids=["bytes", "pathlike", "str"])
def test_load_checkpoint_reads_a_non_utf8_prefix(tmp_path, wrap):
    prefix = _under_a_non_utf8_directory(tmp_path)
    assert float(load_checkpoint(wrap(prefix)).get_tensor("v")) == 4.0


@pytest.mark.parametrize("wrap", [bytes, BytesPath, os.fsdecode], ids=["bytes", "pathlike", "str"])
def test_load_checkpoint_of_a_non_utf8_directory_is_a_typed_error(tmp_path, wrap):
    """A CheckpointState holds UTF-8 only (stock fails with UnicodeEncodeError even for
    the prefix): the directory is a StateFileError saying to open the prefix, which reads."""
    prefix = _under_a_non_utf8_directory(tmp_path)
    with pytest.raises(StateFileError, match="not UTF-8.*by its prefix"):
        load_checkpoint(wrap(os.path.dirname(prefix)))
    assert float(load_checkpoint(wrap(prefix)).get_tensor("v")) == 4.0


def test_restore_variables_of_a_non_utf8_name(tmp_path):
    prefix = _under_a_non_utf8_directory(tmp_path)
    model = One()
    restore_variables(model.sess, os.fsdecode(prefix), var_list=[model.v])
    assert float(model.sess.run(model.v)) == 4.0


def test_a_file_in_the_way_of_the_dotdot(tmp_path, monkeypatch):
    """``a/file/../m`` with ``a/file`` a regular file: os.path cannot go through it,
    TensorFlow reads ``a/m``; both Savers write ``a/m-1``."""
    monkeypatch.chdir(tmp_path)
    os.mkdir("a")
    (tmp_path / "a" / "file").write_bytes(b"not a directory")
    paths = {}
    for kind, cls in (("stock", v1.train.Saver), ("ours", Saver)):
        model = One()
        paths[kind] = model.save(model.saver(cls), f"a/file/../{kind}", global_step=1,
                                 write_meta_graph=False)  # fmt: skip
        assert os.path.exists(f"a/{kind}-1.index"), kind
    assert paths == {"stock": "a/file/../stock-1", "ours": "a/ours-1"}
    assert not temporaries("a")
