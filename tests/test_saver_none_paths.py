"""None paths mypy found in the Saver: an empty Saver's missing SaverDef, an unbuilt Saver's
restore, a restore without a session, an eager Saver without a ``var_list``. Each raised an
AttributeError or TypeError from deep inside before, not the error ``save`` (or stock) raises."""

from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver.saver import Saver, export_meta_graph  # noqa: E402

v1 = tf.compat.v1


def test_empty_saver_to_proto_under_an_export_scope_is_none():
    """TensorFlow's exporter calls ``to_proto(export_scope=...)`` on every Saver in the
    ``savers`` collection and leaves out those that return None."""
    with tf.Graph().as_default() as g:
        empty = Saver(allow_empty=True)
        assert empty.to_proto() is None
        assert empty.to_proto(export_scope="s") is None
        with tf.name_scope("s"):
            v1.get_variable("w", [2])
        g.add_to_collection(v1.GraphKeys.SAVERS, empty)
        meta = export_meta_graph(export_scope="s")
        assert v1.GraphKeys.SAVERS not in meta.collection_def


def test_restore_before_build_says_build(tmp_path):
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        built = Saver()
        deferred = Saver(defer_build=True)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            path = built.save(sess, str(tmp_path / "m"))
            with pytest.raises(RuntimeError, match=r"`build\(\)` should be called before restore"):
                deferred.restore(sess, path)
            deferred.build()
            deferred.restore(sess, path)


def test_graph_mode_restore_without_a_session_is_a_type_error(tmp_path):
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        saver = Saver()
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            path = saver.save(sess, str(tmp_path / "m"))
        for not_a_session in (None, object()):
            with pytest.raises(TypeError, match="'sess' must be a Session"):
                saver.restore(not_a_session, path)


def test_eager_saver_from_a_saver_def_alone_needs_a_var_list(tmp_path):
    """Stock's eager Saver raises RuntimeError at save and restore without a ``var_list``;
    ours passed None on to TensorFlow's ``op_list_to_dict`` (a TypeError about its input)."""
    assert tf.executing_eagerly()
    saver = Saver(saver_def=v1.train.SaverDef(version=v1.train.SaverDef.V2))
    with pytest.raises(RuntimeError, match=r"`var_list` must specify.*LegacyModel"):
        saver.save(None, str(tmp_path / "m"))
    with pytest.raises(RuntimeError, match=r"`var_list` must specify.*LegacyModel"):
        saver.restore(None, str(tmp_path / "m"))
