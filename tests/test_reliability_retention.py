"""Retention under restarts, clock jumps, manual deletes and crashes, against a
reference model of ``max_to_keep`` / ``keep_checkpoint_every_n_hours``.

The model (``Model``) is the rule as the Saver documents it, written
independently of ``legacy_saver.saver.retention``: after each save the active
(non-preserved) checkpoints beyond ``max_to_keep`` leave, oldest first; one
leaving at least ``n`` hours after the last preserved one is preserved (kept
for good, and the anchor moves), any other is deleted. A restart forgets
checkpoints whose files are gone. Two machines check it: one over the pure
``retention.plan``, one over the real ``Saver`` with files and a fake clock.
Set ``RELIABILITY_EXAMPLES`` to run more sequences (the figure in RELIABILITY.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "0"))
HOUR = 3600.0


@dataclass
class Model:
    max_to_keep: int
    hours: float
    anchor: float
    kept: list[tuple[str, float]] = field(default_factory=list)  # oldest first
    deleted: list[str] = field(default_factory=list)

    def save(self, path: str, now: float) -> list[str]:
        self.kept = [(p, t) for p, t in self.kept if p != path] + [(path, now)]
        if not self.max_to_keep:
            return []
        doomed = []
        active = [(p, t) for p, t in self.kept if t > self.anchor]
        while len(active) > self.max_to_keep:
            p, t = active.pop(0)
            if self.hours > 0 and t >= self.anchor + self.hours * HOUR:
                self.anchor = t
            else:
                doomed.append(p)
        self.kept = [(p, t) for p, t in self.kept if p not in doomed]
        self.deleted += doomed
        return doomed


# -- the pure policy -----------------------------------------------------------------


class PolicyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        from legacy_saver.saver import retention

        self.retention = retention
        self.clock = 1_000_000.0
        self.step = 0
        self.model: Model | None = None
        self.records: list = []
        self.anchor = 0.0

    @precondition(lambda self: self.model is None)
    @rule(max_to_keep=st.sampled_from([0, 1, 2, 3, 5]), hours=st.sampled_from([0.0, 1.0, 2.5]))
    def start(self, max_to_keep: int, hours: float) -> None:
        self.options = self.retention.RetentionOptions(max_to_keep, hours)
        self.anchor = self.clock
        self.model = Model(max_to_keep, hours, self.clock)

    @precondition(lambda self: self.model is not None)
    @rule()
    def save(self) -> None:
        self.step += 1
        new = self.retention.Recorded(f"ckpt-{self.step}", self.clock)
        plan = self.retention.plan(self.records, new, self.anchor, self.options)
        doomed = self.model.save(new.path, self.clock)  # type: ignore[union-attr]
        assert list(plan.delete) == doomed
        assert [(r.path, r.timestamp) for r in plan.keep] == self.model.kept  # type: ignore[union-attr]
        assert plan.keep[-1] == new and new.path not in plan.delete
        self.records, self.anchor = list(plan.keep), plan.last_preserved_timestamp
        assert self.anchor == self.model.anchor  # type: ignore[union-attr]

    @rule(hours=st.sampled_from([0.0, 0.1, 0.9, 1.0, 2.5, 30.0]))
    def clock_jump(self, hours: float) -> None:
        self.clock += hours * HOUR

    @precondition(lambda self: self.model is not None and len(self.records) > 1)
    @rule(i=st.integers(0, 10))
    def restart_after_manual_delete(self, i: int) -> None:
        """A user deleted a kept checkpoint; the restarted Saver no longer lists it."""
        gone = self.records[i % (len(self.records) - 1)].path
        self.records = [r for r in self.records if r.path != gone]
        self.model.kept = [(p, t) for p, t in self.model.kept if p != gone]  # type: ignore[union-attr]

    @invariant()
    def active_within_limit(self) -> None:
        if self.model and self.model.max_to_keep:
            active = [r for r in self.records if r.timestamp > self.anchor]
            assert len(active) <= self.model.max_to_keep


TestRetentionPolicy = PolicyMachine.TestCase
TestRetentionPolicy.settings = settings(
    max_examples=EXAMPLES or 200, stateful_step_count=30, deadline=None
)


# -- the Saver, with files -----------------------------------------------------------


class FakeTime:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def checkpoint_files(d: str) -> set[str]:
    return {n for n in os.listdir(d) if n.startswith("model-")}


@pytest.mark.slow
def test_saver_retention_state_machine(tf, tmp_path_factory, monkeypatch):
    from legacy_saver import state
    from legacy_saver.bundle import fileio, files, temps
    from legacy_saver.bundle.naming import is_temp
    from legacy_saver.saver import ledger, saver
    from tests.helpers.crash import Crash, Recorder, SaverRig, recording, step_of

    clock = FakeTime(1_000_000.0)
    monkeypatch.setattr(ledger, "time", clock)
    monkeypatch.setattr(saver, "time", clock)
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    rig = SaverRig(tf, sharded=False)
    stats = {"sequences": 0, "steps": 0, "crashes": 0}

    class SaverMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.dir = str(tmp_path_factory.mktemp("ret"))
            self.step = 0
            self.orphans: set[str] = set()  # files a crash mid-delete left behind
            self.max_to_keep, self.hours = 2, 1.0
            self.saver = None
            stats["sequences"] += 1

        def _new_saver(self):  # noqa: ANN202
            with rig.graph.as_default():
                return rig.Saver(
                    max_to_keep=self.max_to_keep,
                    keep_checkpoint_every_n_hours=self.hours,
                    save_relative_paths=True,
                )

        @precondition(lambda self: self.saver is None)
        @rule(max_to_keep=st.sampled_from([1, 2, 3]), hours=st.sampled_from([0.0, 1.0]))
        def start(self, max_to_keep: int, hours: float) -> None:
            self.max_to_keep, self.hours = max_to_keep, hours
            self.saver = self._new_saver()
            self.model = Model(max_to_keep, hours, clock.now - 1.0)  # as CheckpointManager

        @precondition(lambda self: self.saver is not None)
        @rule()
        def save(self) -> None:
            self.step += 1
            rig.save(self.saver, self.dir, self.step)
            self.model.save(os.path.join(self.dir, f"model-{self.step}"), clock.now)

        @precondition(lambda self: self.saver is not None)
        @rule(at=st.integers(0, 6))
        def crash_during_delete(self, at: int) -> None:
            """Save; the process dies at the ``at``-th file operation of its deletions
            (renames into the deletion's claim, removals); a new process starts."""
            self.step += 1
            doomed = self.model.save(os.path.join(self.dir, f"model-{self.step}"), clock.now)
            rec = Recorder()
            seen, listed = [0], [False]  # deletions start once the state file is written
            original = rec.step

            def step(op: str, path: str) -> None:
                src, _, dst = path.partition(" -> ")
                name, target = os.path.basename(src), os.path.basename(dst)
                deleting = listed[0] and (
                    (op == "replace" and name.startswith("model-") and is_temp(target))
                    or (op == "remove" and is_temp(name) and not name.endswith(".lock"))
                )  # not the sweep of an earlier crash's leftovers, before the save
                listed[0] = listed[0] or (op == "replace" and target == "checkpoint")
                if deleting:
                    seen[0] += 1
                    if seen[0] > at:
                        rec.crashed = True
                if rec.crashed:
                    raise Crash(path)
                original(op, path)

            rec.step = step  # type: ignore[method-assign]
            with recording(rec, [files, temps, fileio]):
                try:
                    rig.save(self.saver, self.dir, self.step)
                except Crash:
                    pass
            stats["crashes"] += rec.crashed
            for p in doomed:
                base = os.path.basename(p)
                self.orphans |= {n for n in checkpoint_files(self.dir) if n.split(".")[0] == base}
            self.restart()

        @precondition(lambda self: self.saver is not None)
        @rule()
        def restart(self) -> None:
            self.saver = self._new_saver()
            if not os.path.exists(os.path.join(self.dir, "checkpoint")):  # nothing saved yet:
                self.model.anchor = clock.now - 1.0  # the new Saver's creation is the anchor
            self.model.kept = [(p, t) for p, t in self.model.kept if os.path.exists(p + ".index")]

        @rule(hours=st.sampled_from([0.0, 0.5, 1.0, 3.0, 48.0]))
        def clock_jump(self, hours: float) -> None:
            clock.now += hours * HOUR

        @precondition(lambda self: self.saver is not None and len(self.model.kept) > 1)
        @rule(i=st.integers(0, 10))
        def manual_delete_then_restart(self, i: int) -> None:
            gone = self.model.kept[i % (len(self.model.kept) - 1)][0]  # never the newest
            state.remove_checkpoint(gone)
            self.restart()

        @invariant()
        def disk_matches_model(self) -> None:
            stats["steps"] += 1
            if self.saver is None or not self.model.kept:
                return
            listed = state.get_checkpoint_state(self.dir).all_model_checkpoint_paths
            # a checkpoint the user deleted stays listed until the next save rewrites the file
            listed = [os.path.abspath(p) for p in listed if os.path.exists(p + ".index")]
            assert listed == [p for p, _ in self.model.kept]
            newest = os.path.join(self.dir, f"model-{self.step}")
            assert os.path.exists(newest + ".index") and os.path.exists(newest + ".meta")
            assert state.latest_checkpoint(self.dir) == newest
            expected = {
                n
                for n in checkpoint_files(self.dir)
                if n.split(".")[0] in {os.path.basename(p) for p, _ in self.model.kept}
            }
            assert checkpoint_files(self.dir) - expected == self.orphans, "orphaned files"
            for name in checkpoint_files(self.dir):  # an index there: a whole checkpoint
                if name.endswith(".index"):
                    step_of(os.path.join(self.dir, name[: -len(".index")]))

    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        SaverMachine,
        settings=settings(
            max_examples=EXAMPLES or 8,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    scripted = SaverMachine()  # and one sequence that surely crashes at each deletion step
    scripted.start(max_to_keep=1, hours=0.0)
    scripted.save()
    before = stats["crashes"]
    for at in range(7):
        scripted.crash_during_delete(at=at)
        scripted.disk_matches_model()
        scripted.save()
        scripted.disk_matches_model()
    assert stats["crashes"] - before >= 4, "the crash rule did not crash"
    print(
        f"\nRESULT saver retention: {stats['sequences']} sequences, {stats['steps']} steps, "
        f"{stats['crashes']} crashes mid-delete, 0 divergences"
    )
