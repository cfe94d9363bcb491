"""The allowlist is complete for the installed TensorFlow, and everything else is unsafe."""

from __future__ import annotations

import re

import pytest

from legacy_saver.metagraph import ops
from legacy_saver.metagraph.ops import ALLOWED, CALL_OPS, CONDITIONS, UNLISTED, UNSAFE

# String attributes that could name a file, a URL or a process; an allowed op may have one
# only behind a CONDITIONS entry.
PATHLIKE = re.compile(
    r"(^|_)(file|filename|path|dir|directory|url|uri|stream|descriptor|vocab|logdir"
    r"|address|host|target)s?($|_)"
)


def _registered(tf):
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session as c_api

    buffer = c_api.TF_GetAllOpList()
    return {op.name: op for op in op_def_pb2.OpList.FromString(c_api.TF_GetBuffer(buffer)).op}


def test_every_registered_op_is_classified(tf):
    registered = _registered(tf)
    unclassified = sorted(set(registered) - ALLOWED - set(UNSAFE))
    assert not unclassified, (
        f"{len(unclassified)} op(s) of this TensorFlow are in neither list of "
        f"legacy_saver/metagraph/ops.py (they are unsafe until classified): {unclassified}"
    )
    assert not ALLOWED & set(UNSAFE)
    assert len(registered) > 1500


def test_unknown_and_unregistered_ops_are_unsafe(tf):
    for name in ["ZzBrandNewOp", "Addons>ImageProjectiveTransformV2", "SentencepieceOp", ""]:
        assert ops.unsafe_reason(name, lambda _attr: None) == UNLISTED
    assert ops.unsafe_reason("MatMul", lambda _attr: None) is None


def test_ops_that_run_functions_are_walked(tf):
    registered = _registered(tf)
    for name in sorted(ALLOWED & set(registered)):
        funcs = tuple(a.name for a in registered[name].attr if a.type in ("func", "list(func)"))
        if funcs:
            assert CALL_OPS.get(name) == funcs, f"{name} runs functions {funcs} not walked"
    assert set(CALL_OPS) <= ALLOWED


def test_no_allowed_op_takes_a_path_unless_conditioned(tf):
    registered = _registered(tf)
    for name in sorted(ALLOWED & set(registered)):
        for attr in registered[name].attr:
            if attr.type == "string" and PATHLIKE.search(attr.name):
                assert name in CONDITIONS and CONDITIONS[name][0] == attr.name, (name, attr.name)


@pytest.mark.parametrize(
    "op, reason",
    [
        ("WriteFile", "reads or writes files"),
        ("ReadFile", "reads or writes files"),
        ("ImmutableConst", "reads or writes files"),
        ("MatchingFiles", "reads or writes files"),
        ("WholeFileReaderV2", "reads or writes files"),
        ("TextLineDataset", "tf.data"),
        ("FixedLengthRecordDataset", "tf.data"),
        ("SaveV2", "checkpoint"),
        ("MergeV2Checkpoints", "checkpoint"),
        ("PyFunc", "Python"),
        ("EagerPyFunc", "Python"),
        ("Abort", "process control"),
        ("Recv", "another process"),
        ("_Recv", "internal op"),
        ("RpcServer", "another process"),
        ("CollectiveReduceV2", "another process"),
        ("DumpTensor", "debug"),
        ("CalibrationStatisticsSaver", "debug"),
        ("DebugIdentityV2", "debug"),
        ("WriteSummary", "event files"),
        ("CreateSummaryFileWriter", "reads or writes files"),
        ("DatasetFromGraph", "serialized graph"),
        ("MlirPassthroughOp", "serialized graph"),
        ("QueueDequeueV2", "block forever"),
        ("DecodeProtoV2", "descriptors"),
        ("SymbolicGradient", "experimental"),
    ],
)
def test_known_attacks_are_unsafe(op, reason):
    assert op not in ALLOWED
    assert reason in UNSAFE[op]


def test_print_is_allowed_to_standard_streams_only():
    attrs = {"output_stream": "stderr"}
    assert ops.unsafe_reason("PrintV2", attrs.get) is None
    assert ops.unsafe_reason("PrintV2", {}.get) is None  # the default: stderr
    to_file = {"output_stream": "file:///etc/cron.d/x"}.get
    assert "not a standard stream" in (ops.unsafe_reason("PrintV2", to_file) or "")
