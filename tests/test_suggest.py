"""``legacy_saver.bundle.suggest``: closest names, ranked by shape and dtype, then name."""

from __future__ import annotations

import difflib
import random

import pytest

from legacy_saver.bundle import suggest as suggest_module
from legacy_saver.bundle.suggest import (
    Candidate,
    Fit,
    Relation,
    Suggester,
    describe,
    suggest,
)

# tf-slim's vgg_16 (name, shape): the checkpoint a Keras VGG16 is matched against.
VGG_SLIM = [
    ("global_step", ()),
    ("vgg_16/conv1/conv1_1/weights", (3, 3, 3, 64)),
    ("vgg_16/conv1/conv1_1/biases", (64,)),
    ("vgg_16/conv1/conv1_2/weights", (3, 3, 64, 64)),
    ("vgg_16/conv1/conv1_2/biases", (64,)),
    ("vgg_16/conv2/conv2_1/weights", (3, 3, 64, 128)),
    ("vgg_16/conv2/conv2_1/biases", (128,)),
    ("vgg_16/conv2/conv2_2/weights", (3, 3, 128, 128)),
    ("vgg_16/conv2/conv2_2/biases", (128,)),
    ("vgg_16/fc6/weights", (7, 7, 512, 4096)),
    ("vgg_16/fc6/biases", (4096,)),
    ("vgg_16/fc8/weights", (1, 1, 4096, 1000)),
    ("vgg_16/fc8/biases", (1000,)),
]
SLIM = [Candidate(n, s, "float32" if n != "global_step" else "int64") for n, s in VGG_SLIM]


def names(found):
    return [s.name for s in found]


def test_the_same_shape_is_offered_although_the_names_differ():
    found = suggest("block1_conv1/kernel", (3, 3, 3, 64), "float32", SLIM)
    assert names(found)[0] == "vgg_16/conv1/conv1_1/weights"
    assert found[0].fit is Fit.SAME
    assert str(found[0]) == "'vgg_16/conv1/conv1_1/weights' [3, 3, 3, 64]"


def test_a_bias_is_never_offered_a_scalar_of_another_name():
    found = suggest("conv1_conv/bias", (64,), "float32", SLIM)
    assert "global_step" not in names(found)
    assert set(names(found)) == {"vgg_16/conv1/conv1_1/biases", "vgg_16/conv1/conv1_2/biases"}
    assert all(s.fit is Fit.SAME for s in found)


def test_without_shapes_names_decide_as_before():
    pool = ["model/dense/kernel", "dense_1/bias", "step", "conv/weights"]
    assert names(suggest("dense/kernel", None, None, pool)) == ["model/dense/kernel"]
    assert names(suggest("dense/bias", None, None, pool))[0] == "dense_1/bias"
    assert suggest("dense/bias", None, None, pool)[0].relation is Relation.NUMBER
    # the reverse scope: the graph has the extra scope
    assert names(suggest("outer/conv/weights", None, None, pool)) == ["conv/weights"]


def test_the_same_name_elsewhere_is_kept_even_with_another_shape():
    pool = [Candidate("model/dense/kernel", (3, 4), "float32")] + [
        Candidate(f"other_{i}/w", (4, 3), "float32") for i in range(5)
    ]
    found = suggest("dense/kernel", (4, 3), "float32", pool)
    assert len(found) == 3
    assert found[-1].name == "model/dense/kernel"
    assert found[-1].fit is Fit.OTHER_SHAPE and found[-1].relation is Relation.SCOPE
    assert all(s.fit is Fit.SAME for s in found[:2])


def test_dtype_ranks_after_shape():
    pool = [Candidate("a/step", (), "int64"), Candidate("b/step", (), "int32")]
    found = suggest("step", (), "int32", pool)
    assert names(found) == ["b/step", "a/step"]
    assert [s.fit for s in found] == [Fit.SAME, Fit.OTHER_DTYPE]


def test_unknown_dims_fit_any_size_and_unknown_dtype_fits_any():
    pool = [Candidate("x/w", (7, 3), 1), Candidate("y", (2,), 1)]
    found = suggest("w", (None, 3), None, pool)
    assert found[0].name == "x/w" and found[0].fit is Fit.SAME
    assert describe("w", (None, 3)) == "'w' [?, 3]"
    assert describe("w", None) == "'w'"


def test_never_the_name_itself_and_limits():
    pool = ["a", "a_1", "b/a"]
    assert "a" not in names(suggest("a", None, None, pool, limit=5))
    assert suggest("a", None, None, pool, limit=0) == []
    assert suggest("a", None, None, []) == []
    assert len(suggest("a", None, None, pool, limit=1)) == 1


def test_odd_names_are_plain_text():
    pool = ["*", "[1]/w", "a.*b", "x\ny", "..", "(a+)+$"]
    for name in pool:
        found = suggest(name, None, None, pool)
        assert name not in names(found)
    assert "[1]/w" in names(suggest("w", None, None, pool))


def _big_pool(n: int, seed: int = 0) -> list[Candidate]:
    rng = random.Random(seed)
    layers = ["dense", "conv", "bn", "attention", "mlp", "embed", "norm", "proj"]
    leaves = [("kernel", 2), ("bias", 1), ("gamma", 1), ("beta", 1), ("moving_mean", 1)]
    pool = []
    for i in range(n):
        leaf, rank = rng.choice(leaves)
        shape = tuple(rng.choice([64, 128, 256, 512]) for _ in range(rank))
        pool.append(Candidate(f"model/block_{i // 50}/{rng.choice(layers)}_{i % 50}/{leaf}", shape))
    return pool


def test_work_per_query_is_bounded_for_100k_names(monkeypatch):
    pool = _big_pool(100_000)
    suggester = Suggester(pool)
    calls = []
    real = difflib.SequenceMatcher

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(suggest_module.difflib, "SequenceMatcher", counting)
    target = pool[12_345]
    wanted = target.name.replace("model/", "")  # the graph lacks the outer scope
    found = suggester.suggest(wanted, target.shape, None)
    assert found[0].name == target.name and found[0].relation is Relation.SCOPE
    assert len(calls) <= 2 * suggest_module.MAX_FUZZY + suggest_module.MAX_SUGGESTIONS
    calls.clear()
    found = suggester.suggest("completely/unrelated/thing", (64, 64), None)
    assert all(s.shape == (64, 64) for s in found) and len(found) == 3
    assert len(calls) <= 2 * suggest_module.MAX_FUZZY + suggest_module.MAX_SUGGESTIONS


@pytest.mark.parametrize("shape", [None, (64,), (3, 3)])
def test_results_are_deterministic(shape):
    pool = _big_pool(2_000, seed=1)
    a = Suggester(pool).suggest("block_3/dense_7/bias", shape, None)
    b = Suggester(reversed(pool)).suggest("block_3/dense_7/bias", shape, None)
    assert a == b
