"""scan(): ops that touch files, processes or the network, in the graph and in functions."""

from __future__ import annotations

import os

import pytest

from legacy_saver.errors import UnsafeGraphError
from legacy_saver.graph import LegacyModel, scan
from legacy_saver.metagraph.scan import UNSAFE, WARNING
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
    assert report.ok and report.findings == ()
    assert report.nodes_scanned > 10


def test_writefile_planted_as_restore_op_is_caught_and_not_run(tf, tmp_path):
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
    (finding,) = [f for f in report.unsafe if f.op_name == "evil"]
    assert finding.op_type == "WriteFile" and finding.where == "graph (saver)"
    assert "not save/restore machinery" in finding.reason
    with pytest.raises(UnsafeGraphError, match=r"evil \(WriteFile\) in graph \(saver\)"):
        LegacyModel.load(prefix)
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
        sess.run(tf.compat.v1.global_variables_initializer())
        return _save(tf, sess, directory)


def test_writefile_in_cond_branch_function_is_caught(tf, tmp_path):
    target = tmp_path / "pwned.txt"
    prefix = _cond_writer(tf, str(tmp_path), target)
    meta = _meta(tf, prefix)
    # What saved_model_cli scan sees: no WriteFile among the top-level nodes.
    assert "WriteFile" not in {n.op for n in meta.graph_def.node}

    report = scan(meta)
    (finding,) = report.unsafe
    assert finding.op_type == "WriteFile" and finding.op_name == "evil"
    assert finding.where.startswith("function cond_true") and "called by cond" in finding.where
    with pytest.raises(UnsafeGraphError, match="evil \\(WriteFile\\) in function cond_true"):
        LegacyModel.load(prefix)
    assert not target.exists()

    with pytest.warns(UserWarning, match="1 unsafe"):
        model = LegacyModel.load(prefix, allow_unsafe=True)
    with model:  # the finding is real
        assert not target.exists()
        assert model.run("y:0", {"x:0": 5.0}) == 10.0
    assert target.read_text() == "owned"


def test_print_to_file_pyfunc_and_debug_ops(tf):
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [], name="x")
        tf.print(x, output_stream="file:///tmp/leak.txt", name="to_file")
        tf.print(x, name="to_stderr")
        tf.compat.v1.py_func(lambda v: v, [x], tf.float32, name="py")
        tf.raw_ops.MatchingFiles(pattern="/etc/*", name="glob")
        meta = tf.compat.v1.train.export_meta_graph(graph=g)
    found = {f.op_name: f for f in scan(meta).findings}
    assert set(found) == {"to_file", "py", "glob"}
    assert found["to_file"].reason == "prints to 'file:///tmp/leak.txt'"
    assert found["py"].severity == UNSAFE and found["glob"].severity == WARNING


def test_realdata_meta_graphs_pass(realdata):
    metas = sorted(realdata.glob("*/*.meta")) + sorted(realdata.glob("*/*/*.meta"))
    assert len(metas) >= 10
    for meta in metas:
        report = scan(meta)
        assert report.ok, str(report)
    # Input pipelines and warm starts only read files: reported, not refused.
    tfx = scan(realdata / "tfx_estimator_taxi_ckpt" / "model.ckpt-1000.meta")
    assert {f.op_type for f in tfx.warnings} >= {"MatchingFiles", "RestoreV2"}


def test_importing_the_graph_package_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, legacy_saver.graph; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
