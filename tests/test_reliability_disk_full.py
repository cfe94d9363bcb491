"""A full disk during ``Saver.save`` (issue #13.10): the failed save leaves nothing it
created (no complete but unlisted checkpoint, no temporaries), the state file and the
earlier checkpoints are as before, and the error names the checkpoint and the step.

Two ways: ``ENOSPC`` injected at every file operation of a save (``DiskFull``, the crash
harness's recorder, which lets clean-ups run), and real full ``tmpfs`` mounts of several
sizes in a private mount namespace, so TensorFlow's own writes fail too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from legacy_saver.state import get_checkpoint_state, latest_checkpoint
from tests.helpers.crash import DiskFull, SaverRig, recording, saver_modules, step_of
from tests.helpers.paths import ROOT


def _listed(d: str) -> list[str]:
    return [os.path.basename(p) for p in get_checkpoint_state(d).all_model_checkpoint_paths]


@pytest.mark.slow
@pytest.mark.parametrize("sharded", [False, True])
def test_enospc_at_every_file_operation_of_a_save(tf, tmp_path, sharded, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    rig = SaverRig(tf, sharded)
    template = str(tmp_path / "template")
    keeper = rig.new_saver()
    rig.save(keeper, template, 1)
    rig.save(keeper, template, 2)
    with recording(DiskFull(), saver_modules()) as rec:  # the reference run
        d = str(tmp_path / "reference")
        shutil.copytree(template, d)
        rig.save(rig.new_saver(), d, 3)
    outcomes = {"raised": 0, "saved": 0}
    for k in range(len(rec.ops)):
        d = str(tmp_path / f"full{k:03d}")
        shutil.copytree(template, d)
        fault = DiskFull(k)
        error = None
        with recording(fault, saver_modules()):
            try:
                rig.save(rig.new_saver(), d, 3)
            except (OSError, tf.errors.OpError) as e:
                error = e
        where = f"ENOSPC at {fault.failed}"
        names = os.listdir(d)
        assert not [n for n in names if ".tmp-" in n], (where, names)
        if error is not None:
            outcomes["raised"] += 1
            assert "could not save checkpoint" in str(error), (where, error)
            assert os.path.join(d, "model-3") in str(error), (where, error)
            assert "No space left on device" in str(error), (where, error)
            assert not [n for n in names if n.startswith("model-3")], (where, names)
            assert _listed(d) == ["model-1", "model-2"], where
            assert step_of(latest_checkpoint(d)) == 2, where
        else:  # the failed operation was one a save may survive (e.g. a directory fsync)
            outcomes["saved"] += 1
            assert step_of(latest_checkpoint(d)) == 3, where
        rig.save(rig.new_saver(), d, 4)  # and the next save works
        assert step_of(latest_checkpoint(d)) == 4
    assert outcomes["raised"] > 5
    print(f"\nRESULT disk full sharded={sharded}: {len(rec.ops)} operations, {outcomes}")


FILL = textwrap.dedent("""
    # In a private tmpfs: for each amount of room R (pages), a fresh run directory, one
    # good save, the disk filled to leave R free pages, a second save. One JSON line per R.
    import json, os, shutil, sys
    sys.path.insert(0, sys.argv[3])
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    from legacy_saver import Saver, latest_checkpoint, load_checkpoint
    from legacy_saver.state import get_checkpoint_state
    v1 = tf.compat.v1
    mount, elements, rooms = sys.argv[1], int(sys.argv[2]), int(sys.argv[4])
    page = os.statvfs(mount).f_frsize
    with tf.Graph().as_default() as g:
        w = v1.get_variable("w", [elements], initializer=v1.ones_initializer())
        bump = w.assign_add(tf.ones([elements]))
        with v1.Session(graph=g) as sess:
            for room in range(rooms):
                sess.run(v1.global_variables_initializer())
                d = os.path.join(mount, f"run{room}")
                os.mkdir(d)
                saver = Saver(max_to_keep=None)
                saver.save(sess, os.path.join(d, "model"), global_step=1)
                st = os.statvfs(mount)
                with open(os.path.join(mount, "filler"), "wb") as f:
                    f.write(b"x" * max(0, (st.f_bavail - room) * page))
                sess.run(bump)
                error = None
                try:
                    saver.save(sess, os.path.join(d, "model"), global_step=2)
                except Exception as e:
                    error = f"{type(e).__name__}: {e}".split(chr(10))[0]
                os.remove(os.path.join(mount, "filler"))
                names = sorted(os.listdir(d))
                state = get_checkpoint_state(d)
                listed = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
                latest = latest_checkpoint(d)
                value = float(load_checkpoint(latest).get_tensor("w")[0])
                print(json.dumps({"room": room, "error": error, "names": names,
                                  "listed": listed, "latest": os.path.basename(latest),
                                  "value": value}), flush=True)
                shutil.rmtree(d)
""")


@pytest.mark.slow
def test_a_real_full_disk_at_every_amount_of_room(tmp_path):
    probe = subprocess.run(["unshare", "--mount", "--map-root-user", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no private mount namespace here (unshare --mount)")
    mount = tmp_path / "small"
    mount.mkdir()
    script = tmp_path / "fill.py"
    script.write_text(FILL)
    shell = (f"mount -t tmpfs -o size=4m none {mount} && "
             f"{sys.executable} {script} {mount} 9000 {ROOT} 24")  # fmt: skip
    done = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", shell],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    runs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(runs) == 24, done.stdout + done.stderr[-3000:]
    steps = set()
    for run in runs:
        names, error = run["names"], run["error"]
        assert not [n for n in names if ".tmp-" in n], run
        on_disk = {n.split(".")[0] for n in names if n.endswith(".index")}
        assert on_disk == set(run["listed"]), run  # nothing complete but unlisted
        if error is None:
            assert run["latest"] == "model-2" and run["value"] == 2.0, run
            continue
        assert f"could not save checkpoint '{mount}/run{run['room']}/model-2' (" in error, run
        assert not [n for n in names if n.startswith("model-2.")], run  # nothing kept
        assert run["latest"] == "model-1" and run["value"] == 1.0, run
        steps.add(error.split("(writing ", 1)[1].split(")")[0].split(" /")[0])
    print(
        f"\nRESULT real full disk: {len(runs)} amounts of room, failed steps {sorted(steps)}, "
        f"{sum(r['error'] is None for r in runs)} saves fitted"
    )
    assert {"its data and index", "its .meta", "the state file"} <= steps, steps
