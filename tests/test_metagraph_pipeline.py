"""One meta-graph pipeline: import_meta_graph and LegacyModel.load give the same graph.

Both read with ``legacy_saver.metagraph.read`` and fix with ``legacy_saver.metagraph.prepare``;
on every real meta graph they must agree on nodes, collections and ``trainable`` (they did
not: on the TF 0.12 graph one gave ``trainable=[True, True]``, the other ``[False, False]``).
"""

from __future__ import annotations

import os

import pytest

from legacy_saver.graph import LegacyModel
from legacy_saver.metagraph.prepare import PrepareOptions, normalize_version, prepare
from legacy_saver.metagraph.read import read_meta_graph, read_saved_model
from tests.helpers.paths import REALDATA

BIG = ("estimator",)  # 2,500-op Estimator graphs


def _sources():
    if not REALDATA.is_dir():
        return []
    found = sorted(str(p) for p in REALDATA.glob("**/*.meta"))
    found += sorted(str(p.parent) for p in REALDATA.glob("**/saved_model.pb"))
    return [
        pytest.param(
            path,
            id=os.path.relpath(path, REALDATA),
            marks=[pytest.mark.slow] if any(b in path for b in BIG) else [],
        )
        for path in found
    ]


def _describe(tf, graph):
    """Nodes (name, op, inputs, device), collections by element name, and trainable flags."""
    nodes = [(n.name, n.op, tuple(n.input), n.device) for n in graph.as_graph_def().node]
    collections = {}
    for key in graph.get_all_collection_keys():
        collections[key] = [getattr(e, "name", repr(type(e))) for e in graph.get_collection(key)]
    trainable = [(v.name, bool(v.trainable)) for v in graph.get_collection("variables")]
    return nodes, collections, trainable


@pytest.mark.parametrize("path", _sources())
def test_import_meta_graph_and_legacy_model_agree(tf, path):
    from legacy_saver.saver import import_meta_graph

    meta = read_saved_model(path) if os.path.isdir(path) else read_meta_graph(path)
    with tf.Graph().as_default() as g:
        import_meta_graph(meta, clear_devices=True)
        stock_like = _describe(tf, g)
    with LegacyModel.load(path, checkpoint=False) as model:
        ours = _describe(tf, model.graph)
    assert ours[0] == stock_like[0]  # nodes
    assert ours[1] == stock_like[1]  # collections
    assert ours[2] == stock_like[2]  # trainable
    assert stock_like[0], "imported nothing"


def test_tf_0_12_variables_stay_trainable(tf, realdata):
    path = realdata / "serving_session_bundle_v2" / "00000123" / "export.meta"
    from legacy_saver.saver import import_meta_graph

    with tf.Graph().as_default() as g:
        import_meta_graph(str(path))
        via_import = [v.trainable for v in g.get_collection("variables")]
    with LegacyModel.load(path) as model:
        via_model = [v.trainable for v in model.variables]
    assert via_import == via_model == [True, True]


def test_normalize_version_keeps_the_leading_release_and_the_callers_proto(tf):
    meta = tf.compat.v1.MetaGraphDef()
    for written, fixed in [
        ("0.12.head", "0.12"),
        ("1.15.0", "1.15.0"),
        ("2.9.0-dev20220227", "2.9.0-dev20220227"),
        ("head", ""),
        ("", ""),
    ]:
        meta.meta_info_def.tensorflow_version = written
        assert normalize_version(meta).meta_info_def.tensorflow_version == fixed
        assert meta.meta_info_def.tensorflow_version == written


def test_prepare_fixes_function_bodies_too_and_copies(tf):
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [], name="x")
        with tf.device("/job:worker/task:3/device:GPU:1"):
            tf.function(lambda v: v * 2)(x)  # a library function, whatever the cond version
        v = tf.compat.v1.get_variable("v", [], use_resource=True)
        del v
        meta = tf.compat.v1.train.export_meta_graph(graph=g)
    fn = meta.graph_def.library.function[0]
    fn.node_def[0].device = "/job:worker/task:3/device:GPU:1"
    out = prepare(meta, PrepareOptions(clear_devices=True, shared_name_scope="s"))
    assert all(not n.device for n in out.graph_def.node)
    assert all(not n.device for f in out.graph_def.library.function for n in f.node_def)
    (handle,) = [n for n in out.graph_def.node if n.op == "VarHandleOp"]
    assert handle.attr["shared_name"].s == b"s/v"
    assert fn.node_def[0].device  # the caller's proto is untouched
    remapped = prepare(
        meta, PrepareOptions(device_map={"/job:worker/task:3/device:GPU:1": "/cpu:0"})
    )
    assert remapped.graph_def.library.function[0].node_def[0].device == "/cpu:0"
