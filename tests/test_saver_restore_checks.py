"""Restore that tells the truth: every missing key, shape and dtype mismatch, at once."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from legacy_saver.errors import (  # noqa: E402
    CheckpointNotFoundError,
    RestoreMismatchError,
)
from legacy_saver.saver import Saver, import_meta_graph  # noqa: E402
from legacy_saver.saver.checks import CheckpointContents, plan_restore  # noqa: E402
from legacy_saver.saver.specs import RestoreSpec  # noqa: E402

v1 = tf.compat.v1


def write_checkpoint(path, variables: dict) -> str:
    """A name-based checkpoint holding ``{name: array}``, written by stock TF."""
    with tf.Graph().as_default() as g:
        made = [v1.Variable(value, name=name) for name, value in variables.items()]
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            return v1.train.Saver(made).save(sess, str(path))


def test_resource_shape_mismatch_raises_where_stock_tf_silently_corrupts(tmp_path):
    path = write_checkpoint(tmp_path / "m", {"w": np.arange(12, dtype=np.float32).reshape(3, 4)})
    with tf.Graph().as_default() as g:
        w = v1.get_variable("w", [4, 3], initializer=v1.zeros_initializer(), use_resource=True)
        stock, ours = v1.train.Saver(), Saver()
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            stock.restore(sess, path)  # the trap: no error, a [4, 3] variable holding [3, 4]
            assert sess.run(w).shape == (3, 4)
            sess.run(v1.global_variables_initializer())
            with pytest.raises(RestoreMismatchError) as e:
                ours.restore(sess, path)
            assert sess.run(w).shape == (4, 3)  # nothing was restored
    assert "shape: 'w' is [3, 4] in the checkpoint, the graph expects [4, 3]" in str(e.value)


def test_one_error_lists_every_problem_with_close_names(tmp_path):
    path = write_checkpoint(
        tmp_path / "m",
        {
            "model/dense/kernel": np.zeros([2, 2], np.float32),
            "dense_1/bias": np.zeros([2], np.float32),
            "step": np.int64(3),
            "conv/weights": np.zeros([3], np.float32),
        },
    )
    with tf.Graph().as_default() as g:
        v1.get_variable("dense/kernel", [2, 2])
        v1.get_variable("dense/bias", [2])
        v1.get_variable("step", [], dtype=tf.int32, initializer=v1.zeros_initializer())
        v1.get_variable("conv/weights", [4])
        saver = Saver()
        with v1.Session(graph=g) as sess:
            with pytest.raises(RestoreMismatchError) as e:
                saver.restore(sess, path)
    message = str(e.value)
    assert message.startswith(f"cannot restore {path} (4 keys): 2 of 4 keys missing, 2 shape/dtype")
    assert (
        "'dense/kernel' [2, 2] is not in the checkpoint (closest in checkpoint: "
        "'model/dense/kernel' [2, 2]" in message
    )
    assert (
        "'dense/bias' [2] is not in the checkpoint (closest in checkpoint: 'dense_1/bias' [2]"
        in message
    )
    # stock's class and wording too: `except tf.errors.NotFoundError` still catches it
    assert isinstance(e.value, tf.errors.NotFoundError)
    assert "Key dense/bias not found in checkpoint" in message
    assert "dtype: 'step' is int64 in the checkpoint, the graph expects int32" in message
    assert "shape: 'conv/weights' is [3] in the checkpoint, the graph expects [4]" in message
    assert isinstance(e.value, ValueError)


def test_missing_checkpoint_and_none_path(tmp_path):
    with tf.Graph().as_default() as g:
        v1.get_variable("w", [2])
        saver = Saver()
        with v1.Session(graph=g) as sess:
            with pytest.raises(CheckpointNotFoundError, match="not a valid checkpoint"):
                saver.restore(sess, str(tmp_path / "nothing"))
            with pytest.raises(ValueError, match="None"):
                saver.restore(sess, None)


def test_imported_graph_is_checked_too(tmp_path):
    path = write_checkpoint(tmp_path / "m", {"w": np.zeros([3], np.float32)})
    with tf.Graph().as_default():
        v1.get_variable("w", [5])
        meta = v1.train.Saver().export_meta_graph(str(tmp_path / "other.meta"))
    with tf.Graph().as_default() as g:
        saver = import_meta_graph(meta)
        with v1.Session(graph=g) as sess:
            with pytest.raises(RestoreMismatchError, match=r"'w' is \[3\] .* expects \[5\]"):
                saver.restore(sess, path)


def test_object_based_checkpoint_restores_through_full_name(tmp_path):
    kernel = tf.Variable(np.arange(4.0, dtype=np.float32).reshape(2, 2), name="dense/kernel")
    step = tf.Variable(7, dtype=tf.int64, name="global_step")
    module = tf.Module()
    module.layer = tf.Module()
    module.layer.kernel = kernel
    prefix = tf.train.Checkpoint(model=module, step=step).write(str(tmp_path / "obj"))
    expected = kernel.numpy()
    with tf.Graph().as_default() as g:
        k = v1.get_variable("dense/kernel", [2, 2])
        s = v1.get_variable("global_step", [], dtype=tf.int64)
        saver = Saver()
        with v1.Session(graph=g) as sess:
            saver.restore(sess, prefix)
            np.testing.assert_array_equal(sess.run(k), expected)
            assert sess.run(s) == 7
    with tf.Graph().as_default() as g:
        v1.get_variable("dense/kernal", [2, 2])
        with v1.Session(graph=g) as sess, pytest.raises(RestoreMismatchError) as e:
            Saver().restore(sess, prefix)
    assert "'dense/kernel'" in str(e.value) and "full_name" in str(e.value)


def spec(key, shape, dtype=1, reshape=False):
    return RestoreSpec(key, "", dtype, shape, "save/RestoreV2/tensor_names:0", 0, reshape)


def test_plan_restore_pure():
    contents = CheckpointContents(
        "p", {"a": (2, 3), "b/x": (4,)}, {"a": 1, "b/x": 1}, {"net/a": "a"}
    )
    assert plan_restore([spec("a", (2, 3))], contents) == {}
    assert plan_restore([spec("a", (None, 3))], contents) == {}
    assert plan_restore([spec("a", (3, 2), reshape=True)], contents) == {}
    assert plan_restore([spec("net/a", (2, 3))], contents) == {
        "save/RestoreV2/tensor_names:0": ["a"]
    }
    with pytest.raises(RestoreMismatchError, match="element count"):
        plan_restore([spec("a", (7,), reshape=True)], contents)


def test_missing_keys_get_suggestions_ranked_by_shape():
    contents = CheckpointContents(
        "p",
        {"vgg_16/conv1/conv1_1/weights": (3, 3, 3, 64), "global_step": (), "b": (64,)},
        {"vgg_16/conv1/conv1_1/weights": 1, "global_step": 9, "b": 1},
        keys=frozenset({"vgg_16/conv1/conv1_1/weights", "global_step", "b"}),
    )
    with pytest.raises(RestoreMismatchError) as e:
        plan_restore([spec("block1_conv1/kernel", (3, 3, 3, 64)), spec("x", (7,))], contents)
    text = str(e.value)
    assert (
        "missing: 'block1_conv1/kernel' [3, 3, 3, 64] is not in the checkpoint (closest in "
        "checkpoint: 'vgg_16/conv1/conv1_1/weights' [3, 3, 3, 64])" in text
    )
    assert "missing: 'x' [7] is not in the checkpoint\n" in text


def _spec(key, dtype, shape, **kw):
    return RestoreSpec(key, kw.pop("slice_spec", ""), dtype, shape, "names:0", 0, **kw)


def test_quick_check_accepts_what_stock_tf_wrote_and_nothing_else(tmp_path):
    from legacy_saver.bundle.entry import BundleEntry
    from legacy_saver.saver.checks import QuickCheck

    values = {
        "w": np.zeros([3, 4], np.float32),
        "b": np.zeros([0], np.float32),
        "step": np.int64(7),
        "names": np.array([b"a", b"bc"], dtype=object),
    }
    path = write_checkpoint(tmp_path / "m", values)
    index = (tmp_path / "m.index").read_bytes()
    f32, i64, s = (
        tf.float32.as_datatype_enum,
        tf.int64.as_datatype_enum,
        tf.string.as_datatype_enum,
    )
    good = [
        _spec("w", f32, (3, 4)),
        _spec("b", f32, (0,)),
        _spec("step", i64, ()),
        _spec("names", s, (2,)),
    ]
    assert path.endswith("m") and QuickCheck(good).passes(index)
    assert QuickCheck(good[:2]).passes(index)  # extra keys in the checkpoint are fine
    for wrong in (
        _spec("w", f32, (4, 3)),
        _spec("w", f32, (12,)),
        _spec("w", i64, (3, 4)),
        _spec("step", i64, (1,)),
        _spec("missing", f32, (1,)),
    ):
        assert QuickCheck([wrong]).usable and not QuickCheck([wrong]).passes(index), wrong
    for unjudged in (
        _spec("w", f32, (3, None)),
        _spec("w", f32, (3, 4), reshape=True),
        _spec("w", f32, (3, 4), slice_spec="3 4 0,3:0,4"),
    ):
        assert not QuickCheck([unjudged]).usable
    assert not QuickCheck(good).passes(index[:-1]) and not QuickCheck(good).passes(b"")
    # An entry that repeats the shape field after the canonical ones (protobuf merges
    # repeated message fields, so its shape is really [3, 4, 5]) is not passed.
    import io

    from legacy_saver.bundle.protos import BundleHeaderProto
    from legacy_saver.bundle.table import TableBuilder

    def index_with(entry: bytes) -> bytes:
        buf = io.BytesIO()
        table = TableBuilder(buf)
        table.add(b"", BundleHeaderProto(num_shards=1).SerializeToString())
        table.add(b"w", entry)
        table.finish()
        return buf.getvalue()

    canonical = BundleEntry("w", f32, (3, 4), 0, 0, 48, 12345).encode()
    assert QuickCheck(good[:1]).passes(index_with(canonical))
    assert not QuickCheck(good[:1]).passes(index_with(canonical + b"\x12\x04\x12\x02\x08\x05"))
    assert not QuickCheck(good[:1]).passes(index_with(canonical + b"\x08\x02"))  # dtype again


def test_restore_with_quick_check_still_refuses_and_restores(tmp_path):
    """The shortcut changes nothing visible: a match restores the values, a
    mismatch still raises the one full report."""
    path = write_checkpoint(
        tmp_path / "m", {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.float32(5)}
    )
    with tf.Graph().as_default() as g:
        a = v1.get_variable("a", [2, 3], use_resource=True)
        b = v1.get_variable("b", [], use_resource=True)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            Saver().restore(sess, path)
            np.testing.assert_array_equal(sess.run(a), np.arange(6).reshape(2, 3))
            assert sess.run(b) == 5
    with tf.Graph().as_default() as g:
        v1.get_variable("a", [3, 2], use_resource=True)
        v1.get_variable("b", [1], use_resource=True)
        with v1.Session(graph=g) as sess, pytest.raises(RestoreMismatchError) as e:
            Saver().restore(sess, path)
    assert "2 shape/dtype mismatches" in str(e.value)


def test_saver_and_restore_variables_share_one_check(tmp_path):
    from legacy_saver.graph import restore_variables

    path = write_checkpoint(
        tmp_path / "m",
        {"vgg_16/conv1/conv1_1/weights": np.zeros([3, 3, 3, 8], np.float32), "w": np.zeros([3])},
    )
    messages = []
    for restore in ("saver", "restore_variables"):
        with tf.Graph().as_default() as g:
            v1.get_variable("block1_conv1/kernel", [3, 3, 3, 8])
            v1.get_variable("w", [4], dtype=tf.float64)
            with v1.Session(graph=g) as sess, pytest.raises(RestoreMismatchError) as e:
                if restore == "saver":
                    Saver().restore(sess, path)
                else:
                    restore_variables(
                        sess, path, assignment_map={"block1_conv1/kernel": "block1_conv1/kernel",
                                                    "w": "w"}
                    )  # fmt: skip
        messages.append(str(e.value).split("\n", 1)[1])  # the problems, without the head
        assert isinstance(e.value, tf.errors.NotFoundError)
    assert messages[0] == messages[1]
    assert (
        "missing: 'block1_conv1/kernel' [3, 3, 3, 8] is not in the checkpoint (closest in "
        "checkpoint: 'vgg_16/conv1/conv1_1/weights' [3, 3, 3, 8])" in messages[0]
    )
    assert "shape: 'w' is [3] in the checkpoint, the graph expects [4]" in messages[0]
