"""The pure retention policy: no files, no TensorFlow."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

# retention.py is pure: load it without importing the saver package (which imports TF).
_PATH = Path(__file__).resolve().parents[1] / "legacy_saver" / "saver" / "retention.py"
_SPEC = importlib.util.spec_from_file_location("_retention_under_test", _PATH)
retention = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = retention
_SPEC.loader.exec_module(retention)

Recorded = retention.Recorded
Options = retention.RetentionOptions
HOUR = 3600.0


def records(*stamps: float) -> list:
    return [Recorded(f"ckpt-{int(t)}", t) for t in stamps]


def test_keeps_max_to_keep_newest_and_deletes_every_surplus_at_once():
    old = records(1, 2, 3, 4, 5)  # e.g. adopted after a restart with max_to_keep=5
    plan = retention.plan(old, Recorded("ckpt-6", 6), 0.5, Options(2, None))
    assert [r.path for r in plan.keep] == ["ckpt-5", "ckpt-6"]
    assert plan.delete == ("ckpt-1", "ckpt-2", "ckpt-3", "ckpt-4")


def test_max_to_keep_none_or_zero_keeps_everything():
    for max_to_keep in (None, 0):
        plan = retention.plan(records(1, 2, 3), Recorded("ckpt-4", 4), 0.0, Options(max_to_keep))
        assert plan.delete == ()
        assert len(plan.keep) == 4


def test_same_path_saved_again_replaces_its_record_and_is_not_deleted():
    plan = retention.plan(records(1, 2), Recorded("ckpt-1", 9), 0.0, Options(2, None))
    assert [(r.path, r.timestamp) for r in plan.keep] == [("ckpt-2", 2), ("ckpt-1", 9)]
    assert plan.delete == ()


def test_keep_every_n_hours_preserves_and_keeps_them_listed():
    stamps = [0.5 * HOUR * i for i in range(1, 8)]  # every 30 minutes
    kept, preserved_at = [], 0.0
    for stamp in stamps:
        plan = retention.plan(kept, Recorded(f"c{stamp}", stamp), preserved_at, Options(2, 1.0))
        kept, preserved_at = list(plan.keep), plan.last_preserved_timestamp
    # 30 min: deleted; 1 h: preserved; 1.5 h: deleted; 2 h: preserved; 2.5 h: deleted
    assert [r.timestamp / HOUR for r in kept] == [1.0, 2.0, 3.0, 3.5]
    assert preserved_at == 2.0 * HOUR


def test_preserved_checkpoints_survive_later_plans():
    preserved = Recorded("old", 10.0)
    plan = retention.plan([preserved, *records(20, 30)], Recorded("new", 40), 10.0, Options(1, 1.0))
    assert "old" in [r.path for r in plan.keep]
    assert "old" not in plan.delete


def test_never_deletes_the_newest_even_with_clock_going_back():
    plan = retention.plan(records(100, 200), Recorded("new", 50), 300.0, Options(1, None))
    assert plan.keep[-1].path == "new"
    assert "new" not in plan.delete


def test_initial_anchor():
    assert retention.initial_anchor([5.0, 7.0], 3.0, 100.0) == 3.0  # stored wins
    assert retention.initial_anchor([5.0, 7.0], 0.0, 100.0) == 4.0  # TF Saver files: all active
    assert retention.initial_anchor([], 0.0, 100.0) == 99.0  # new directory: as CheckpointManager


@given(
    st.lists(st.floats(1, 1e6, allow_nan=False), max_size=30),
    st.integers(0, 6),
    st.one_of(st.none(), st.floats(0.001, 10)),
)
def test_invariants(stamps, max_to_keep, hours):
    kept, preserved_at, deleted = [], 0.0, []
    for i, stamp in enumerate(sorted(stamps)):
        new = Recorded(f"c{i}", stamp)
        plan = retention.plan(kept, new, preserved_at, Options(max_to_keep, hours))
        assert plan.keep[-1] == new  # the newest is always kept
        assert not set(plan.delete) & {r.path for r in plan.keep}
        assert set(plan.delete) <= {r.path for r in kept}  # only known ones are deleted
        assert plan.last_preserved_timestamp >= preserved_at
        active = [r for r in plan.keep if r.timestamp > plan.last_preserved_timestamp]
        if max_to_keep:
            assert len(active) <= max_to_keep
        deleted += plan.delete
        kept, preserved_at = list(plan.keep), plan.last_preserved_timestamp
    assert len(kept) + len(deleted) == len(stamps)
