"""The state-file table of RELIABILITY.md: every hostile ``checkpoint`` file
and what ``latest_checkpoint`` (and ``load_checkpoint(dir)``) make of it.

Each case ends in an explicit error or a documented fallback (a
``StateFileWarning``), never TensorFlow's silent ``None``. The unit tests of
the state module itself are in ``tests/test_state.py``; this file is the
systematic table, and ``scripts/state_vs_tf.py`` adds TensorFlow's column.
"""

from __future__ import annotations

import os

import pytest

from legacy_saver import CheckpointNotFoundError, StateFileError, load_checkpoint
from legacy_saver.state import latest_checkpoint
from tests.helpers.state_cases import (
    CASES,
    make_directory,
    our_outcome,
    write_state,
)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_state_file_case(tmp_path, case):
    run, other = make_directory(str(tmp_path))
    write_state(run, other, case)
    assert our_outcome(run) == case.expect


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.expect.startswith("error")],
    ids=[c.name for c in CASES if c.expect.startswith("error")],
)
def test_load_checkpoint_of_the_directory_refuses_too(tmp_path, case):
    """``load_checkpoint(dir)`` must not fall through to "the only checkpoint"
    when the state file is there but bad."""
    run, other = make_directory(str(tmp_path))
    write_state(run, other, case)
    with pytest.raises((StateFileError, CheckpointNotFoundError)):
        load_checkpoint(run)


def test_outside_paths_are_allowed_when_asked(tmp_path):
    run, other = make_directory(str(tmp_path))
    write_state(
        run, other, CASES[[c.name for c in CASES].index("../ path to an existing checkpoint")]
    )
    assert latest_checkpoint(run, allow_outside=True) == os.path.join(run, "../other/ckpt-5")
