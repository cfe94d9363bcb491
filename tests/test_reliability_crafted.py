"""Crafted checkpoints with valid checksums: the reader must refuse them with a
``CheckpointError`` (or read what they legitimately say), in bounded time and
memory, never crash.

``CASES`` is a catalogue of named hostile files built with our own table
framing and ``BundleEntryProto`` (so every block crc is valid);
``test_structured_fuzz`` is a Hypothesis generator over the same fields.
``scripts/crafted_vs_tf.py`` runs the catalogue through stock TensorFlow in
subprocesses for the comparison figure in RELIABILITY.md, and
``scripts/fuzz_index.py`` fuzzes raw bytes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legacy_saver import CheckpointError
from tests.helpers.cases import (
    block_of,
    frame_block,
    guarded,
    header_bytes,
    read_everything,
)
from tests.helpers.crafted import (
    CASES,
    FLOATS,
    LEGITIMATE,
    STR_SAMPLE,
    bundle,
    entry_bytes,
    run_case,
)


@pytest.mark.parametrize("name", sorted(CASES))
def test_crafted_case(name, tmp_path):
    prefix = CASES[name](str(tmp_path))
    outcome, _, _ = run_case(prefix)
    if name in LEGITIMATE:
        return  # valid files: read as TF reads them (checked below), or refused cleanly
    assert outcome != "ok", f"{name}: crafted file read without complaint"


def test_reference_dtypes_read_as_their_base_type(tmp_path):
    from legacy_saver import DType, load_checkpoint

    prefix = CASES["dtype float_ref (101)"](str(tmp_path))
    reader = load_checkpoint(prefix)
    assert reader.dtype("t") == DType.FLOAT32
    np.testing.assert_array_equal(reader.get_tensor("t"), FLOATS)


def test_big_endian_header_swaps_bytes_like_tf(tmp_path):
    from legacy_saver import load_checkpoint

    prefix = CASES["big-endian header, little-endian floats"](str(tmp_path))
    got = load_checkpoint(prefix).get_tensor("t")
    np.testing.assert_array_equal(got, FLOATS.byteswap().view("<f4"))


def test_error_messages_name_file_and_key(tmp_path):
    for name, needle in [
        ("offset beyond shard", "'t'"),
        ("dtype 999 (unknown)", "'t'"),
        ("rank 300", "ckpt.index"),
        ("snappy block claims 2**40", "ckpt.index"),
    ]:
        d = tmp_path / name.replace(" ", "_").replace("*", "")
        d.mkdir()
        prefix = CASES[name](str(d))
        result = guarded(lambda p=prefix: read_everything(p))
        assert isinstance(result.error, CheckpointError), name
        assert "ckpt" in str(result.error) and needle in str(result.error), str(result.error)


# -- structured generator -----------------------------------------------------

_DIMS = st.sampled_from([0, 1, 2, 4, 16, -1, 2**31, 2**32 + 1, 2**62, 2**63 - 1, -(2**63)])
_I64 = st.sampled_from([0, 1, 4, 16, 63, 64, 65, 2**31, 2**40, 2**63 - 1, -1, -(2**63)])
_DTYPES = st.one_of(
    st.integers(-3, 32), st.integers(99, 130), st.sampled_from([200, 999, 2**31 - 1])
)


@st.composite
def crafted_bundles(draw: st.DrawFn) -> dict[str, object]:
    entries = []
    for i in range(draw(st.integers(0, 3))):
        sliced = draw(st.booleans()) and i == 0
        shape = tuple(draw(st.lists(_DIMS, max_size=4)))
        entries.append(
            (
                f"k{i}".encode(),
                entry_bytes(
                    dtype=draw(_DTYPES),
                    shape=shape,
                    shard_id=draw(st.sampled_from([0, 0, 1, 7, -1])),
                    offset=draw(_I64),
                    size=draw(st.one_of(st.none(), _I64)),
                    crc=draw(st.one_of(st.none(), st.integers(0, 2**32 - 1))),
                    slices=[[(draw(_I64), draw(st.one_of(st.none(), _I64))) for _ in shape]]
                    if sliced
                    else [],
                ),
            )
        )
    header = header_bytes(
        num_shards=draw(st.sampled_from([1, 1, 2, 0, -1, 2**31 - 1])),
        endianness=draw(st.sampled_from([0, 0, 1, 2])),
        min_consumer=draw(st.sampled_from([0, 0, 1, 2])),
        bad_consumers=tuple(draw(st.lists(st.integers(0, 3), max_size=2))),
    )
    data = draw(st.sampled_from([FLOATS.tobytes(), STR_SAMPLE, b"", bytes(range(256))]))
    return {
        "entries": entries,
        "header": header,
        "data": data,
        "unsorted": draw(st.booleans()),
        "kind": draw(st.sampled_from([0, 0, 0, 1])),
    }


def build_generated(d: str, case: dict[str, object]) -> str:
    entries = list(case["entries"])  # type: ignore[call-overload]
    if not case["unsorted"]:
        entries.sort()
    head = [(b"", case["header"])]
    block = block_of(head + entries)  # type: ignore[operator]
    kind = int(case["kind"])  # type: ignore[call-overload]
    if kind == 1:
        import cramjam

        block = bytes(cramjam.snappy.compress_raw(block))
    return bundle(
        d,
        entries,
        header=case["header"],
        shards={0: case["data"], 1: case["data"]},  # type: ignore[arg-type]
        data_block=block,
        data_kind=kind,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=crafted_bundles())
def test_structured_fuzz(case, tmp_path_factory):
    d = str(tmp_path_factory.mktemp("gen"))
    run_case(build_generated(d, case), timeout_s=10)


def test_frame_block_checksum_is_valid():
    framed = frame_block(b"abc")
    assert framed[3] == 0 and len(framed) == 8
