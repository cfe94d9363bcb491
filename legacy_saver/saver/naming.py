"""Names: checkpoint file names, import scopes, global-step tensors."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf


def step_tensor(graph, global_step):
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


def as_str(value) -> str:
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8")
    return os.fspath(value)
