"""Issue 14, item 1: string tensors (and every other dtype) through every copy path.

TensorFlow's entry crc for a string tensor covers the lengths as fixed-width
integers, not the varints stored, so a copy checked against "the crc of the
stored bytes" called every good string checkpoint corrupt. Each path below —
structural convert (plain and ``link``), back to TF1, remote (``memory://``),
batch — must carry every value across bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from converters.api import tf1_to_tf2, tf2_to_tf1
from converters.batch import BatchOptions, run_batch
from converters.batch.remote import convert_any
from converters.cli import main
from converters.options import ConversionOptions
from converters.rules import Rule
from converters.verify import verify
from legacy_saver.bundle import BundleWriter, load_checkpoint
from tests.helpers.cases import same_value, write_every_dtype

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def _strings() -> dict[str, np.ndarray]:
    def arr(items, shape):
        out = np.empty(shape, dtype=object)
        out.ravel()[:] = items
        return out.reshape(shape)

    return {
        "s/ascii": arr([b"a", b"bb"], (2,)),
        "s/non_utf8": arr([b"\xff\xfe\xfd", b"\x80", b"\xc3\x28"], (3,)),
        "s/empty_items": arr([b"", b"", b""], (3,)),
        "s/long": arr([b"x" * 70_000, b"y" * 200, b"z" * 16_385], (3,)),  # 3-byte varints
        "s/scalar": np.array(b"just one", dtype=object),
        "s/empty_tensor": np.empty((0,), dtype=object),
        "s/empty_2d": np.empty((3, 0), dtype=object),
    }


@pytest.fixture
def oracle(tmp_path) -> tuple[str, dict[str, np.ndarray]]:
    prefix = str(tmp_path / "src" / "every")
    values = write_every_dtype(prefix)
    more = _strings()
    with BundleWriter(str(tmp_path / "src" / "strings")) as w:
        for k, v in more.items():
            w.add(k, v)
    # one checkpoint with both: every dtype (2 shards, a partitioned tensor) and the strings
    both = str(tmp_path / "src" / "model.ckpt")
    with load_checkpoint(prefix) as r, BundleWriter(both, num_shards=2) as w:
        for i, key in enumerate(r.keys()):
            entry = r.bundle.entry(key)
            if entry.slices:
                for extents, value in r.bundle.get_slices(key):
                    w.add_slice(key, entry.shape, extents, value)
            else:
                w.add(key, r.get_tensor(key), shard=i % 2)
        for k, v in more.items():
            w.add(k, v, shard=1)
    return both, {**values, **more}


def _check_tf2(dst: str, oracle: dict[str, np.ndarray], skip: tuple[str, ...] = ()) -> None:
    with load_checkpoint(dst) as r:
        for name, want in oracle.items():
            if name.startswith(skip):
                continue
            got = r.get_tensor(name + VALUE)
            assert same_value(got, want), name


def test_structural_convert_copies_every_dtype_and_strings(oracle, tmp_path):
    src, values = oracle
    report = tf1_to_tf2(src, str(tmp_path / "tf2"))
    assert len(report.actions) == len(values)
    _check_tf2(str(tmp_path / "tf2"), values)
    assert verify(src, str(tmp_path / "tf2")).ok
    back = tf2_to_tf1(str(tmp_path / "tf2"), str(tmp_path / "tf1"))
    assert len(back.actions) == len(values)
    with load_checkpoint(str(tmp_path / "tf1")) as r:
        for name, want in values.items():
            assert same_value(r.get_tensor(name), want), name


def test_link_carries_strings(oracle, tmp_path):
    src, values = oracle
    drop_partitioned = [Rule("^part/", drop=True)]  # a partitioned tensor cannot be linked
    report = tf1_to_tf2(src, str(tmp_path / "tf2"), link=True, rules=drop_partitioned)
    assert report.linked and report.notes == ()
    _check_tf2(str(tmp_path / "tf2"), values, skip=("part/",))
    assert verify(src, str(tmp_path / "tf2")).ok


def test_remote_convert_carries_strings(oracle, tmp_path):
    fsspec = pytest.importorskip("fsspec")
    src, values = oracle
    fs = fsspec.filesystem("memory")
    for path in sorted((tmp_path / "src").iterdir()):
        if path.name.startswith("model.ckpt"):
            fs.pipe_file(f"/strings-test/src/{path.name}", path.read_bytes())
    try:
        url_src, url_dst = "memory://strings-test/src/model.ckpt", "memory://strings-test/dst/ckpt"
        convert_any(url_src, url_dst, ConversionOptions())
        _check_tf2(url_dst, values)
        assert verify(url_src, url_dst).ok
        convert_any(url_src, str(tmp_path / "local"), ConversionOptions(link=True))  # link off
        _check_tf2(str(tmp_path / "local"), values)
    finally:
        fs.rm("/strings-test", recursive=True)


def test_batch_converts_and_copies_strings(oracle, tmp_path):
    src, values = oracle
    summary = run_batch(str(tmp_path / "src"), str(tmp_path / "out"), jobs=1, progress=False)
    assert summary.ok, summary.to_json()
    _check_tf2(str(tmp_path / "out" / "model.ckpt"), values)
    # an object-based source is copied (checksums checked): strings must pass that check too
    tf1_to_tf2(src, str(tmp_path / "tf2src" / "m"))
    summary = run_batch(str(tmp_path / "tf2src"), str(tmp_path / "out2"), jobs=1, progress=False)
    assert summary.ok, summary.to_json()
    _check_tf2(str(tmp_path / "out2" / "m"), values)
    summary = run_batch(
        str(tmp_path / "src"), str(tmp_path / "out3"), jobs=1, progress=False,
        options=BatchOptions(link=True),
    )  # fmt: skip
    assert summary.ok, summary.to_json()


@pytest.mark.slow
def test_stock_tf_string_variable_converts(tf, tmp_path, capsys):
    """The issue's reproduction: ``get_variable("s", initializer=[b"a", b"bb"])``."""
    prefix = str(tmp_path / "tf1" / "model.ckpt")
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        s = tf.compat.v1.get_variable("s", initializer=[b"a", b"bb"], dtype=tf.string)
        odd = tf.compat.v1.get_variable("odd", initializer=[b"\xff", b"", b"x" * 300])
        w = tf.compat.v1.get_variable("w", initializer=np.ones([2, 2], np.float32))
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver([s, odd, w]).save(sess, prefix, write_meta_graph=False)
    dst = str(tmp_path / "tf2" / "ckpt")
    assert main(["convert", prefix, dst]) == 0, capsys.readouterr().err
    assert main(["verify", prefix, dst]) == 0
    assert main(["convert", prefix, str(tmp_path / "linked"), "--link"]) == 0
    reader = tf.train.load_checkpoint(dst)  # stock TF reads what we wrote
    assert list(reader.get_tensor("s" + VALUE)) == [b"a", b"bb"]
    assert list(reader.get_tensor("odd" + VALUE)) == [b"\xff", b"", b"x" * 300]
    summary = run_batch(str(tmp_path / "tf1"), str(tmp_path / "batch"), jobs=1, progress=False)
    assert summary.ok, summary.to_json()
    reader = tf.train.load_checkpoint(str(tmp_path / "batch" / "model.ckpt"))
    assert list(reader.get_tensor("s" + VALUE)) == [b"a", b"bb"]
