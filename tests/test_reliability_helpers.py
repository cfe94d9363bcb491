"""The shared reliability helpers (``tests/helpers/cases.py``) check what they claim."""

from __future__ import annotations

import os

import pytest

from legacy_saver import DType, load_checkpoint
from legacy_saver.bundle import BundleReader
from tests.helpers.cases import (
    Hang,
    check_outcome,
    guarded,
    header_bytes,
    write_every_dtype,
    write_table,
)


def test_every_dtype_checkpoint_round_trips(tmp_path):
    prefix = str(tmp_path / "all")
    oracle = write_every_dtype(prefix)
    dtypes = {load_checkpoint(prefix).dtype(k) for k in oracle}
    assert {DType.STRING, DType.BFLOAT16, DType.FLOAT16, DType.COMPLEX64, DType.BOOL} <= dtypes
    assert check_outcome(prefix, oracle, prefix + ".index") == "benign"
    assert os.path.getsize(prefix + ".data-00001-of-00002") > 0


def test_check_outcome_catches_a_silent_wrong_value(tmp_path):
    prefix = str(tmp_path / "all")
    oracle = write_every_dtype(prefix)
    wrong = dict(oracle, **{"num/f32": oracle["num/f32"] + 1})
    with pytest.raises(AssertionError, match="silent wrong value"):
        check_outcome(prefix, wrong, prefix + ".index")


def test_hand_framed_table_reads_back(tmp_path):
    path = str(tmp_path / "t.index")
    write_table(path, [(b"", header_bytes())])
    assert BundleReader(str(tmp_path / "t")).keys() == []


def test_guard_stops_a_hang():
    def spin() -> None:
        while True:
            pass

    with pytest.raises(Hang):
        guarded(spin, timeout_s=1)
