"""import_meta_graph / export_meta_graph, and every real meta graph and TF1 SavedModel."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402

from legacy_saver.bundle import load_checkpoint  # noqa: E402
from legacy_saver.errors import UnsupportedFeatureError  # noqa: E402
from legacy_saver.saver import Saver, export_meta_graph, import_meta_graph  # noqa: E402

v1 = tf.compat.v1
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def _meta_cases():
    if not REALDATA.is_dir():
        return []
    cases = []
    for meta in sorted(glob.glob(str(REALDATA / "**" / "*.meta"), recursive=True)):
        prefix = meta[: -len(".meta")]
        if not os.path.exists(prefix) and not os.path.exists(prefix + ".index"):
            prefix += "-?????-of-00001"  # a V1 sharded checkpoint
        big = "estimator" in meta  # 2,500-op Estimator graphs
        cases.append(
            pytest.param(
                meta,
                prefix,
                id=os.path.relpath(meta, REALDATA),
                marks=[pytest.mark.slow] if big else [],
            )
        )
    for pb in sorted(glob.glob(str(REALDATA / "**" / "saved_model.pb"), recursive=True)):
        prefix = os.path.join(os.path.dirname(pb), "variables", "variables")
        cases.append(pytest.param(pb, prefix, id=os.path.relpath(pb, REALDATA)))
    return cases


def _read(path: str):
    if path.endswith("saved_model.pb"):
        return saved_model_pb2.SavedModel.FromString(Path(path).read_bytes()).meta_graphs[0]
    return path


def _full_name(variable) -> str:
    info = getattr(variable, "_save_slice_info", None)
    return info.full_name if info else variable.op.name


@pytest.mark.parametrize(("meta", "prefix"), _meta_cases())
def test_every_real_meta_graph_imports_and_restores(meta, prefix):
    reader = load_checkpoint(prefix)
    with tf.Graph().as_default() as g:
        saver = import_meta_graph(_read(meta), clear_devices=True)
        assert type(saver) is Saver
        with v1.Session(graph=g) as sess:
            saver.restore(sess, prefix)
            checked = [v for v in v1.global_variables() if reader.has_tensor(_full_name(v))]
            values = sess.run(checked)
    for variable, value in zip(checked, values, strict=True):
        stored = reader.get_tensor(_full_name(variable))
        info = variable._save_slice_info
        if info:
            stored = stored[
                tuple(slice(o, o + n) for o, n in zip(info.var_offset, info.var_shape, strict=True))
            ]
        np.testing.assert_array_equal(value, stored, err_msg=variable.name)


def test_tf_0_12_version_string_is_accepted_without_touching_the_callers_proto():
    meta = REALDATA / "serving_session_bundle_v2" / "00000123" / "export.meta"
    if not meta.exists():
        pytest.skip("realdata is absent")
    proto = tf.compat.v1.MetaGraphDef.FromString(meta.read_bytes())
    assert proto.meta_info_def.tensorflow_version == "0.12.head"
    with tf.Graph().as_default(), pytest.raises(Exception, match="0.12.head"):
        v1.train.import_meta_graph(proto)  # stock TF 2.21
    with tf.Graph().as_default():
        assert import_meta_graph(proto) is not None
    assert proto.meta_info_def.tensorflow_version == "0.12.head"


def _small_meta(tmp_path) -> str:
    with tf.Graph().as_default():
        v1.get_variable("w", [2], initializer=v1.ones_initializer())
        return Saver().export_meta_graph(str(tmp_path / "m.meta")) and str(tmp_path / "m.meta")


def test_importing_twice_without_scope_refuses_instead_of_aliasing(tmp_path):
    meta = _small_meta(tmp_path)
    with tf.Graph().as_default() as g:
        import_meta_graph(meta)
        with pytest.raises(ValueError, match="import_scope"):
            import_meta_graph(meta)
        second = import_meta_graph(meta, import_scope="again")
        assert second.saver_def.restore_op_name == "again/save/restore_all"
        names = sorted(v.op.name for v in v1.global_variables())
        assert names == ["again/w", "w"]
        assert [type(s) for s in g.get_collection("savers")] == []


def test_savers_collection_holds_our_savers(tmp_path):
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        g.add_to_collection("savers", Saver())
        meta = export_meta_graph(str(tmp_path / "m.meta"))
    assert len(meta.collection_def["savers"].bytes_list.value) == 1
    with tf.Graph().as_default() as g:
        import_meta_graph(str(tmp_path / "m.meta"), import_scope="s")
        (saver,) = g.get_collection("savers")
        assert type(saver) is Saver and saver.saver_def.filename_tensor_name == "s/save/Const:0"


def test_unregistered_ops_are_listed():
    graph_def = tf.compat.v1.GraphDef()
    node = graph_def.node.add()
    node.name, node.op = "contrib_thing", "SomeContribOp"
    meta = tf.compat.v1.MetaGraphDef(graph_def=graph_def)
    with (
        tf.Graph().as_default(),
        pytest.raises(
            UnsupportedFeatureError, match=r"SomeContribOp: .*\(used by 'contrib_thing'\)"
        ),
    ):
        import_meta_graph(meta)


def test_export_is_atomic_and_text_format_works(tmp_path):
    with tf.Graph().as_default():
        v1.get_variable("w", [2])
        saver = Saver()
        saver.export_meta_graph(str(tmp_path / "m.pbtxt"), as_text=True)
    assert 'restore_op_name: "save/restore_all"' in (tmp_path / "m.pbtxt").read_text()
    assert os.listdir(tmp_path) == ["m.pbtxt"]
    with tf.Graph().as_default():
        assert import_meta_graph(str(tmp_path / "m.pbtxt")) is not None


def test_graph_without_saver_def_gets_a_default_saver_or_none(tmp_path):
    with tf.Graph().as_default():
        v1.get_variable("w", [2])
        meta = export_meta_graph()
    meta.ClearField("saver_def")
    with tf.Graph().as_default():
        assert type(import_meta_graph(meta)) is Saver
    with tf.Graph().as_default():
        tf.constant(1.0, name="c")
        empty = export_meta_graph()
    with tf.Graph().as_default():
        assert import_meta_graph(empty) is None


def test_import_into_a_graph_that_is_not_the_default(tmp_path):
    meta = _small_meta(tmp_path)
    target = tf.Graph()
    with tf.Graph().as_default() as other:
        saver = import_meta_graph(meta, graph=target, import_scope="new")
        assert other.get_operations() == []
    assert saver.saver_def.restore_op_name == "new/save/restore_all"
    assert [v.op.name for v in target.get_collection("variables")] == ["new/w"]
    with tf.Graph().as_default():
        v1.get_variable("w", [2])
    without_saver_def = tf.compat.v1.MetaGraphDef()
    without_saver_def.ParseFromString(open(meta, "rb").read())
    without_saver_def.ClearField("saver_def")
    fresh = tf.Graph()
    with tf.Graph().as_default():
        made = import_meta_graph(without_saver_def, graph=fresh)  # a Saver built in ``fresh``
    assert made.saver_def.restore_op_name.startswith("save")
    fresh.get_operation_by_name(made.saver_def.restore_op_name)
