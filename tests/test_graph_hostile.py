"""A corpus of hostile meta graphs, built here, refused in safe mode.

One case per attack of issue #12 and per way to reach an op: the SaverDef's restore closure
(V1 ``Save`` with a constant path, ``SaveV2`` fed by the filename, ``MergeV2Checkpoints``
moving the checkpoint away, a restore reading another checkpoint, a variable depending on a
write), the top-level graph (file readers, ``ReadFile``), nested and attribute-referenced
functions and collections; SavedModel main ops, assets and process control are in
``test_graph_hostile_saved_model.py``. Each asserts the refusal *and* that nothing was read,
written, moved or listened on (``tests.helpers.sentinel``: inotify, file snapshots, the
machine's listening sockets).
"""

from __future__ import annotations

import json
import warnings

import pytest

from legacy_saver.errors import UnsafeGraphError
from legacy_saver.graph import LegacyModel, scan
from legacy_saver.metagraph.loading import OWN_RESTORE
from legacy_saver.saver import import_meta_graph
from tests.helpers import hostile as H
from tests.helpers.sentinel import Sentinel


@pytest.fixture
def world(tf, tmp_path):
    """``(prefix, checkpoint dir, outside dir)``: the benign model and the attacker's targets."""
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    return H.base_checkpoint(tf, ckpt), ckpt, H.outside(tmp_path)


def _attack_restore(tf, prefix, plant):
    """Plant nodes with ``plant(graph_def.node)`` and make the restore op depend on them."""
    meta = H.read_meta(prefix + ".meta")
    body = meta.graph_def.node
    names = plant(body)
    H.add_node(body, "evil/restore", "NoOp", ["^save/restore_all", *(f"^{n}" for n in names)])
    meta.saver_def.restore_op_name = "evil/restore"
    H.write_meta(meta, prefix + ".meta")
    return meta


def _v1_save_constant_path(outside):
    def plant(body):
        H.string_const(body, "evil/path", str(outside / "victim.txt").encode())
        H.string_const(body, "evil/names", b"w", vector=True)
        H.float_const(body, "evil/value", 666.0)
        H.add_node(
            body,
            "evil/save",
            "Save",
            ["evil/path", "evil/names", "evil/value"],
            T={"types": [1]},
        )
        return ["evil/save"]

    return plant


def _savev2_fed_by_filename(_outside):
    def plant(body):
        H.string_const(body, "evil/names", b"w", vector=True)
        H.string_const(body, "evil/slices", b"", vector=True)
        H.float_const(body, "evil/value", 666.0)
        H.add_node(
            body,
            "evil/save",
            "SaveV2",
            ["save/Const", "evil/names", "evil/slices", "evil/value"],
            dtypes={"types": [1]},
        )
        return ["evil/save"]

    return plant


def _merge_moves_checkpoint(outside):
    def plant(body):
        H.add_node(body, "evil/prefixes", "Pack", ["save/Const"], T={"type": 7}, N=1, axis=0)
        H.string_const(body, "evil/destination", str(outside / "stolen").encode())
        H.add_node(
            body,
            "evil/merge",
            "MergeV2Checkpoints",
            ["evil/prefixes", "evil/destination"],
            delete_old_dirs=True,
        )
        return ["evil/merge"]

    return plant


@pytest.mark.parametrize(
    "plant, op_type",
    [
        (_v1_save_constant_path, "Save"),
        (_savev2_fed_by_filename, "SaveV2"),
        (_merge_moves_checkpoint, "MergeV2Checkpoints"),
    ],
    ids=["v1-save-constant-path", "savev2-fed-by-filename", "merge-moves-checkpoint"],
)
def test_restore_op_with_a_write_behind_a_noop(tf, world, plant, op_type):
    prefix, ckpt, outside = world
    _attack_restore(tf, prefix, plant(outside))
    report = scan(prefix)
    assert op_type in {f.op_type for f in report.findings}
    assert report.load[0].action == OWN_RESTORE
    assert any(
        "evil/restore" in n or "evil/save" in n or "evil/merge" in n for n in report.load[0].notes
    )
    with Sentinel(read=[outside], write=[ckpt, outside]) as sentinel:
        with pytest.warns(UserWarning, match="restore/save subgraph of our own"):
            model = LegacyModel.load(prefix)
        with model:
            assert model.run("w:0") == H.W  # the checkpoint's value, not the attacker's
        with tf.Graph().as_default(), pytest.raises(UnsafeGraphError, match=op_type):
            import_meta_graph(prefix + ".meta", safe=True)
    sentinel.assert_quiet()


def test_the_v1_save_attack_is_real_with_stock_tensorflow(tf, world):
    prefix, _ckpt, outside = world
    _attack_restore(tf, prefix, _v1_save_constant_path(outside))
    before = (outside / "victim.txt").read_bytes()
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.train.import_meta_graph(prefix + ".meta").restore(sess, prefix)
    assert (outside / "victim.txt").read_bytes() != before  # overwritten with a checkpoint


def test_restore_reading_another_checkpoint_is_not_canonical(tf, world, tmp_path):
    prefix, ckpt, outside = world
    secret_dir = tmp_path / "secret_ckpt"
    secret_dir.mkdir()
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        tf.compat.v1.get_variable("w", initializer=42.0)
        sess.run(tf.compat.v1.global_variables_initializer())
        secret = tf.compat.v1.train.Saver().save(sess, str(secret_dir / "secret"))
    meta = H.read_meta(prefix + ".meta")
    H.string_const(meta.graph_def.node, "evil/prefix", secret.encode())
    (restore,) = [n for n in meta.graph_def.node if n.name == "save/RestoreV2"]
    restore.input[0] = "evil/prefix"
    H.write_meta(meta, prefix + ".meta")
    report = scan(prefix)
    assert report.load[0].action == OWN_RESTORE
    assert any("is not the saver's filename tensor" in n for n in report.load[0].notes)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:  # stock: reads the other one
        tf.compat.v1.train.import_meta_graph(prefix + ".meta").restore(sess, prefix)
        assert sess.run("w/Read/ReadVariableOp:0") == 42.0
    with Sentinel(read=[secret_dir, outside], write=[ckpt]) as sentinel:
        with pytest.warns(UserWarning, match="not canonical"), LegacyModel.load(prefix) as model:
            assert model.run("w:0") == H.W
    sentinel.assert_quiet()


def test_variable_depending_on_a_write_refuses_the_load(tf, world):
    prefix, ckpt, outside = world
    meta = H.read_meta(prefix + ".meta")
    H.string_const(meta.graph_def.node, "evil/path", str(outside / "victim.txt").encode())
    H.string_const(meta.graph_def.node, "evil/text", b"owned")
    H.add_node(meta.graph_def.node, "evil/write", "WriteFile", ["evil/path", "evil/text"])
    (variable,) = [n for n in meta.graph_def.node if n.name == "w"]
    variable.input.append("^evil/write")
    H.write_meta(meta, prefix + ".meta")
    assert not scan(prefix).loads_safely
    with Sentinel(read=[outside], write=[ckpt, outside]) as sentinel:
        with pytest.raises(UnsafeGraphError, match=r"restoring the variables would run 1 op"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                LegacyModel.load(prefix)
    sentinel.assert_quiet()


# -- the top-level graph, functions and collections: refused per fetch -------------------


def _readers(tf, outside):
    secret = str(outside / "secret.txt")

    def build():
        tf.io.read_file(secret, name="read_file")
        tf.raw_ops.MatchingFiles(pattern=str(outside / "*"), name="glob")
        lines = tf.compat.v1.data.make_one_shot_iterator(tf.data.TextLineDataset(secret))
        tf.identity(lines.get_next(), name="text_lines")
        records = tf.compat.v1.data.make_one_shot_iterator(
            tf.data.FixedLengthRecordDataset(secret, record_bytes=4)
        )
        tf.identity(records.get_next(), name="records")
        reader = tf.raw_ops.WholeFileReaderV2()
        queue = tf.raw_ops.FIFOQueueV2(component_types=[tf.string], capacity=1)
        tf.raw_ops.ReaderReadV2(reader_handle=reader, queue_handle=queue, name="whole_file")
        tf.raw_ops.ImmutableConst(
            dtype=tf.float32, shape=[1], memory_region_name=secret, name="mapped"
        )

    return build


READER_FETCHES = {
    "read_file:0": "ReadFile",
    "glob:0": "MatchingFiles",
    "text_lines:0": "TextLineDataset",
    "records:0": "FixedLengthRecordDatasetV2",
    "whole_file:0": "WholeFileReaderV2",
    "mapped:0": "ImmutableConst",
}


def test_file_readers_are_refused_per_fetch(tf, world):
    prefix, ckpt, outside = world
    meta = H.merge(H.read_meta(prefix + ".meta"), _readers(tf, outside), tf)
    H.write_meta(meta, prefix + ".meta")
    report = scan(prefix)
    assert set(READER_FETCHES.values()) <= {f.op_type for f in report.findings}
    assert report.loads_safely
    with Sentinel(read=[outside], write=[ckpt, outside]) as sentinel:
        with LegacyModel.load(prefix) as model:
            assert model.run("y:0", {"x:0": 2.0}) == 2 * H.W
            for fetch, op_type in READER_FETCHES.items():
                with pytest.raises(UnsafeGraphError, match=rf"\({op_type}\)"):
                    model.run(fetch)
            with tf.Graph().as_default(), pytest.raises(UnsafeGraphError):
                import_meta_graph(prefix + ".meta", safe=True)
    sentinel.assert_quiet()


def test_nested_and_attribute_referenced_functions(tf, world):
    prefix, ckpt, outside = world
    victim = str(outside / "victim.txt")

    def build():
        x = tf.compat.v1.placeholder(tf.float32, [], name="x2")

        @tf.function
        def inner(v):
            tf.io.write_file(victim, "owned", name="evil")
            return v * 2

        @tf.function
        def outer(v):
            return inner(v) + 1

        @tf.function
        def branchy(v):  # the write sits in a branch function named only by an If's attr
            return tf.cond(v > 0, lambda: inner(v), lambda: v)

        tf.identity(outer(x), name="nested")
        tf.identity(branchy(x), name="branch")

    meta = H.merge(H.read_meta(prefix + ".meta"), build, tf)
    H.write_meta(meta, prefix + ".meta")
    report = scan(prefix)
    (finding,) = [f for f in report.findings if f.op_type == "WriteFile"]
    assert finding.where.startswith("function __inference_inner")
    with Sentinel(read=[outside], write=[ckpt, outside]) as sentinel:
        with LegacyModel.load(prefix) as model:
            for fetch in ("nested:0", "branch:0"):
                with pytest.raises(UnsafeGraphError, match=r"evil \(WriteFile\) in function"):
                    model.run(fetch, {"x2:0": 1.0})
            with pytest.raises(UnsafeGraphError, match="WriteFile"):
                model.to_function(["x2:0"], ["nested:0"])
    sentinel.assert_quiet()


def test_op_in_a_collection_is_never_run_at_load(tf, world):
    prefix, ckpt, outside = world
    meta = H.read_meta(prefix + ".meta")
    H.string_const(meta.graph_def.node, "evil/path", str(outside / "victim.txt").encode())
    H.string_const(meta.graph_def.node, "evil/text", b"owned")
    H.add_node(meta.graph_def.node, "evil/init", "WriteFile", ["evil/path", "evil/text"])
    for key in ("init_op", "local_init_op", "table_initializer"):
        meta.collection_def[key].node_list.value.append("evil/init")
    H.write_meta(meta, prefix + ".meta")
    report = scan(prefix)
    assert report.loads_safely
    flagged = {f.name for f in report.fetches if f.findings}
    assert {
        "collection init_op",
        "collection local_init_op",
        "collection table_initializer",
    } <= flagged
    with Sentinel(read=[outside], write=[ckpt, outside]) as sentinel:
        with LegacyModel.load(prefix) as model:
            with pytest.raises(UnsafeGraphError, match="evil/init"):
                model.run(model.graph.get_collection("init_op"))
    sentinel.assert_quiet()


def test_cli_scan_of_a_prefix_with_a_same_named_file_scans_the_meta(tf, world, capsys):
    from converters.cli import main

    prefix, _ckpt, outside = world
    meta = H.read_meta(prefix + ".meta")
    H.string_const(meta.graph_def.node, "evil/path", str(outside / "victim.txt").encode())
    H.add_node(meta.graph_def.node, "evil/write", "WriteFile", ["evil/path", "evil/path"])
    H.write_meta(meta, prefix + ".meta")
    open(prefix, "wb").close()  # a 0-byte file named like the prefix
    assert main(["scan", prefix, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == prefix + ".meta"
    assert [f["op_type"] for f in out["findings"]] == ["WriteFile"]
