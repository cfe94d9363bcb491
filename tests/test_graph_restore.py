"""restore_variables(): partial restore by rule, checks first, then save the whole graph."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from legacy_saver.errors import RestoreMismatchError
from legacy_saver.graph import restore_variables


def _checkpoint(tf, directory, values):
    """Stock-TF checkpoint holding ``values`` ({name: array}) as variables."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        for name, value in values.items():
            tf.compat.v1.Variable(value, name=name)
        sess.run(tf.compat.v1.global_variables_initializer())
        return tf.compat.v1.train.Saver().save(sess, os.path.join(directory, "ckpt"))


def _read(sess, name):
    (var,) = [v for v in sess.graph.get_collection("variables") if v.op.name == name]
    return sess.run(var)


A = np.arange(6, dtype=np.float32).reshape(2, 3)
B = np.float32(7.0)
C = np.ones([4], np.int64)


def test_partial_restore_into_changed_graph_then_save_whole_graph(tf, graph, tmp_path):
    from legacy_saver.saver import Saver

    prefix = _checkpoint(tf, str(tmp_path / "old"), {"a": A, "b": B, "old_only": C})
    g, sess = graph
    a = tf.compat.v1.get_variable("a", shape=[2, 3])  # get_variable and tf.Variable alike
    tf.compat.v1.Variable(0.0, name="b")
    tf.compat.v1.get_variable("new", initializer=np.full([2], 5.0, np.float32))
    sess.run(tf.compat.v1.global_variables_initializer())

    report = restore_variables(sess, prefix)
    assert report.restored == (("a", "a"), ("b", "b"))
    assert report.missing == ("new",) and report.unused == ("old_only",)
    assert report.skipped == ()
    np.testing.assert_array_equal(sess.run(a), A)
    assert _read(sess, "b") == B and list(_read(sess, "new")) == [5.0, 5.0]

    saved = Saver().save(sess, str(tmp_path / "new" / "ckpt"))
    with tf.Graph().as_default(), tf.compat.v1.Session() as fresh:  # stock TF reads it back
        tf.compat.v1.train.import_meta_graph(saved + ".meta").restore(fresh, saved)
        np.testing.assert_array_equal(_read(fresh, "a"), A)
        assert _read(fresh, "b") == B and list(_read(fresh, "new")) == [5.0, 5.0]


def test_exclude_really_excludes_scoped_names(tf, graph, tmp_path):
    names = ["vgg_16/fc7/weights", "vgg_16/fc8/weights", "vgg_16/fc8/biases"]
    prefix = _checkpoint(tf, str(tmp_path), {n: np.float32(i + 1) for i, n in enumerate(names)})
    g, sess = graph
    for n in names:
        tf.compat.v1.get_variable(n, initializer=np.float32(0))
    sess.run(tf.compat.v1.global_variables_initializer())
    report = restore_variables(sess, prefix, exclude=["vgg_16/fc8"])
    assert report.skipped == ("vgg_16/fc8/weights", "vgg_16/fc8/biases")
    assert report.unused == ()  # excluded keys are skipped, not also unused (#14.11)
    assert str(report).endswith("restored 1, skipped 2, missing 0, unused checkpoint keys 0")
    assert [_read(sess, n) for n in names] == [1.0, 0.0, 0.0]
    report = restore_variables(sess, prefix, include=["fc8/w"])
    assert [r[0] for r in report.restored] == ["vgg_16/fc8/weights"]


def test_pathological_include_exclude_patterns_cannot_hang_the_restore(tf, graph, tmp_path):
    """Python's ``re`` backtracks exponentially on ``(a+)+$`` against a long near-match
    (minutes at 40 characters); RE2 answers in linear time, and what it cannot do is a
    ``PatternError`` naming the pattern, before anything is read or assigned."""
    import time

    from legacy_saver.safe_regex import PatternError

    name = "a" * 3000 + "b"  # a near-match of both patterns below
    prefix = _checkpoint(tf, str(tmp_path), {name: np.float32(1)})
    g, sess = graph
    tf.compat.v1.get_variable(name, initializer=np.float32(0))
    sess.run(tf.compat.v1.global_variables_initializer())
    started = time.monotonic()
    report = restore_variables(sess, prefix, exclude=["(a+)+$", "(a|aa)+$"])
    assert time.monotonic() - started < 30  # the old re.search: effectively never returns
    assert report.restored == ((name, name),)
    report = restore_variables(sess, prefix, exclude=[re.compile("(a+)+$")])  # as re accepted
    assert report.restored == ((name, name),)
    with pytest.raises(PatternError, match="flags"):
        restore_variables(sess, prefix, exclude=[re.compile("A+B", re.IGNORECASE)])
    for bad in ("(?!vgg)fc8", r"(a)\1", "[unclosed"):
        with pytest.raises(PatternError, match=r"exclude pattern .* (linear time|not a valid)"):
            restore_variables(sess, prefix, exclude=[bad])
    assert _read(sess, name) == 1.0


@pytest.mark.parametrize(
    "mapping, ckpt_names",
    [
        ({"old/": "new/"}, ["old/v1", "old/v2"]),
        ({"/": "new/"}, ["v1", "v2"]),
        ({"x": "new/v1", "y": "new/v2"}, ["x", "y"]),
    ],
)
def test_assignment_map_forms_cover_tf_variable_and_get_variable(
    tf, graph, tmp_path, mapping, ckpt_names
):
    prefix = _checkpoint(tf, str(tmp_path), dict(zip(ckpt_names, [A, A * 2], strict=True)))
    g, sess = graph
    with tf.compat.v1.variable_scope("new"):
        v1 = tf.compat.v1.Variable(np.zeros([2, 3], np.float32), name="v1")
        v2 = tf.compat.v1.get_variable("v2", shape=[2, 3])
    tf.compat.v1.get_variable("other", shape=[2, 3])
    sess.run(tf.compat.v1.global_variables_initializer())
    report = restore_variables(sess, prefix, assignment_map=mapping)
    assert sorted(report.restored) == sorted(zip(["new/v1", "new/v2"], ckpt_names, strict=True))
    assert report.skipped == ("other",)
    np.testing.assert_array_equal(sess.run(v1), A)
    np.testing.assert_array_equal(sess.run(v2), A * 2)


def test_assignment_map_to_variable_object(tf, graph, tmp_path):
    prefix = _checkpoint(tf, str(tmp_path), {"src": A})
    g, sess = graph
    target = tf.compat.v1.Variable(np.zeros([2, 3], np.float32), name="anything")
    sess.run(tf.compat.v1.global_variables_initializer())
    report = restore_variables(sess, prefix, assignment_map={"src": target})
    assert report.restored == (("anything", "src"),)
    np.testing.assert_array_equal(sess.run(target), A)


def test_every_problem_reported_before_anything_is_assigned(tf, graph, tmp_path):
    prefix = _checkpoint(tf, str(tmp_path), {"a": A, "b": B, "c": C})
    g, sess = graph
    tf.compat.v1.get_variable("a", initializer=np.zeros([3, 2], np.float32))  # transposed
    tf.compat.v1.get_variable("b", initializer=np.float32(1))  # fine
    tf.compat.v1.get_variable("c", initializer=np.zeros([4], np.int32))  # dtype
    sess.run(tf.compat.v1.global_variables_initializer())
    with pytest.raises(RestoreMismatchError) as err:
        restore_variables(sess, prefix, assignment_map={"a": "a", "b": "b", "c": "c", "d": "b2"})
    text = str(err.value)
    assert "2 shape/dtype mismatches, 1 other problem (nothing was restored)" in text
    assert "shape: 'a' is [2, 3] in the checkpoint, the graph expects [3, 2]" in text
    assert "dtype: 'c' is int64 in the checkpoint, the graph expects int32" in text
    assert "assignment_map entry 'd': 'b2' matches no variable" in text
    assert _read(sess, "b") == 1.0  # nothing was assigned


def test_finalized_graph_uses_the_feed_path_and_adds_no_op(tf, graph, tmp_path):
    prefix = _checkpoint(tf, str(tmp_path), {"a": A, "b": B})
    g, sess = graph
    a = tf.compat.v1.get_variable("a", shape=[2, 3])
    tf.compat.v1.Variable(0.0, name="b", use_resource=False)  # a reference variable
    sess.run(tf.compat.v1.global_variables_initializer())
    g.finalize()
    ops = len(g.get_operations())
    report = restore_variables(sess, prefix)
    assert len(report.restored) == 2 and len(g.get_operations()) == ops
    np.testing.assert_array_equal(sess.run(a), A)
    assert _read(sess, "b") == B


def test_restore_op_is_built_once_per_selection(tf, graph, tmp_path):
    prefix = _checkpoint(tf, str(tmp_path), {"a": A})
    g, sess = graph
    a = tf.compat.v1.get_variable("a", shape=[2, 3])
    reset = a.assign(np.zeros([2, 3], np.float32))
    sess.run(tf.compat.v1.global_variables_initializer())
    restore_variables(sess, prefix)
    ops = len(g.get_operations())
    sess.run(reset)
    restore_variables(sess, prefix)
    assert len(g.get_operations()) == ops
    np.testing.assert_array_equal(sess.run(a), A)


@pytest.mark.slow
def test_partitioned_variables_of_a_real_estimator(tf, realdata):
    from legacy_saver.graph import LegacyModel

    prefix = realdata / "tfx_estimator_taxi_ckpt_2019_sharded" / "model.ckpt-10000"
    with LegacyModel.load(prefix) as model:  # restored by the meta graph's own saver
        expected = model.run(model.variables)
    with LegacyModel.load(prefix, checkpoint=False) as model:
        parts = [v for v in model.variables if v._save_slice_info]
        assert parts  # dnn/hiddenlayer_0/kernel/part_0 -> dnn/hiddenlayer_0/kernel
        report = restore_variables(model.session, prefix)
        assert len(report.restored) == len(model.variables) and not report.missing
        got = model.run(model.variables)
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_array_equal(have, want)


def test_checks_and_restores_the_checkpoint_tensorflow_means_by_dot_dot(tf, graph, tmp_path):
    """``link/../old/ckpt`` with ``link -> real/sub``: TensorFlow's kernels read ``old/ckpt``
    (``..`` lexically), the OS ``real/old/ckpt``. restore_variables reads the path as
    ``Saver.restore`` does, and its check and its RestoreV2 read one checkpoint: a shape
    that does not fit there is refused before anything is assigned (the check used to read
    the other checkpoint, pass, and let RestoreV2 read this one)."""
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    spelled = str(tmp_path / "link" / ".." / "old" / "ckpt")
    _checkpoint(tf, str(tmp_path / "real" / "old"), {"a": A})  # the OS's reading
    _checkpoint(tf, str(tmp_path / "old"), {"a": A.T.copy()})  # TensorFlow's: [3, 2]
    g, sess = graph
    a = tf.compat.v1.get_variable("a", shape=[2, 3], initializer=tf.compat.v1.zeros_initializer())
    sess.run(tf.compat.v1.global_variables_initializer())
    with pytest.raises(RestoreMismatchError, match="shape"):
        restore_variables(sess, spelled)
    np.testing.assert_array_equal(sess.run(a), np.zeros([2, 3], np.float32))
    _checkpoint(tf, str(tmp_path / "old"), {"a": A + 100})  # now it fits: its values
    assert restore_variables(sess, spelled).restored == (("a", "a"),)
    np.testing.assert_array_equal(sess.run(a), A + 100)
