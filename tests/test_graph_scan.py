"""scan(): every unsafe op (allowlist), what a safe load runs, what each fetch reaches."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from legacy_saver.errors import UnsafeGraphError
from legacy_saver.graph import LegacyModel, scan
from legacy_saver.metagraph.loading import FILE_RESTORE, OWN_RESTORE
from legacy_saver.metagraph.ops import UNLISTED
from legacy_saver.saver import import_meta_graph


def _save(tf, sess, directory, name="model"):
    saver = tf.compat.v1.train.Saver()
    return saver.save(sess, os.path.join(directory, name))


def _benign(tf, directory):
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        x = tf.compat.v1.placeholder(tf.float32, [], name="x")
        w = tf.compat.v1.Variable(3.0, name="w")
        tf.multiply(x, w, name="y")
        sess.run(tf.compat.v1.global_variables_initializer())
        return _save(tf, sess, directory)


def _meta(tf, prefix):
    from legacy_saver.metagraph.read import read_meta_graph

    return read_meta_graph(prefix + ".meta")


def _write(meta, prefix):
    with open(prefix + ".meta", "wb") as f:
        f.write(meta.SerializeToString())


def test_benign_graph_passes(tf, tmp_path):
    prefix = _benign(tf, str(tmp_path))
    report = scan(prefix + ".meta")
    assert report.ok and report.findings == () and report.loads_safely
    assert [(s.name, s.action) for s in report.load] == [("restore", FILE_RESTORE)]
    assert report.nodes_scanned > 10


def test_writefile_planted_as_restore_op_never_runs(tf, tmp_path):
    prefix = _benign(tf, str(tmp_path))
    target = tmp_path / "pwned.txt"
    g = tf.Graph()
    with g.as_default():  # a graph holding nothing but the payload, merged into the meta
        tf.io.write_file(str(target), "owned", name="evil")
    meta = _meta(tf, prefix)
    meta.graph_def.node.extend(g.as_graph_def().node)
    meta.saver_def.restore_op_name = "evil"
    _write(meta, prefix)

    report = scan(prefix + ".meta")
    assert not report.ok
    (finding,) = [f for f in report.findings if f.op_name == "evil"]
    assert finding.op_type == "WriteFile" and finding.where == "graph"
    assert finding.reason == "reads or writes files"
    (restore,) = report.load
    assert restore.action == OWN_RESTORE and restore.safe
    assert "evil (WriteFile) in graph: not restore machinery" in restore.notes
    # Safe load restores with a subgraph of its own: the value, and no file written.
    with pytest.warns(UserWarning, match="using a restore/save subgraph of our own"):
        model = LegacyModel.load(prefix)
    with model:
        assert model.run("w:0") == 3.0
        assert model.saver.saver_def.restore_op_name != "evil"
    with tf.Graph().as_default(), pytest.raises(UnsafeGraphError, match=r"evil \(WriteFile\)"):
        import_meta_graph(prefix + ".meta", safe=True)
    assert not target.exists()
    with tf.Graph().as_default():  # the caller's explicit override still imports it
        assert import_meta_graph(prefix + ".meta", safe=True, allow_unsafe=True) is not None
    assert not target.exists()  # importing alone runs nothing

    # The threat is real: stock import_meta_graph + restore runs the payload.
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.train.import_meta_graph(prefix + ".meta").restore(sess, prefix)
    assert target.read_text() == "owned"


def _cond_writer(tf, directory, target):
    """A graph whose tf.cond true branch (a library function) writes ``target``."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        x = tf.compat.v1.placeholder(tf.float32, [], name="x")
        w = tf.compat.v1.Variable(2.0, name="w")

        def writes():
            with tf.control_dependencies([tf.io.write_file(str(target), "owned", name="evil")]):
                return tf.identity(x * w)

        tf.identity(tf.cond(x > 0, writes, lambda: x * w), name="y")
        tf.identity(x * w, name="safe_y")
        sess.run(tf.compat.v1.global_variables_initializer())
        return _save(tf, sess, directory)


def test_writefile_in_cond_branch_function_is_caught_per_fetch(tf, tmp_path):
    target = tmp_path / "pwned.txt"
    prefix = _cond_writer(tf, str(tmp_path), target)
    meta = _meta(tf, prefix)
    # What saved_model_cli scan sees: no WriteFile among the top-level nodes.
    assert "WriteFile" not in {n.op for n in meta.graph_def.node}

    report = scan(meta)
    (finding,) = report.findings
    assert finding.op_type == "WriteFile" and finding.op_name == "evil"
    assert finding.where.startswith("function cond_true") and "called by cond" in finding.where
    assert report.loads_safely  # the restore does not reach it

    with LegacyModel.load(prefix) as model:  # loads: nothing at load reaches the payload
        assert model.run("safe_y:0", {"x:0": 5.0}) == 10.0
        with pytest.raises(UnsafeGraphError, match=r"fetching y:0 would run 1 op\(s\)") as err:
            model.run("y:0", {"x:0": 5.0})
        assert "evil (WriteFile) in function cond_true" in str(err.value)
        assert model.run("y:0", {"y:0": 1.0, "x:0": 5.0}) == 1.0  # fed: nothing runs
    assert not target.exists()

    with LegacyModel.load(prefix, allow_unsafe=True) as model:  # the finding is real
        assert model.run("y:0", {"x:0": 5.0}) == 10.0
    assert target.read_text() == "owned"


def test_print_to_file_pyfunc_file_readers_and_unknown_ops(tf):
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [], name="x")
        tf.print(x, output_stream="file:///tmp/leak.txt", name="to_file")
        tf.print(x, name="to_stderr")
        tf.compat.v1.py_func(lambda v: v, [x], tf.float32, name="py")
        tf.raw_ops.MatchingFiles(pattern="/etc/*", name="glob")
        meta = tf.compat.v1.train.export_meta_graph(graph=g)
    meta.graph_def.node.add(name="custom", op="ZzNotRegistered")
    found = {f.op_name: f for f in scan(meta).findings}
    assert set(found) == {"to_file", "py", "glob", "custom"}
    assert (
        found["to_file"].reason == "output_stream is 'file:///tmp/leak.txt', not a standard stream"
    )
    assert found["py"].reason == "runs Python code"
    assert found["glob"].reason == "reads or writes files"
    assert found["custom"].reason == UNLISTED


def test_realdata_meta_graphs_load_safely(realdata):
    metas = sorted(realdata.glob("*/*.meta")) + sorted(realdata.glob("*/*/*.meta"))
    models = sorted(p.parent for p in realdata.glob("**/saved_model.pb"))
    assert len(metas) >= 10 and len(models) >= 6
    with_findings = {}
    for path in metas + models:
        report = scan(path)
        assert report.loads_safely, str(report)
        assert report.load[0].action == FILE_RESTORE, str(report)
        if not report.ok:
            with_findings[path.relative_to(realdata).parts[0]] = {
                f.op_type for f in report.findings
            }
    # Training graphs: their input pipelines read files (and a warm start restores), and one
    # SavedModel keeps a second saver the SaverDef does not name. Nothing else is unsafe.
    assert set(with_findings) == {
        "cmle_housing_regressor_estimator",
        "tfx_estimator_taxi_ckpt",
        "tfx_estimator_taxi_ckpt_2019_sharded",
        "wophd_gru_savedmodel_with_adam",
    }
    assert with_findings["wophd_gru_savedmodel_with_adam"] == {"SaveV2", "RestoreV2"}
    assert {"TFRecordReaderV2", "QueueDequeueManyV2"} <= with_findings[
        "tfx_estimator_taxi_ckpt_2019_sharded"
    ]
    tfx = scan(realdata / "tfx_estimator_taxi_ckpt" / "model.ckpt-1000.meta")
    assert {"MatchingFiles", "TFRecordDataset", "RestoreV2"} <= {f.op_type for f in tfx.findings}
    train = [f for f in tfx.fetches if f.name == "collection losses"]
    assert train and train[0].findings  # the loss is fed by the input pipeline


def test_importing_the_graph_package_does_not_import_tensorflow():
    code = "import sys, legacy_saver.graph; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
