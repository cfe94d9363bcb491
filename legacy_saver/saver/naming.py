"""Names: import scopes, global-step tensors, stock's V1 shard glob."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from ..bundle.naming import is_url, parse_v1_shard
from .tf_types import Graph, Tensor


def step_tensor(graph: Graph, global_step: Tensor | str) -> Tensor:
    """The value tensor of a global step given as a tensor, a variable or a name.

    ``"global_step"`` (an op name) means its first output; a resource variable's
    ``"global_step:0"`` is its handle, whose value is read through its ReadVariableOp
    (TensorFlow's ``training_util.global_step`` fails on it).
    """
    if isinstance(global_step, str):
        name = global_step if ":" in global_step else global_step + ":0"
        global_step = graph.get_tensor_by_name(name)
    if isinstance(global_step, tf.Tensor) and global_step.dtype == tf.resource:
        reads = [op for op in global_step.consumers() if op.type == "ReadVariableOp"]
        if not reads:
            raise ValueError(
                f"global_step {global_step.name} is a resource handle "
                "that nothing reads; pass the variable itself"
            )
        return reads[0].outputs[0]
    return global_step


def prepend_scope(name: str, scope: str) -> str:
    return name if not scope else f"{scope.rstrip('/')}/{name}"


def strip_scope(name: str, scope: str) -> str:
    prefix = scope.rstrip("/") + "/"
    return name[len(prefix) :] if name.startswith(prefix) else name


def as_str(value: str | bytes | os.PathLike[str]) -> str:
    if isinstance(value, bytes | np.bytes_):  # np.bytes_: a string tensor's value
        return value.decode("utf-8")
    return os.fspath(value)


V1_ANY_COUNT = "-?????-of-?????"  # stock's pattern for every shard of a V1 checkpoint


def v1_any_count(path: str) -> str:
    """``P-?????-of-?????`` (stock's V1 reader globs it: every shard, any count) as the
    exact ``P-?????-of-0000N`` of the shards on disk; other paths unchanged."""
    directory, base = os.path.split(path)
    if not base.endswith(V1_ANY_COUNT) or is_url(path):
        return path
    stem = base[: -len(V1_ANY_COUNT)]
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return path
    counts = {p[2] for p in map(parse_v1_shard, names) if p is not None and p[0] == stem}
    if len(counts) != 1:
        return path  # none, or several sets of shards: the reader will say
    return os.path.join(directory, f"{stem}-?????-of-{counts.pop():05d}")
