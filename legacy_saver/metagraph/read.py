"""Reading meta graphs from files: a ``.meta`` (a ``MetaGraphDef``, binary or text) or a
SavedModel's ``saved_model.pb``, with typed errors and reads bounded by the file's size.

Only regular files are read. The file is opened without blocking (a FIFO named
``model.meta`` would otherwise hang ``open``) and checked with ``fstat`` after opening, so a
FIFO, a device (``/dev/zero``, ``/dev/urandom``) or a directory is refused with a
``CheckpointError`` naming the file, and never read. Exactly ``st_size`` bytes are read.

Nothing is imported into a graph; TensorFlow is imported (lazily) only for its protobufs.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from legacy_saver.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    CorruptMetaGraphError,
)

__all__ = [
    "MAX_META_GRAPH_BYTES",
    "parse_meta_graph",
    "read_meta_graph",
    "read_regular_file",
    "read_saved_model",
]

MAX_META_GRAPH_BYTES = 2**31 - 1  # protobuf's own limit for one message
SERVE_TAG = "serve"
SAVED_MODEL_PB = "saved_model.pb"
SAVED_MODEL_PBTXT = "saved_model.pbtxt"
_READ_CHUNK_BYTES = 1 << 24
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
}


def read_regular_file(path: str, what: str, max_bytes: int = MAX_META_GRAPH_BYTES) -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes``.

    Args:
        path: the file.
        what: what the file should be, for messages (``"meta graph"``).
        max_bytes: refuse larger files.

    Raises:
        CheckpointNotFoundError: no such file.
        CheckpointError: not a regular file (FIFO, device, directory, socket), or too large.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"{what} {path} is a directory, not a file") from None
    except OSError as e:
        raise CheckpointError(f"cannot open {what} {path}: {e.strerror}") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise CheckpointError(
                f"{what} {path} is {kind}, not a regular file; refusing to read it"
            )
        if info.st_size > max_bytes:
            raise CheckpointError(
                f"{what} {path} is {info.st_size} bytes, over the {max_bytes}-byte limit"
            )
        return _read_exactly(fd, info.st_size, path, what)
    finally:
        os.close(fd)


def _read_exactly(fd: int, size: int, path: str, what: str) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, _READ_CHUNK_BYTES))
        if not chunk:
            raise CorruptCheckpointError(
                f"{what} {path} shrank while being read: expected {size} bytes, "
                f"got {size - remaining}"
            )
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def parse_meta_graph(data: bytes, source: str, *, allow_text: bool = True) -> Any:
    """A ``MetaGraphDef`` from binary (or, with ``allow_text``, text-format) bytes.

    As TensorFlow's ``read_meta_graph_file``, binary is tried first, then text; unlike it, a
    file that is neither (truncated, or not UTF-8) raises ``CorruptCheckpointError`` instead of
    ``DecodeError``/``UnicodeDecodeError``.
    """
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    try:
        meta.ParseFromString(data)
        return meta
    except Exception as e:  # protobuf's DecodeError (its class differs by implementation)
        binary_error = str(e) or type(e).__name__
    if allow_text:
        text_error = _parse_text(data, meta)
        if text_error is None:
            return meta
    else:
        text_error = "text format not accepted here"
    raise CorruptMetaGraphError(
        f"{source} is not a MetaGraphDef (Cannot parse file): as binary: {binary_error}; "
        f"as text: {text_error}"
    )


def _parse_text(data: bytes, message: Any) -> str | None:
    """Merge text-format ``data`` into ``message``; the reason it failed, else None."""
    from google.protobuf import text_format

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8 (byte {e.start})"
    try:
        message.Clear()
        text_format.Merge(text, message)
    except text_format.ParseError as e:
        return str(e)
    return None


def read_meta_graph(path: str | os.PathLike[str], *, allow_text: bool = True) -> Any:
    """Parse a ``.meta`` file (a ``MetaGraphDef``) without importing it.

    Raises:
        CheckpointNotFoundError: no such file.
        CheckpointError: not a regular file, or over protobuf's 2 GiB limit.
        CorruptCheckpointError: not a MetaGraphDef.
    """
    path = os.fspath(path)
    return parse_meta_graph(read_regular_file(path, "meta graph"), path, allow_text=allow_text)


def read_saved_model(
    directory: str | os.PathLike[str], tags: tuple[str, ...] = (SERVE_TAG,)
) -> Any:
    """The ``MetaGraphDef`` with ``tags`` (else the only one) from a SavedModel directory."""
    from tensorflow.core.protobuf import saved_model_pb2

    directory = os.fspath(directory)
    path = os.path.join(directory, SAVED_MODEL_PB)
    model = saved_model_pb2.SavedModel()
    if not os.path.lexists(path) and os.path.lexists(os.path.join(directory, SAVED_MODEL_PBTXT)):
        path = os.path.join(directory, SAVED_MODEL_PBTXT)
        error = _parse_text(read_regular_file(path, "SavedModel"), model)
    else:
        if not os.path.lexists(path):
            raise CheckpointNotFoundError(f"{directory} has no {SAVED_MODEL_PB}")
        error = None
        try:
            model.ParseFromString(read_regular_file(path, "SavedModel"))
        except Exception as e:  # protobuf's DecodeError
            error = str(e) or type(e).__name__
    if error is not None:
        raise CorruptMetaGraphError(f"{path} is not a SavedModel (Cannot parse file): {error}")
    return _pick_meta_graph(list(model.meta_graphs), tags, path)


def _pick_meta_graph(graphs: list[Any], tags: tuple[str, ...], path: str) -> Any:
    for meta in graphs:
        if set(tags) == set(meta.meta_info_def.tags):
            return meta
    if len(graphs) == 1:
        return graphs[0]
    found = [sorted(m.meta_info_def.tags) for m in graphs]
    raise CheckpointNotFoundError(f"{path} has no meta graph tagged {sorted(tags)}; it has {found}")
