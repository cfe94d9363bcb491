"""``legacy-ckpt batch`` never writes, deletes or hangs on what is not its own
(#13 items 2, 5, 6, 10; #14 items 3, 5, 10): roots compared by identity under
every spelling, resume by content, foreign destinations and state files
refused on every run, FIFOs and unreadable directories reported, one batch
per destination, workers that die with their parent."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from converters.batch.discover import LOCK_NAME, MANIFEST_NAME
from converters.cli import main
from legacy_saver.bundle import BundleWriter, load_checkpoint
from legacy_saver.bundle.naming import is_temp
from tests.helpers.paths import cli_command


def write_ckpt(prefix: Path, value: float = 1.0, shape=(3, 2)) -> None:
    with BundleWriter(str(prefix), fsync=False) as w:
        w.add("dense/kernel", np.full(shape, value, np.float32))
        w.add("global_step", np.int64(7))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}  # fmt: skip


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["batch", *argv, "--json", "--quiet", "-j", "1"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    write_ckpt(src / "a" / "model.ckpt-1")
    write_ckpt(src / "b" / "model.ckpt-2", 2.0)
    return src


# -- #13.2: source and destination the same, however spelled ------------------------


def _spellings(src: Path, tmp: Path) -> list[str]:
    (tmp / "link").symlink_to(src)
    (tmp / "parent_link").symlink_to(src.parent)
    return [str(src), f"{src}/", f"{src}/a/..", f"{src}//", f"file://{src}", str(tmp / "link"),
            f"{tmp / 'link'}/", str(tmp / "parent_link" / src.name),
            f"file://{tmp / 'parent_link'}/{src.name}/./"]  # fmt: skip


def test_destination_that_is_the_source_is_refused_under_every_spelling(tree, tmp_path, capsys):
    before = snapshot(tree)
    for dst in _spellings(tree, tmp_path):
        for flags in ((), ("--overwrite",), ()):  # twice without --overwrite: the old data loss
            assert main(["batch", str(tree), dst, "--quiet", "-j", "1", *flags]) == 1, dst
            err = capsys.readouterr().err
            assert "is the source directory" in err and "even with --overwrite" in err, err
        assert snapshot(tree) == before, dst
    assert not (tree / MANIFEST_NAME).exists() and not (tree / LOCK_NAME).exists()


def test_destination_containing_the_source_is_refused(tree, capsys):
    before = snapshot(tree.parent)
    assert main(["batch", str(tree), str(tree.parent), "--overwrite", "--quiet"]) == 1
    assert "contains the source directory" in capsys.readouterr().err
    assert snapshot(tree.parent) == before


def test_nested_destination_is_skipped_however_reached(tree, capsys):
    dst = tree / "converted"
    (tree / "to_dst").symlink_to(dst, target_is_directory=True)  # a second way into DST
    sources = snapshot(tree)
    for _ in range(2):
        code, out = run_json(capsys, str(tree), str(dst))
        assert code == 0 and sorted(i["rel"] for i in out["items"]) == [
            "a/model.ckpt-1", "b/model.ckpt-2"]  # fmt: skip
    assert out["skipped"] == 2
    code, out = run_json(capsys, str(tree), str(dst), "--overwrite", "--no-resume")
    assert code == 0 and out["converted"] == 2
    assert {k: v for k, v in snapshot(tree).items() if not k.startswith("converted")} == sources
    with load_checkpoint(dst / "a" / "model.ckpt-1") as r:
        assert r.is_object_based


def test_symlink_in_destination_back_into_the_source_is_refused(tree, tmp_path, capsys):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "a").symlink_to(tree / "a")  # DST/a/model.ckpt-1 *is* SRC/a/model.ckpt-1
    before = snapshot(tree)
    for flags in ((), ("--overwrite",)):
        code, out = run_json(capsys, str(tree), str(dst), *flags)
        rows = {i["rel"]: i for i in out["items"]}
        assert code == 1 and rows["a/model.ckpt-1"]["status"] == "refused"
        expected = "outside" if flags else "exists and this batch did not write it"
        assert expected in rows["a/model.ckpt-1"]["reason"]
        assert rows["b/model.ckpt-2"]["status"] in ("converted", "skipped")
        assert snapshot(tree) == before


# -- #13.5: resume by content; state-file entries that lead elsewhere ------------------


def test_rewritten_source_with_restored_mtime_is_converted_again(tree, tmp_path, capsys):
    dst = tmp_path / "dst"
    assert run_json(capsys, str(tree), str(dst))[0] == 0
    prefix = tree / "a" / "model.ckpt-1"
    files = [Path(f"{prefix}.index"), Path(f"{prefix}.data-00000-of-00001")]
    stamps = {f: (f.stat().st_atime_ns, f.stat().st_mtime_ns) for f in files}
    with BundleWriter(str(prefix), fsync=False, overwrite=True) as w:  # same names and sizes
        w.add("dense/kernel", np.full((3, 2), 5.0, np.float32))
        w.add("global_step", np.int64(7))
    for f, ns in stamps.items():
        os.utime(f, ns=ns)
    code, out = run_json(capsys, str(tree), str(dst))
    assert code == 0 and (out["converted"], out["skipped"]) == (1, 1)
    with load_checkpoint(dst / "a" / "model.ckpt-1") as r:
        key = next(k for k in r.keys() if "dense" in k)
        assert (r.get_tensor(key) == 5.0).all()


def test_state_file_entries_outside_their_directory_are_dropped(tree, tmp_path, capsys):
    (tree / "a" / "checkpoint").write_text(
        'model_checkpoint_path: "../b/model.ckpt-2"\n'
        'all_model_checkpoint_paths: "../b/model.ckpt-2"\n'
        'all_model_checkpoint_paths: "model.ckpt-9"\n'
        'all_model_checkpoint_paths: "model.ckpt-1"\n'
    )
    dst = tmp_path / "dst"
    code, out = run_json(capsys, str(tree), str(dst))
    assert code == 0 and out["state_files"] == ["a/checkpoint"]
    text = (dst / "a" / "checkpoint").read_text()
    assert "../" not in text and 'model_checkpoint_path: "model.ckpt-1"' in text
    warnings = "\n".join(out["warnings"])
    assert "'../b/model.ckpt-2' leads outside its directory; dropped" in warnings
    assert "'model.ckpt-9' names a checkpoint that does not exist" in warnings
    from legacy_saver.state import latest_checkpoint

    assert latest_checkpoint(dst / "a") == str(dst / "a" / "model.ckpt-1")


def test_foreign_state_file_in_destination_is_refused(tree, tmp_path, capsys):
    (tree / "a" / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-1"\n')
    dst = tmp_path / "dst"
    (dst / "a").mkdir(parents=True)
    (dst / "a" / "checkpoint").write_text("theirs\n")
    code, out = run_json(capsys, str(tree), str(dst))
    assert code == 1 and "a/checkpoint" in out["problems"] and out["converted"] == 2
    assert (dst / "a" / "checkpoint").read_text() == "theirs\n"
    code, out = run_json(capsys, str(tree), str(dst), "--overwrite")
    assert code == 0 and out["state_files"] == ["a/checkpoint"]
    code, out = run_json(capsys, str(tree), str(dst))  # ours now: rewritten, no problem
    assert code == 0 and out["state_files"] == ["a/checkpoint"]


# -- #13.6, #13.10: special files and unreadable directories --------------------------


def test_fifos_never_hang_a_batch(tree, tmp_path):
    write_ckpt(tree / "d" / "model.ckpt-4")
    write_ckpt(tree / "e" / "model.ckpt-5")
    (tree / "c").mkdir()
    for name in ("c/model.ckpt-3.index", "d/model.ckpt-4.data-00000-of-00001",
                 "e/model.ckpt-5.meta", "a/checkpoint"):  # fmt: skip
        if (tree / name).exists():
            (tree / name).unlink()
        os.mkfifo(tree / name)
    dst = tmp_path / "dst"
    proc = subprocess.run([*cli_command(), "batch", str(tree), str(dst), "--json", "-j", "1"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    out = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    rows = {i["rel"]: i for i in out["items"]}
    for rel, bad in (("c/model.ckpt-3", "c/model.ckpt-3.index is a FIFO"),
                     ("d/model.ckpt-4", "d/model.ckpt-4.data-00000-of-00001 is a FIFO"),
                     ("e/model.ckpt-5", "e/model.ckpt-5.meta is a FIFO")):  # fmt: skip
        assert rows[rel]["status"] == "failed" and bad in rows[rel]["reason"], rows[rel]
    assert "a/checkpoint" in out["problems"] and "FIFO" in out["problems"]["a/checkpoint"]
    assert rows["a/model.ckpt-1"]["status"] == "converted"


def test_dry_run_reports_a_corrupt_index_as_would_fail(tree, tmp_path, capsys):
    index = tree / "b" / "model.ckpt-2.index"
    index.write_bytes(index.read_bytes()[:-9])
    shard = tree / "a" / "model.ckpt-1.data-00000-of-00001"
    shard.write_bytes(shard.read_bytes()[:10])
    code, out = run_json(capsys, str(tree), str(tmp_path / "dst"), "--dry-run")
    rows = {i["rel"]: i for i in out["items"]}
    assert rows["b/model.ckpt-2"]["status"] == "would fail"
    assert "model.ckpt-2.index" in rows["b/model.ckpt-2"]["reason"]
    assert rows["a/model.ckpt-1"]["status"] == "would fail"
    assert "needs bytes up to" in rows["a/model.ckpt-1"]["reason"]
    assert not (tmp_path / "dst").exists()


def _without_dac_override() -> list[str]:
    """A command prefix under which permission bits bind (root ignores them)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permission bits cannot be tested")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_unreadable_subdirectory_is_reported_and_fails(tree, tmp_path):
    (tree / "b").chmod(0)
    try:
        proc = subprocess.run([*_without_dac_override(), *cli_command(), "batch", str(tree),
                               str(tmp_path / "dst"), "--json", "-j", "1"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        (tree / "b").chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["problems"] == {"b": "cannot list directory: Permission denied"}
    assert [(i["rel"], i["status"]) for i in out["items"]] == [("a/model.ckpt-1", "converted")]
    text = subprocess.run([*_without_dac_override(), *cli_command(), "batch", str(tree),
                           str(tmp_path / "dst2"), "-j", "1"], capture_output=True, text=True,
                          timeout=120, preexec_fn=lambda: (tree / "b").chmod(0))  # fmt: skip
    (tree / "b").chmod(0o755)
    assert text.returncode == 1 and "problem: b: cannot list directory" in text.stdout


# -- #14.3: one batch per destination; workers die with their parent ------------------


def test_a_second_batch_on_the_same_destination_is_refused(tree, tmp_path, capsys):
    dst = tmp_path / "dst"
    dst.mkdir()
    fd = os.open(dst / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, json.dumps({"pid": 4242, "host": "trainer-3", "started": 0}).encode())
        assert main(["batch", str(tree), str(dst), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert "in use by another batch (pid 4242 on trainer-3" in err
    finally:
        os.close(fd)
    assert main(["batch", str(tree), str(dst), "--quiet", "-j", "1"]) == 0


def test_lock_file_that_is_a_symlink_is_not_followed(tree, tmp_path, capsys):
    dst = tmp_path / "dst"
    dst.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (dst / LOCK_NAME).symlink_to(victim)
    assert main(["batch", str(tree), str(dst), "--quiet"]) == 1
    assert "is a symlink" in capsys.readouterr().err and victim.read_text() == "keep me"


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - found
        found |= frontier
    return found


def _one_done(dst: Path) -> bool:
    try:
        items = json.loads((dst / MANIFEST_NAME).read_text())["items"]
    except (OSError, ValueError):
        return False
    return any(v["status"] == "done" for v in items.values())


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkilled_batch_leaves_no_workers_and_resumes_identically(tmp_path):
    src = tmp_path / "src"
    rng = np.random.default_rng(0)
    for i in range(12):
        with BundleWriter(str(src / f"run{i:02d}" / "model.ckpt-1"), fsync=False) as w:
            for v in range(4):
                w.add(f"layer{v}/kernel", rng.standard_normal((512, 1024), dtype=np.float32))
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen(
        [*cli_command(), "batch", str(src), str(killed), "-j", "2", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not _one_done(killed):
            time.sleep(0.005)
        workers = _children(proc.pid)  # two workers and the resource tracker
        assert proc.poll() is None, "the batch ended before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(workers) >= 3, workers
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.05)
    assert not [p for p in workers if _alive(p)], "workers outlived their parent"
    assert main(["batch", str(src), str(killed), "-j", "2", "--quiet"]) == 0
    assert main(["batch", str(src), str(clean), "-j", "2", "--quiet"]) == 0

    def files(root: Path) -> dict[str, bytes]:
        return {k: v for k, v in snapshot(root).items() if not k.endswith(LOCK_NAME)
                and not k.endswith(MANIFEST_NAME)}  # fmt: skip

    assert files(killed) == files(clean)
    assert not [p for p in killed.rglob("*") if is_temp(p.name)]


# -- #14.10: SavedModels stay SavedModels -----------------------------------------------


@pytest.mark.tf
def test_savedmodel_destination_loads_with_the_stock_tf1_loader(realdata, tmp_path, tf, capsys):
    src = tmp_path / "src"
    shutil.copytree(realdata / "serving_saved_model_half_plus_two_cpu" / "00000123",
                    src / "half_plus_two" / "1")  # fmt: skip
    for to in ("tf2", "v2"):
        dst = tmp_path / f"dst_{to}"
        code, out = run_json(capsys, str(src), str(dst), "--to", to)
        assert code == 0 and out["items"][0]["kind"] == "savedmodel"
        model = dst / "half_plus_two" / "1"
        assert (model / "assets" / "foo.txt").read_bytes() == \
            (src / "half_plus_two" / "1" / "assets" / "foo.txt").read_bytes()  # fmt: skip
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(model))
            y = sess.run("y:0", feed_dict={"x:0": np.array([[1.0], [2.0]], np.float32)})
        assert y.tolist() == [[2.5], [3.0]]


def test_url_roots_are_compared_as_normalised_paths(capsys):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe_file("/roots/a/x/model.ckpt-1.index", b"not read")
    for dst, says in (("memory://roots/a/", "is the source directory"),
                      ("memory://roots/a/x/..", "is the source directory"),
                      ("memory://roots", "contains the source directory")):  # fmt: skip
        assert main(["batch", "memory://roots/a", dst, "--quiet", "--overwrite"]) == 1
        assert says in capsys.readouterr().err, dst
    assert fs.cat_file("/roots/a/x/model.ckpt-1.index") == b"not read"
    fs.rm("/roots", recursive=True)


def test_scheduler_needs_the_dask_engine(tree, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["batch", str(tree), str(tmp_path / "dst"), "--scheduler", "tcp://127.0.0.1:1"])
    assert exit_.value.code == 2


def test_a_bind_mount_of_the_source_is_the_source(tree, tmp_path, capsys):
    bind = tmp_path / "bind"
    bind.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(tree), str(bind)],
                                           capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("cannot bind-mount here (needs root and mount)")
    try:
        before = snapshot(tree)
        for dst in (bind, bind / "a" / "..", bind.parent / "bind" / "b"):
            code = main(["batch", str(tree), str(dst), "--quiet", "--overwrite", "-j", "1"])
            err = capsys.readouterr().err
            if dst.name == "b":  # DST inside the source, reached through the bind: skipped, safe
                assert code == 0
                continue
            assert code == 1 and "is the source directory" in err, (dst, err)
        after = snapshot(tree)
        assert {k: after.get(k) for k in before} == before  # every source byte as it was
    finally:
        subprocess.run(["umount", str(bind)], check=False)
