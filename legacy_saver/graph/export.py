"""Carry an imported TF1 graph into TF2 code: a callable, and a SavedModel.

``to_function`` cuts the part of the graph that computes the outputs
(``extract_sub_graph``), copies the current value of every variable in that part into a new
TF2 ``tf.Variable``, and imports the cut graph inside ``tf.compat.v1.wrap_function`` with each
variable's output mapped to the new variable (its handle for resource variables, its value for
reference variables); ``prune`` then makes a function from the given inputs to the outputs.

Why variables, not constants (freezing): the function owns copies of the values, so it keeps
working after the model's session is closed, but the values stay variables: a SavedModel
stores them in its ``variables/`` checkpoint instead of inside ``saved_model.pb`` (which is
limited to 2 GiB; VGG-16 alone is 528 MB), and TF2 code can still read or fine-tune them.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from typing import Any

__all__ = ["to_function", "export_saved_model"]  # and LegacyFunction, built lazily

_SCOPE = "legacy"  # name scope of the imported copy inside the function graph
_VARIABLE_OPS = ("VariableV2", "Variable", "VarHandleOp")


def _resolve(model: Any, items: Sequence[Any]) -> list[Any]:
    return [model.tensor(x if ":" in x else x + ":0") if isinstance(x, str) else x for x in items]


def to_function(model: Any, inputs: Sequence[Any], outputs: Sequence[Any]) -> Any:
    """A ``LegacyFunction`` computing ``outputs`` from ``inputs`` (names or tensors).

    The callable takes the inputs positionally, in order, and returns a list of outputs.
    In safe mode the cut graph is checked first (``UnsafeGraphError``); a
    ``PlaceholderWithDefault`` the outputs depend on but ``inputs`` leaves out is warned
    about (the function always uses its default, e.g. ``is_training``).
    """
    import tensorflow as tf

    ins, outs = _resolve(model, inputs), _resolve(model, outputs)
    model.check_fetches(outs, ins)
    _warn_fixed_defaults(model, ins, outs)
    sub = _closure(model.graph.as_graph_def(), {t.op.name for t in outs})
    var_nodes = [n for n in sub.node if n.op in _VARIABLE_OPS]
    values = _variable_values(model, var_nodes)
    with tf.init_scope():
        variables = {n.name: tf.Variable(values[n.name], name=n.name) for n in var_nodes}
    kinds = {n.name: n.op for n in var_nodes}

    def _import() -> None:
        graph = tf.compat.v1.get_default_graph()  # the FuncGraph being traced
        input_map = {}
        for name, var in variables.items():
            if kinds[name] == "VarHandleOp":
                # The imported ReadVariableOps read the handle directly, so the tape would
                # not know the variable was read: watch it, as reading it through the
                # tf.Variable API does, and GradientTape sees it (#14.2).
                graph.watch_variable(var)
                input_map[f"{name}:0"] = graph.capture(var.handle)
            else:
                input_map[f"{name}:0"] = var.read_value()
        tf.compat.v1.import_graph_def(sub, input_map=input_map, name=_SCOPE)

    wrapped = tf.compat.v1.wrap_function(_import, [])
    g = wrapped.graph
    pruned = wrapped.prune(
        feeds=[g.get_tensor_by_name(f"{_SCOPE}/{t.name}") for t in ins],
        fetches=[g.get_tensor_by_name(f"{_SCOPE}/{t.name}") for t in outs],
    )
    return _function_class()(pruned, variables, ins, outs)


def _warn_fixed_defaults(model: Any, ins: Sequence[Any], outs: Sequence[Any]) -> None:
    """Warn about each ``PlaceholderWithDefault`` the outputs read that is not an input."""
    from legacy_saver.metagraph.walk import closure

    fed = [t.name for t in ins]
    reached = {n.name for n in closure(model.guard.live, [t.name for t in outs], fed=fed)}
    defaults = model.input_defaults
    left_out = [name for name in defaults if name.split(":")[0] in reached]
    if left_out:
        shown = ", ".join(f"{name} (default {_short(defaults[name])})" for name in left_out)
        warnings.warn(
            f"{model.source.meta_path}: the outputs depend on {shown}, not among the inputs: "
            "the function always uses the default. Pass it as an input, or fix its value "
            "with LegacyModel.load(..., input_map={name: value}).",
            UserWarning,
            stacklevel=3,
        )


def _short(value: Any) -> str:
    text = repr(getattr(value, "tolist", lambda: value)())
    return text if len(text) <= 40 else text[:37] + "..."


def _closure(graph_def: Any, roots: set[str]) -> Any:
    """The nodes ``roots`` depend on (data and control inputs), as a new GraphDef."""
    nodes = {n.name: n for n in graph_def.node}
    keep: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep.add(name)
        stack.extend(i.lstrip("^").split(":")[0] for i in nodes[name].input)
    out = type(graph_def)()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    out.node.extend(n for n in graph_def.node if n.name in keep)
    return out


def _variable_values(model: Any, nodes: Sequence[Any]) -> dict[str, Any]:
    """Current values of the variables behind ``nodes``, in one session run."""
    fetches = {}
    for node in nodes:
        tensor = model.graph.get_tensor_by_name(node.name + ":0")
        fetches[node.name] = model.tensor(tensor.name) if node.op == "VarHandleOp" else tensor
    return model.run(fetches) if fetches else {}


def _make_class() -> type:
    import tensorflow as tf

    # tf.Module is untyped (Any to mypy): subclassing it is the point of this class.
    class _LegacyFunction(tf.Module):  # type: ignore[misc]
        """A pruned TF1 graph as a TF2 callable, owning copies of its variables.

        Attributes:
            input_specs: ``tf.TensorSpec`` of each input, named after the graph tensor.
            output_names: the graph names of the outputs, in order.
            legacy_variables: the function's ``tf.Variable`` objects (trainable: GradientTape
                sees both reference and resource variables of the TF1 graph).
            variable_names: the TF1 variable each of them copies, in the same order.
        """

        def __init__(
            self, fn: Any, variables: dict[str, Any], ins: list[Any], outs: list[Any]
        ) -> None:
            super().__init__(name="legacy_function")
            self._fn = fn
            self.legacy_variables = list(variables.values())
            self.variable_names = list(variables)
            self.input_specs = [tf.TensorSpec(t.shape, t.dtype, name=_key(t.name)) for t in ins]
            self.output_names = [t.name for t in outs]

        def __call__(self, *args: Any) -> list[Any]:
            if len(args) != len(self.input_specs):
                raise TypeError(
                    f"expected {len(self.input_specs)} inputs "
                    f"({', '.join(s.name for s in self.input_specs)}), got {len(args)}"
                )
            specs = self.input_specs
            cast = [tf.convert_to_tensor(a, s.dtype) for a, s in zip(args, specs, strict=True)]
            return list(self._fn(*cast))

    return _LegacyFunction


_CLASS: list[type] = []


def _function_class() -> type:
    """``LegacyFunction``, a ``tf.Module`` subclass, built when TensorFlow is first needed."""
    if not _CLASS:
        _CLASS.append(_make_class())
    return _CLASS[0]


def __getattr__(name: str) -> Any:
    if name == "LegacyFunction":
        return _function_class()
    raise AttributeError(name)


def _key(tensor_name: str) -> str:
    """A signature key from a tensor name: ``vgg_16/fc7/Relu:0`` -> ``vgg_16_fc7_Relu``."""
    base = tensor_name[:-2] if tensor_name.endswith(":0") else tensor_name
    return re.sub(r"[^A-Za-z0-9_]", "_", base)


def export_saved_model(
    model: Any, directory: str | os.PathLike[str], inputs: Sequence[Any], outputs: Sequence[Any]
) -> str:
    """Write a TF2 SavedModel whose ``serving_default`` signature computes ``outputs``.

    The signature's input keys are the input tensor names with ``/`` and ``:`` replaced by
    ``_`` (``w1:0`` -> ``w1``); its output keys likewise. ``tf.saved_model.load(directory)``
    also exposes ``serve(*inputs)`` returning that dict.

    Returns:
        The directory written.
    """
    import tensorflow as tf

    module = to_function(model, inputs, outputs)
    keys = [_key(n) for n in module.output_names]

    @tf.function(input_signature=module.input_specs)  # type: ignore[untyped-decorator]  # TF
    def serve(*args: Any) -> dict[str, Any]:
        return dict(zip(keys, module(*args), strict=True))

    module.serve = serve
    path = os.fspath(directory)
    if tf.executing_eagerly():
        tf.saved_model.save(module, path, signatures={"serving_default": serve})
    else:  # a TF1 program (disable_eager_execution): saving needs a session (#18.4)
        _save_in_graph_mode(module, path, serve)
    return path


def _save_in_graph_mode(module: Any, path: str, serve: Any) -> None:
    """``tf.saved_model.save`` in graph mode: the variables live in the graph ``init_scope``
    put them in, and are written from a session of that graph, initialized with the values
    ``to_function`` copied."""
    import tensorflow as tf

    variables = module.legacy_variables
    graph = variables[0].graph if variables else tf.compat.v1.get_default_graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        session.run([v.initializer for v in variables])
        tf.saved_model.save(module, path, signatures={"serving_default": serve})
