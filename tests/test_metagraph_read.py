"""Reading meta graphs: regular files only, bounded by their size, typed errors, never a hang."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from legacy_saver.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    CorruptMetaGraphError,
)
from legacy_saver.metagraph.locate import locate_meta_graph
from legacy_saver.metagraph.read import read_meta_graph, read_saved_model

# Each case runs in a child with a deadline: a reader that blocks on a FIFO must fail the test,
# not hang the suite.
CHILD = """
import sys
from legacy_saver.errors import CheckpointError
from legacy_saver.metagraph.read import read_meta_graph
try:
    read_meta_graph(sys.argv[1])
except CheckpointError as e:
    print(type(e).__name__, str(e))
if len(sys.argv) > 2:  # the importers, too
    import tensorflow as tf
    from legacy_saver.graph import LegacyModel
    from legacy_saver.saver import import_meta_graph
    path = sys.argv[1]
    for load in [lambda: import_meta_graph(path, safe=True), lambda: LegacyModel.load(path)]:
        try:
            with tf.Graph().as_default():
                load()
        except CheckpointError as e:
            print(type(e).__name__, str(e))
"""


def _small_meta(tf, path):
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.get_variable("w", [2])
        tf.compat.v1.train.export_meta_graph(str(path), graph=g)
    return path


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.meta"
    os.mkfifo(fifo)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(fifo)], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.startswith("CheckpointError"), out.stderr
    assert "is a FIFO, not a regular file" in out.stdout


@pytest.mark.slow
def test_fifo_meta_does_not_hang_the_importers(tmp_path):
    fifo = tmp_path / "model.meta"
    os.mkfifo(fifo)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(fifo), "importers"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3 and all("is a FIFO, not a regular file" in line for line in lines)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_symlink_to_a_device_is_refused(tmp_path, device):
    link = tmp_path / "model.meta"
    link.symlink_to(device)
    with pytest.raises(CheckpointError, match="is a character device, not a regular file"):
        read_meta_graph(link)


def test_directory_and_missing_file(tmp_path):
    (tmp_path / "d.meta").mkdir()
    with pytest.raises(CheckpointError, match="is a directory"):
        read_meta_graph(tmp_path / "d.meta")
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        read_meta_graph(tmp_path / "nope.meta")


def test_truncated_meta_is_corrupt_not_unicode_error(tf, tmp_path):
    from legacy_saver.saver import import_meta_graph

    whole = _small_meta(tf, tmp_path / "m.meta").read_bytes()
    assert read_meta_graph(tmp_path / "m.meta").graph_def.node
    for cut in (7, len(whole) // 3, len(whole) - 1):
        (tmp_path / "t.meta").write_bytes(whole[:cut])
        with pytest.raises(CorruptMetaGraphError, match=r"t\.meta is not a MetaGraphDef"):
            read_meta_graph(tmp_path / "t.meta")
        with tf.Graph().as_default(), pytest.raises(OSError):  # stock's IOError, too
            import_meta_graph(str(tmp_path / "t.meta"), safe=True)
    # Stock TensorFlow: a UnicodeDecodeError (or DecodeError), not a typed error.
    (tmp_path / "t.meta").write_bytes(whole[: len(whole) // 3])
    with tf.Graph().as_default(), pytest.raises((UnicodeDecodeError, Exception)) as stock:
        tf.compat.v1.train.import_meta_graph(str(tmp_path / "t.meta"))
    assert not isinstance(stock.value, CheckpointError)


def test_text_format_still_reads(tf, tmp_path):
    from google.protobuf import text_format

    meta = read_meta_graph(_small_meta(tf, tmp_path / "m.meta"))
    (tmp_path / "m.pbtxt").write_text(text_format.MessageToString(meta))
    assert read_meta_graph(tmp_path / "m.pbtxt") == meta
    with pytest.raises(CorruptCheckpointError, match="text format not accepted"):
        read_meta_graph(tmp_path / "m.pbtxt", allow_text=False)
    (tmp_path / "bad.pbtxt").write_text("graph_def { node { name: ")
    with pytest.raises(CorruptCheckpointError, match="as text: "):
        read_meta_graph(tmp_path / "bad.pbtxt")


def test_saved_model_pb_fifo_and_garbage(tf, tmp_path):
    os.mkfifo(tmp_path / "saved_model.pb")
    with pytest.raises(CheckpointError, match="is a FIFO"):
        read_saved_model(tmp_path)
    os.unlink(tmp_path / "saved_model.pb")
    (tmp_path / "saved_model.pb").write_bytes(b"\xff" * 10)
    with pytest.raises(CorruptCheckpointError, match="is not a SavedModel"):
        read_saved_model(tmp_path)


def test_prefix_with_a_same_named_file_locates_its_meta(tf, tmp_path):
    _small_meta(tf, tmp_path / "model.ckpt.meta")
    (tmp_path / "model.ckpt").write_bytes(b"")  # a decoy (or a V1 checkpoint)
    location = locate_meta_graph(tmp_path / "model.ckpt")
    assert location.meta_path == str(tmp_path / "model.ckpt.meta")
    assert location.prefix == str(tmp_path / "model.ckpt")
    with pytest.raises(CheckpointNotFoundError, match="no meta graph at"):
        locate_meta_graph(tmp_path / "other")
