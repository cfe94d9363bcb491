"""Every real third-party checkpoint in ``realdata`` (V1, V2, sharded, snappy
index blocks, SavedModel variables, object-based): what we list equals what
stock TensorFlow printed into ``_listings/<item>.txt``, and every tensor equals
``tf.train.load_checkpoint(...).get_tensor`` bitwise. Plus the path rules
(directories, SavedModels, file names, V1 shard patterns) on those files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from legacy_saver.bundle import load_checkpoint
from legacy_saver.errors import CheckpointNotFoundError
from tests.helpers.paths import REALDATA

LISTINGS = sorted(p.stem for p in (REALDATA / "_listings").glob("*.txt"))
# All V2 prefixes on disk (more than the listings name: older steps, too).
PREFIXES = sorted(str(p.relative_to(REALDATA))[: -len(".index")] for p in REALDATA.rglob("*.index"))
V1_FILES = [
    "serving_session_bundle_v1/00000123/export",
    "serving_session_bundle_v1_sharded/00000123/export-00000-of-00001",
    "serving_bad_half_plus_two/00000123/export",
    "sjchoi_cnn_simple_v1_meta/cnn_simple.ckpt-4",
    "sjchoi_charrnn_v1/model.ckpt-8000",
]

_HEAD = re.compile(r"^LOAD OK (\S+): (\d+) keys")
_ROW = re.compile(r"^   (\S+)  (\w+)  \[([\d, ]*)\]$")


@dataclass(frozen=True)
class Listing:
    """What TensorFlow 2.21 printed for one item: the checkpoint it loaded
    and ``{key: (dtype name, shape)}``."""

    path: str
    tensors: dict[str, tuple[str, tuple[int, ...]]]


def parse_listing(text: str) -> Listing:
    """The first line names the checkpoint and its key count; the indented
    ``name  dtype  [shape]`` rows after it list the keys."""
    lines = text.splitlines()
    head = _HEAD.match(lines[0])
    assert head, f"unexpected listing header {lines[0]!r}"
    tensors = {}
    for line in lines[1:]:
        row = _ROW.match(line)
        if row is None:
            break
        dims = tuple(int(d) for d in row[3].split(",")) if row[3].strip() else ()
        tensors[row[1]] = (row[2], dims)
    assert len(tensors) == int(head[2]), "listing rows disagree with its key count"
    return Listing(head[1], tensors)


def assert_bitwise(actual: np.ndarray, expected: object, key: str) -> None:
    expected = np.asarray(expected, dtype=object if actual.dtype == object else None)
    assert actual.shape == expected.shape, key
    if actual.dtype == object:
        assert [bytes(v) for v in actual.ravel()] == [bytes(v) for v in expected.ravel()], key
    else:
        assert actual.dtype == expected.dtype, key
        assert actual.tobytes() == expected.tobytes(), key


@pytest.mark.parametrize("item", LISTINGS)
def test_listing_matches(realdata: Path, item: str) -> None:
    listing = parse_listing((realdata / "_listings" / f"{item}.txt").read_text())
    with load_checkpoint(realdata / listing.path) as reader:
        found = {k: (reader.dtype(k).tf_name, reader.shape(k)) for k in reader.keys()}
        assert found == listing.tensors
        assert reader.get_variable_to_shape_map() == {k: list(s) for k, (_, s) in found.items()}
        for key in reader.keys():  # every tensor decodes and its checksum verifies
            value = reader.get_tensor(key)
            assert value.shape == reader.shape(key)


@pytest.mark.parametrize("relpath", PREFIXES + V1_FILES)
def test_tensors_equal_tensorflow(realdata: Path, tf, relpath: str) -> None:
    path = str(realdata / relpath)
    theirs = tf.train.load_checkpoint(path)
    with load_checkpoint(path) as ours:
        assert ours.format_version == (1 if relpath in V1_FILES else 2)
        assert ours.keys() == sorted(theirs.get_variable_to_shape_map())
        dtypes = theirs.get_variable_to_dtype_map()
        for key in ours.keys():
            assert ours.dtype(key) == dtypes[key]  # DType compares equal to tf.DType
            assert_bitwise(ours.get_tensor(key), theirs.get_tensor(key), key)


def test_object_based_checkpoints(realdata: Path) -> None:
    with load_checkpoint(realdata / "tfr_bert_lite_tf2_ckpt" / "bert_lite_tf2.ckpt") as reader:
        assert reader.is_object_based
        graph = reader.object_graph()
        assert len(graph.nodes) == 65  # _listings: "OBJECT GRAPH: 65 nodes"
        keys = {a.checkpoint_key for n in graph.nodes for a in n.attributes}
        assert keys <= set(reader.keys())
    with load_checkpoint(realdata / "sjchoi_charrnn_v2" / "model.ckpt-8000") as reader:
        assert not reader.is_object_based and reader.object_graph() is None


def test_snappy_index_is_detected(realdata: Path) -> None:
    prefix = realdata / "serving_saved_model_half_plus_two_cpu/00000123/variables/variables"
    with load_checkpoint(prefix) as reader:
        assert reader.bundle is not None and reader.bundle.compressed_blocks
    with load_checkpoint(realdata / "sugyan_mnist_v2_regression/regression.ckpt") as reader:
        assert reader.bundle is not None and not reader.bundle.compressed_blocks


# -- path resolution --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "prefix"),
    [
        ("tfx_estimator_taxi_ckpt", "tfx_estimator_taxi_ckpt/model.ckpt-1000"),  # state file
        ("t2t_transformer_test_ckpt", "t2t_transformer_test_ckpt/model.ckpt-1"),
        # the prefix is literally named "checkpoint", like the state file beside it
        ("tfx_keras_tuner_tf2_ckpt", "tfx_keras_tuner_tf2_ckpt/checkpoint"),
    ],
)
def test_directory_with_state_file(realdata: Path, given: str, prefix: str) -> None:
    with load_checkpoint(realdata / given) as reader:
        assert reader.prefix == str(realdata / prefix)
        assert reader.format_version == 2


def test_saved_model_directory(realdata: Path) -> None:
    directory = realdata / "cmle_housing_regressor_savedmodel_sharded" / "1554227547"
    with load_checkpoint(directory) as reader:
        assert reader.prefix == str(directory / "variables" / "variables")
        assert reader.bundle is not None and reader.bundle.num_shards == 2
        assert any("SavedModel" in note for note in reader.notes)
        assert len(reader.keys()) == 26


@pytest.mark.parametrize(
    "suffix", [".index", ".meta", ".data-00000-of-00002", ".data-00001-of-00002"]
)
def test_file_of_a_checkpoint_resolves_to_its_prefix(realdata: Path, suffix: str) -> None:
    prefix = realdata / "cmle_housing_regressor_estimator" / "model.ckpt-1000"
    with load_checkpoint(f"{prefix}{suffix}") as reader:
        assert reader.prefix == str(prefix)
        assert reader.notes == [
            f"{prefix}{suffix} is a file of checkpoint {prefix}; using the prefix"
        ]
        assert len(reader.keys()) == 66


@pytest.mark.parametrize("name", ["export-?????-of-00001", "export-00000-of-00001", "export"])
def test_v1_shard_names(realdata: Path, name: str) -> None:
    with load_checkpoint(realdata / "serving_session_bundle_v1_sharded" / "00000123" / name) as r:
        assert r.format_version == 1
        assert r.keys() == ["a", "b"]
        assert r.get_tensor("a").dtype == np.float32


def test_missing_checkpoint_message_names_neighbours(realdata: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match=r"model\.ckpt-5.*has: .*model\.ckpt-1000"):
        load_checkpoint(realdata / "tfx_estimator_taxi_ckpt" / "model.ckpt-5")
