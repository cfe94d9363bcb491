"""Issue 14, item 12: ``converters.load_structural(dst)`` rebuilds the objects a
structural TF2 checkpoint describes, so stock TF restores it with
``assert_consumed()`` without the original code — optimizer slots included."""

from __future__ import annotations

import numpy as np
import pytest

import converters
from converters.api import tf1_to_tf2
from converters.load import tracked
from legacy_saver.bundle import BundleWriter, load_checkpoint
from legacy_saver.errors import CheckpointError

pytestmark = pytest.mark.slow
VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def _values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    out = {
        "a/b": rng.standard_normal(2).astype(np.float32),  # a variable that is also a scope
        "a/b/c": rng.standard_normal(3).astype(np.float32),
        "x.y/z": np.arange(4, dtype=np.int64),  # a name TF escapes in keys
        "dense/kernel": rng.standard_normal((3, 2)).astype(np.float32),
        "dense/kernel/Adam": rng.standard_normal((3, 2)).astype(np.float32),
        "dense/kernel/Adam_1": rng.standard_normal((3, 2)).astype(np.float32),
        "beta1_power": np.float32(0.81),
        "global_step": np.int64(7),
        "words": np.array([b"a", b"\xff", b""], dtype=object),
    }
    return out


def test_load_structural_restores_everything_with_assert_consumed(tf, tmp_path):
    src = str(tmp_path / "tf1")
    values = _values()
    with BundleWriter(src) as w:
        for k, v in values.items():
            w.add(k, v)
    dst = str(tmp_path / "tf2")
    tf1_to_tf2(src, dst)
    root = converters.load_structural(dst)
    tf.train.Checkpoint(root=root).read(dst).assert_consumed()
    assert np.array_equal(root.dense.kernel.numpy(), values["dense/kernel"])
    assert np.array_equal(tracked(root, "a/b").numpy(), values["a/b"])
    assert np.array_equal(tracked(root, "a/b/c").numpy(), values["a/b/c"])
    assert np.array_equal(tracked(root, "x.y/z").numpy(), values["x.y/z"])
    assert list(root.words.numpy()) == [b"a", b"\xff", b""]
    slots = root.optimizer.slots
    by_name = {name: var.numpy() for (_, name), var in slots.items()}
    assert np.array_equal(by_name["m"], values["dense/kernel/Adam"])
    assert np.array_equal(by_name["v"], values["dense/kernel/Adam_1"])
    # a tree that does not match is still reported by TF
    partial = converters.load_structural(dst)
    del partial._unconditional_checkpoint_dependencies[0]
    with pytest.raises(AssertionError):
        tf.train.Checkpoint(root=partial).read(dst).assert_consumed()


def test_load_structural_on_a_real_checkpoint(tf, realdata, tmp_path):
    src = realdata / "t2t_transformer_test_ckpt" / "model.ckpt-1"
    dst = str(tmp_path / "tf2")
    tf1_to_tf2(str(src), dst)
    root = converters.load_structural(dst)
    tf.train.Checkpoint(root=root).read(dst).assert_consumed()
    with load_checkpoint(str(src)) as r:
        name = next(k for k in r.keys() if "Adam" not in k and k != "global_step")
        assert np.array_equal(tracked(root, name).numpy(), r.get_tensor(name))


def test_load_structural_refuses_a_name_based_checkpoint(tmp_path):
    with BundleWriter(str(tmp_path / "tf1")) as w:
        w.add("w", np.zeros(1, np.float32))
    with pytest.raises(CheckpointError, match="is name-based"):
        converters.load_structural(str(tmp_path / "tf1"))
