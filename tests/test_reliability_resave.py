"""Re-saving one prefix is atomic as a whole (``bundle/publish.py``): the old checkpoint
loads until the new one is complete, and readers never see a mix.

* crash replay at every file operation of a same-prefix re-save, by ``BundleWriter``
  (1 and 3 shards, with and without a previous generation on disk) and by the Saver
  (``save()`` without ``global_step``): the prefix always loads, whole, as old or new;
* readers polling during repeated re-saves, ours (threads and a process) and stock
  TensorFlow's ``tf.train.load_checkpoint`` (a process): 0 errors, 0 mixes;
* the deterministic races behind it: a reader holding an old index across two
  publishes, TensorFlow-style lazy data opens across one.

Long run: ``RELIABILITY_RESAVES=2000 python -m pytest -s -k polling
tests/test_reliability_resave.py`` (figures in RELIABILITY.md, section 9).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np
import pytest

from legacy_saver import BundleWriter, load_checkpoint
from legacy_saver.bundle import fileio as fileio_module
from legacy_saver.bundle import writer as writer_module
from legacy_saver.bundle.naming import is_temp
from tests.helpers.crash import SaverRig, replay_every_crash, saver_modules, step_of
from tests.helpers.paths import ROOT

# -- one generation: every tensor holds the generation number -------------------------


def _values(gen: int) -> dict[str, np.ndarray]:
    return {
        "a": np.full((64,), gen, np.float32),
        "b": np.full((3, 5), gen, np.int64),
        "s": np.array([str(gen).encode()] * 3, dtype=object),
    }


def write_generation(prefix: str, gen: int, shards: int = 1, fsync: bool = False) -> None:
    with BundleWriter(prefix, num_shards=shards, fsync=fsync, overwrite=True) as w:
        for i, (k, v) in enumerate(_values(gen).items()):
            w.add(k, v, shard=i % shards)


def generation_of(get: Any) -> int:
    """The generation a reader's tensors hold; AssertionError on a mix."""
    a, b, s = get("a"), get("b"), get("s")
    gens = {int(a.flat[0]), int(b.flat[0]), int(bytes(s.flat[0]))}
    assert (a == a.flat[0]).all() and (b == b.flat[0]).all() and len(set(s.flat)) == 1, "mix"
    assert len(gens) == 1, f"mix of generations {sorted(gens)}"
    return gens.pop()


# -- crash replay ---------------------------------------------------------------------


@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("history", [1, 2])  # generations on disk before the re-save
def test_writer_resave_crash_at_every_operation(tmp_path, shards, history):
    def setup(d: str) -> None:
        for gen in range(1, history + 1):
            write_generation(os.path.join(d, "ckpt"), gen, shards)

    def action(d: str) -> None:
        write_generation(os.path.join(d, "ckpt"), 9, shards, fsync=True)

    def check(d: str, k: int, ops: list[tuple[str, str]]) -> None:
        prefix = os.path.join(d, "ckpt")
        with load_checkpoint(prefix) as r:  # the prefix never stops existing
            gen = generation_of(r.get_tensor)
        assert gen in (history, 9), f"crash {k}: generation {gen}"
        write_generation(prefix, 10, shards)  # the next save succeeds over any leftovers
        with load_checkpoint(prefix) as r:
            assert generation_of(r.get_tensor) == 10
        data = [n for n in os.listdir(d) if ".data-" in n and not is_temp(n)]
        counts = {n.rsplit("-of-", 1)[1] for n in data}
        assert len(counts) <= 2, f"crash {k}: more than two generations left: {sorted(data)}"

    ops = replay_every_crash(str(tmp_path), setup, action, check, [writer_module, fileio_module])
    switch = max(i for i, (op, p) in enumerate(ops) if op == "replace" and p.endswith("ckpt.index"))
    data_renames = [i for i, (op, p) in enumerate(ops) if op == "replace" and ".data-" in p]
    assert data_renames and max(data_renames) < switch  # every data file before the switch
    print(f"\nRESULT writer re-save shards={shards} history={history}: {len(ops)} operations, "
          f"{len(ops) + 1} crash points, the prefix loaded whole every time")  # fmt: skip


@pytest.mark.slow
def test_saver_resave_crash_at_every_operation(tf, tmp_path, monkeypatch):
    """``Saver.save(sess, prefix)`` without ``global_step``, over an existing save."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # order is checked, not the disk
    rig = SaverRig(tf, sharded=False)
    template = str(tmp_path / "template")
    os.makedirs(template)

    def save(d: str, step: int) -> None:
        rig.sess.run(rig.assign, {rig.step: step})
        with rig.graph.as_default():
            saver = rig.Saver(save_relative_paths=True)
        saver.save(rig.sess, os.path.join(d, "model"))

    save(template, 1)
    save(template, 2)

    def setup(d: str) -> None:
        os.rmdir(d)
        shutil.copytree(template, d)

    def check(d: str, k: int, ops: list[tuple[str, str]]) -> None:
        from legacy_saver.state import latest_checkpoint

        latest = latest_checkpoint(d)
        assert latest is not None and latest.endswith("model"), f"crash {k}: {latest}"
        assert step_of(latest) in (2, 3), f"crash {k}"
        save(d, 4)
        assert step_of(os.path.join(d, "model")) == 4

    ops = replay_every_crash(str(tmp_path), setup, lambda d: save(d, 3), check, saver_modules())
    print(f"\nRESULT Saver re-save: {len(ops)} operations, {len(ops) + 1} crash points")


# -- the races, deterministically -----------------------------------------------------


def test_our_reader_holds_its_generation_across_publishes(tmp_path):
    prefix = str(tmp_path / "ckpt")
    write_generation(prefix, 1)
    reader = load_checkpoint(prefix)  # index read, shards opened
    counts = []
    for gen in (2, 3, 4):  # counts 2, 3, then 1 again: generation 1's names reused
        write_generation(prefix, gen)
        counts.append(load_checkpoint(prefix).bundle.num_shards)
    assert counts == [2, 3, 1]
    assert generation_of(reader.get_tensor) == 1
    reader.close()
    with load_checkpoint(prefix) as fresh:
        assert generation_of(fresh.get_tensor) == 4


def test_index_replaced_while_opening_is_read_again(tmp_path, monkeypatch):
    """The index changes between the reader's index read and its shard opens: a writer
    that does not take the directory's lock (TensorFlow's, or a filesystem without
    ``flock``; ours waits for the reader, next test)."""
    import contextlib

    from legacy_saver.bundle import reader as reader_module

    prefix = str(tmp_path / "ckpt")
    write_generation(prefix, 1)
    real_open = reader_module.BundleReader._open_shards
    calls = []
    monkeypatch.setattr(reader_module, "directory_lock", lambda *a, **k: contextlib.nullcontext())

    def racing(self: Any) -> None:
        if not calls:
            for gen in (2, 3, 4):  # generation 1's data names now hold generation 4
                write_generation(prefix, gen)
        calls.append(1)
        real_open(self)

    monkeypatch.setattr(reader_module.BundleReader, "_open_shards", racing)
    with load_checkpoint(prefix) as r:
        assert generation_of(r.get_tensor) == 4
    assert len(calls) == 2


def test_our_publish_waits_for_a_reader_opening_the_checkpoint(tmp_path, monkeypatch):
    """A reader holds the directory's shared lock while it reads the index and opens the
    shards; a publish of ours (exclusive) in another thread waits for it, so the reader
    sees one generation whole, however many publishes are queued behind it."""
    from legacy_saver.bundle import reader as reader_module

    prefix = str(tmp_path / "ckpt")
    write_generation(prefix, 1)
    real_open = reader_module.BundleReader._open_shards
    writers: list[threading.Thread] = []

    def racing(self: Any) -> None:
        if not writers:
            for gen in (2, 3, 4):
                writers.append(threading.Thread(target=write_generation, args=(prefix, gen)))
                writers[-1].start()
            time.sleep(0.3)  # the writers reach the publish and wait for our lock
        real_open(self)

    monkeypatch.setattr(reader_module.BundleReader, "_open_shards", racing)
    with load_checkpoint(prefix) as r:
        assert generation_of(r.get_tensor) == 1  # opened before any of the queued publishes
    for w in writers:
        w.join(timeout=30)
    with load_checkpoint(prefix) as r:
        assert generation_of(r.get_tensor) in (2, 3, 4)  # they ran after, in some order


def test_a_reader_goes_on_after_waiting_for_a_stuck_publish(tmp_path, monkeypatch):
    """A publish that holds the directory's lock for longer than ``LOCK_WAIT_S`` (a stuck
    disk) never hangs a reader: it opens unlocked after the wait."""
    from legacy_saver.bundle import fileio
    from legacy_saver.bundle import reader as reader_module

    prefix = str(tmp_path / "ckpt")
    write_generation(prefix, 1)
    monkeypatch.setattr(reader_module, "LOCK_WAIT_S", 0.2)
    with fileio.directory_lock(str(tmp_path)):  # held exclusively, as by a stuck publish
        started = time.monotonic()
        with load_checkpoint(prefix) as r:
            assert generation_of(r.get_tensor) == 1
        assert 0.2 <= time.monotonic() - started < 10


def test_a_child_forked_during_a_read_does_not_keep_the_directory_locked(tmp_path):
    """A flock belongs to the open file description, which fork shares: a child forked while
    a reader held the shared lock kept it until it exited (a DataLoader worker: hours), and
    every publish into the directory waited that long (found by review)."""
    import fcntl

    from legacy_saver.bundle import fileio

    ready_r, ready_w = os.pipe()
    with fileio.directory_lock(str(tmp_path), shared=True):
        pid = os.fork()
        if pid == 0:  # the child lives on for a while, as a worker would
            os.write(ready_w, b"!")  # the fork hooks have run by now
            time.sleep(5)
            os._exit(0)
    assert os.read(ready_r, 1) == b"!"
    try:
        fd = os.open(str(tmp_path), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if inherited
        finally:
            os.close(fd)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_lazy_reader_finds_the_old_data_after_one_publish(tmp_path):
    """What TensorFlow's reader does (data opened at the first read): one publish later,
    the data of the index it read is still there."""
    from legacy_saver.bundle.reader import BundleReader

    prefix = str(tmp_path / "ckpt")
    write_generation(prefix, 1)
    reader = BundleReader(prefix)
    reader.close()  # drop the eagerly opened shards: reads reopen them by name
    write_generation(prefix, 2)
    assert generation_of(reader.get_tensor) == 1


def test_shard_counts_alternate_and_tensorflow_reads_each(tf, tmp_path):
    prefix = str(tmp_path / "ckpt")
    counts = []
    for gen in range(1, 5):
        write_generation(prefix, gen, shards=2)
        with load_checkpoint(prefix) as r:
            counts.append(r.bundle.num_shards)
        reader = tf.train.load_checkpoint(prefix)
        assert generation_of(reader.get_tensor) == gen
    assert counts == [2, 3, 4, 2]  # free of the live and the previous generation
    names = sorted(n for n in os.listdir(tmp_path) if ".data-" in n)
    assert names == ["ckpt.data-00000-of-00002", "ckpt.data-00000-of-00004",
                     "ckpt.data-00001-of-00002", "ckpt.data-00001-of-00004",
                     "ckpt.data-00002-of-00004", "ckpt.data-00003-of-00004"]  # fmt: skip


def test_resave_removes_the_replaced_digest(tmp_path):
    from legacy_saver.digest import verify_digest, write_digest

    prefix = str(tmp_path / "ckpt")
    write_generation(prefix, 1)
    write_digest(prefix, fsync=False)
    verify_digest(prefix)
    write_generation(prefix, 2)
    assert not os.path.exists(prefix + ".sha256")  # it described generation 1's files


def test_remove_checkpoint_removes_every_generation(tmp_path):
    from legacy_saver.state import remove_checkpoint

    prefix = str(tmp_path / "ckpt")
    for gen in (1, 2):
        write_generation(prefix, gen)
    (tmp_path / "other.data-00000-of-00001").write_bytes(b"not ours")
    remove_checkpoint(prefix)
    assert sorted(os.listdir(tmp_path)) == ["other.data-00000-of-00001"]


# -- readers polling during repeated re-saves -------------------------------------------

TF_POLLER = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
prefix, stop = sys.argv[1], sys.argv[2]
loads, mixes, errors, kinds, gens = 0, 0, [], set(), set()
print("ready", flush=True)
while not os.path.exists(stop):
    try:
        r = tf.train.load_checkpoint(prefix)
        a, b, s = r.get_tensor("a"), r.get_tensor("b"), r.get_tensor("s")
        g = {int(a.flat[0]), int(b.flat[0]), int(s.flat[0])}
        if len(g) != 1 or not (a == a.flat[0]).all():
            mixes += 1
        gens |= g
        loads += 1
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        kinds.add("missing" if "No such file" in str(exc) else
                  "checksum" if "Checksum does not match" in str(exc) else "other")
print(json.dumps({"loads": loads, "mixes": mixes, "errors": errors[:20],
                  "n_errors": len(errors), "kinds": sorted(kinds), "generations": len(gens)}))
"""


def _our_poller(prefix: str, stop: Any, out: dict[str, Any]) -> None:
    loads, errors, gens = 0, [], set()
    while not stop.is_set():
        try:
            with load_checkpoint(prefix) as r:
                gens.add(generation_of(r.get_tensor))
            loads += 1
        except Exception as exc:  # noqa: BLE001 - every failure counts
            errors.append(f"{type(exc).__name__}: {exc}")
    out.update(loads=loads, errors=errors[:20], n_errors=len(errors), generations=len(gens))


class _StopFile:
    def __init__(self, path: str) -> None:
        self.path = path

    def is_set(self) -> bool:
        return os.path.exists(self.path)


def _process_poller(prefix: str, stop_path: str, queue: Any) -> None:
    out: dict[str, Any] = {}
    with load_checkpoint(prefix) as r:  # imports done: say so
        generation_of(r.get_tensor)
    open(stop_path + ".ready", "w").close()
    _our_poller(prefix, _StopFile(stop_path), out)
    queue.put(out)


PACE_S = 0.25  # "paced": a training step between re-saves, longer than a reader's window


@pytest.mark.slow
@pytest.mark.parametrize(
    ("writer", "paced"),
    [("BundleWriter", True), ("Saver", True), ("BundleWriter", False)],
    ids=["BundleWriter-paced", "Saver-paced", "BundleWriter-back-to-back"],
)
def test_readers_polling_during_resaves_see_no_error_and_no_mix(tf, tmp_path, writer, paced):
    """Ours: 0 errors and 0 mixes, always (shards opened with the index). TensorFlow's
    reader opens data files lazily: with re-saves paced like a training loop, 0 errors
    and 0 mixes; back-to-back re-saves (each faster than its window between reading the
    index and opening the data) can make it fail with "no such file" or a checksum
    mismatch, both typed errors: never a silent mix."""
    saves = int(os.environ.get("RELIABILITY_RESAVES", "16" if paced else "60"))
    prefix = str(tmp_path / "model")
    stop_path = str(tmp_path / "STOP")
    if writer == "Saver":
        rig = SaverRig(tf, sharded=False)
        with rig.graph.as_default():
            import tensorflow as tf1

            s = tf1.compat.v1.get_variable("s", initializer=tf1.constant([b"0"] * 3))
            gen_ph = tf1.compat.v1.placeholder(tf1.string, [])
            assign_s = s.assign(tf1.fill([3], gen_ph))
            saver = rig.Saver({"a": _var(rig, "a"), "b": _var(rig, "b"), "s": s})

        def save(gen: int) -> None:
            rig.sess.run(rig.assign + [assign_s], {rig.step: gen, gen_ph: str(gen).encode()})
            saver.save(rig.sess, prefix)
    else:

        def save(gen: int) -> None:
            write_generation(prefix, gen)

    save(0)
    tf_reader = subprocess.Popen([sys.executable, "-c", TF_POLLER, prefix, stop_path],
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    assert tf_reader.stdout is not None
    assert tf_reader.stdout.readline().strip() == "ready"
    stop = threading.Event()
    ours: list[dict[str, Any]] = [{}, {}]
    threads = [threading.Thread(target=_our_poller, args=(prefix, stop, o)) for o in ours]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_process_poller, args=(prefix, stop_path, queue))
    proc.start()
    for t in threads:
        t.start()
    deadline = time.time() + 120  # the spawned reader imports numpy and legacy_saver first
    while not os.path.exists(stop_path + ".ready") and time.time() < deadline:
        time.sleep(0.05)
    start = time.perf_counter()
    try:
        for gen in range(1, saves + 1):
            save(gen)
            if paced:
                time.sleep(PACE_S)
    finally:
        seconds = time.perf_counter() - start
        stop.set()
        open(stop_path, "w").close()
        for t in threads:
            t.join()
        results = ours + [queue.get(timeout=60)]
        proc.join(timeout=60)
        tf_out, _ = tf_reader.communicate(timeout=120)
    tf_result = json.loads(tf_out.strip().splitlines()[-1])
    print(f"\nRESULT {writer} re-saves, {'paced' if paced else 'back-to-back'}: {saves} in "
          f"{seconds:.1f} s; ours (2 threads + 1 process): "
          f"{sum(r['loads'] for r in results)} loads, "
          f"{sum(r['n_errors'] for r in results)} errors; TensorFlow: {tf_result['loads']} "
          f"loads, {tf_result['mixes']} mixes, {tf_result['n_errors']} errors "
          f"{tf_result['kinds']}, {tf_result['generations']} generations seen")  # fmt: skip
    for result in results:
        assert result["n_errors"] == 0, result["errors"]
        assert result["loads"] > 0
    assert tf_result["loads"] > 0
    assert tf_result["mixes"] == 0
    if paced:
        assert tf_result["n_errors"] == 0, tf_result["errors"]
    else:  # only the two typed failures of a lazy reader outrun by the writer
        assert set(tf_result["kinds"]) <= {"missing", "checksum"}, tf_result["errors"]


def _var(rig: SaverRig, name: str) -> Any:
    with rig.graph.as_default():
        return next(v for v in rig.tf.compat.v1.global_variables() if v.op.name == name)
