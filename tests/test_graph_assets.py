"""SavedModel assets (#20): both places TF records them, mapped inside assets/, never outside."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from legacy_saver.errors import UnsafeGraphError
from legacy_saver.graph import LegacyModel
from legacy_saver.metagraph.assets import Asset, collect_assets, resolve_assets
from legacy_saver.metagraph.read import read_saved_model
from tests.helpers import hostile as H

WORDS = np.array([b"apple", b"cherry", b"durian", b"banana"], dtype=object)


def _vocabulary_model(tf, tmp_path):
    source = tmp_path / "exporting"
    source.mkdir()
    vocabulary = source / "vocab.txt"
    vocabulary.write_text("apple\nbanana\ncherry\n")
    export = H.saved_model(tf, tmp_path, vocabulary=vocabulary)
    shutil.rmtree(source)  # only the SavedModel's copy is left
    return export


def test_tf1_builder_vocabulary_table_looks_up_as_stock_loader(tf, tmp_path):
    export = _vocabulary_model(tf, tmp_path)
    meta = read_saved_model(export)
    assert not meta.asset_file_def  # TF1's Builder records it in the collection only
    (asset,) = collect_assets(meta)
    assert asset.filename == "vocab.txt"
    with LegacyModel.load(export) as model:
        ours = model.run("ids:0", {"words:0": WORDS})
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(export))
        stock = sess.run("ids:0", {"words:0": WORDS})
    np.testing.assert_array_equal(ours, stock)
    np.testing.assert_array_equal(ours, [0, 2, 3, 1])  # durian: the out-of-vocabulary bucket


REALDATA_WITH_ASSETS = [
    "serving_saved_model_half_plus_two_cpu/00000123",
    "serving_saved_model_half_plus_two_mkl/00000123",
    "serving_saved_model_half_plus_three/00000123",
    "serving_saved_model_half_plus_two_tf2_cpu/00000123",
]


@pytest.mark.parametrize("item", REALDATA_WITH_ASSETS, ids=lambda i: i.split("/")[0])
def test_realdata_assets_map_as_the_stock_loader_maps_them(tf, realdata, item):
    from tensorflow.python.saved_model import loader_impl

    export = str(realdata / item)
    meta = read_saved_model(export)
    ours = {a.tensor: a.path for a in resolve_assets(meta, export)}
    stock = {k: os.fsdecode(v) for k, v in loader_impl.get_asset_tensors(export, meta).items()}
    assert ours == stock and ours
    assert all(os.path.isfile(p) for p in ours.values())
    with LegacyModel.load(export):  # the init op runs with these fed
        pass


@pytest.mark.parametrize(
    "name",
    ["../x", "a/../../x", "/etc/passwd", "", "a\0b", "..", "sub/../../outside.txt", "..\\x"],
)
def test_names_escaping_assets_are_refused(tmp_path, name):
    meta = _meta_with_asset(name)
    with pytest.raises(UnsafeGraphError, match="escapes"):
        resolve_assets(meta, str(tmp_path))


def test_symlink_out_of_assets_is_refused_and_assets_extra_is_a_fallback(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "secret").write_text("x")
    os.symlink(tmp_path / "secret", tmp_path / "assets" / "link.txt")
    with pytest.raises(UnsafeGraphError, match="'link.txt'"):
        resolve_assets(_meta_with_asset("link.txt"), str(tmp_path))
    (tmp_path / "assets.extra" / "warmup.txt").write_text("x")
    (found,) = resolve_assets(_meta_with_asset("warmup.txt"), str(tmp_path))
    assert found == Asset("Const:0", "warmup.txt", str(tmp_path / "assets.extra" / "warmup.txt"))
    (tmp_path / "assets" / "sub").mkdir()
    (tmp_path / "assets" / "sub" / "v.txt").write_text("x")
    (inside,) = resolve_assets(_meta_with_asset("sub/v.txt"), str(tmp_path))
    assert inside.path == str(tmp_path / "assets" / "sub" / "v.txt")


def _meta_with_asset(name):
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    asset = meta.asset_file_def.add()
    asset.tensor_info.name = "Const:0"
    asset.filename = name
    return meta


def test_collection_entry_that_is_not_an_asset_is_refused(tf):
    from tensorflow.core.protobuf import meta_graph_pb2, saver_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.collection_def["saved_model_assets"].any_list.value.add().Pack(saver_pb2.SaverDef())
    with pytest.raises(UnsafeGraphError, match="not an AssetFileDef"):
        collect_assets(meta)
