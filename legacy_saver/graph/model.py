"""``LegacyModel``: a TF1 meta graph and its checkpoint, imported, restored and ready to run.

One object owns one ``tf.Graph`` and one session, so several models (or two copies of the
same ``.meta``) never share names. The meta graph is checked for ops this TensorFlow lacks and
fixed for devices and old version strings (``portable.py``, on ``legacy_saver.metagraph``'s
pipeline), then imported. In safe mode (the default) nothing from the file runs unless it is
on the allowlist of pure computation: the restore and a SavedModel's init op are decided in
``safe.py``, and every ``run`` is checked by the guard (``guard.py``). Tensors are fetched by
name; ``"w:0"`` of a resource variable gives its value, not the handle. ``to_function`` and
``export_saved_model`` (``export.py``) carry the graph into TF2 code.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from legacy_saver.errors import TensorNotFoundError
from legacy_saver.metagraph.walk import FunctionTable

from .guard import Guard, LiveGraph
from .portable import DeviceMap, import_portably
from .safe import LoadOptions, restore_and_initialize
from .sources import GraphSource, resolve_source

if TYPE_CHECKING:  # the Saver imports TensorFlow: only the type checker reads it here
    from legacy_saver.saver import Saver
    from legacy_saver.saver.tf_types import Graph, Session

__all__ = ["LegacyModel", "Signature"]

_MAX_SUGGESTIONS = 5
_MAX_FETCHES_NAMED = 3
_DEFAULT_SIGNATURE = "serving_default"
_INPUT_OPS = ("Placeholder", "PlaceholderWithDefault")


@dataclass(frozen=True)
class Signature:
    """A signature def resolved to this model's tensors."""

    method_name: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]


class LegacyModel:
    """A TF1 model imported into its own graph and session; build it with ``load``."""

    def __init__(
        self,
        source: GraphSource,
        graph: Graph,
        session: Session,
        saver: Saver | None,
        *,
        guard: Guard,
        scope: str | None = None,
    ) -> None:
        self.source = source
        self.graph = graph
        self.session = session
        self.saver = saver
        self.checkpoint = source.checkpoint
        self.guard = guard
        self.scope = scope
        self._reads: dict[str, Any] = {}

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        checkpoint: Any = None,
        *,
        clear_devices: bool = True,
        device_map: DeviceMap | None = None,
        import_scope: str | None = None,
        input_map: Mapping[str, Any] | None = None,
        allow_unsafe: bool = False,
        skip_unsafe_init: bool = False,
    ) -> LegacyModel:
        """Import the meta graph at ``path`` into a new graph and restore its checkpoint.

        Args:
            path: a ``.meta`` file, a checkpoint prefix, a checkpoint directory (its latest
                checkpoint) or a TF1 SavedModel directory.
            checkpoint: None (the checkpoint beside the meta graph), a prefix or directory to
                restore from instead, or False to import without restoring.
            clear_devices: drop the devices recorded in the graph.
            device_map: remap devices instead (dict or function), e.g. ``{"/gpu:0": ""}``.
            import_scope: name scope to import under.
            input_map: ``{name in the meta graph: value}`` replacing graph inputs; values
                become constants of the model's graph (e.g. ``{"keep_prob:0": 1.0}``).
            allow_unsafe: trust the file: run its restore and init ops as stock TensorFlow
                does, and let ``run`` fetch anything. Default: safe mode (``safe.py``).
            skip_unsafe_init: in safe mode, skip a SavedModel init op that reaches unsafe ops
                (with a warning) instead of refusing to load.

        Raises:
            UnsafeGraphError: in safe mode, what the load must run reaches unsafe ops.
            UnsupportedFeatureError: ops this TensorFlow does not register.
            CheckpointNotFoundError: no meta graph, or an explicit checkpoint is absent.
        """
        import tensorflow as tf

        source = resolve_source(path, checkpoint)
        graph = tf.Graph()
        saver, scope = import_portably(
            source.meta,
            graph,
            source=source.meta_path,
            clear_devices=clear_devices,
            device_map=device_map,
            import_scope=import_scope,
            input_map=input_map,
        )
        prefix = f"{scope}/" if scope else ""
        functions = FunctionTable(source.meta.graph_def.library)
        live = LiveGraph(graph, (prefix + n.name for n in source.meta.graph_def.node), functions)
        guard = Guard(live, source.meta_path, enabled=not allow_unsafe)
        session = tf.compat.v1.Session(graph=graph)
        model = cls(source, graph, session, saver, guard=guard, scope=scope)
        try:
            options = LoadOptions(allow_unsafe=allow_unsafe, skip_unsafe_init=skip_unsafe_init)
            restore_and_initialize(model, options)
        except BaseException:
            model.close()
            raise
        return model

    # -- names -------------------------------------------------------------------------

    def tensor(self, name: str) -> Any:
        """The tensor (or op, for a name without ``:``) called ``name``.

        ``"w:0"`` of a resource variable returns the variable's value (its
        ``w/Read/ReadVariableOp:0``, or a read op created once), not the resource handle.

        Raises:
            TensorNotFoundError: no such tensor; the message lists close names.
        """
        try:
            found = self.graph.as_graph_element(name, allow_tensor=True, allow_operation=True)
        except (KeyError, ValueError, TypeError) as e:
            raise TensorNotFoundError(self._not_found(name)) from e
        if getattr(found, "dtype", None) is not None and found.dtype.name == "resource":
            return self._read(found)
        return found

    def _not_found(self, name: str) -> str:
        names = [t.name for op in self.graph.get_operations() for t in op.outputs]
        names += [op.name for op in self.graph.get_operations()]
        close = difflib.get_close_matches(name, names, n=_MAX_SUGGESTIONS, cutoff=0.6)
        hint = f"; close names: {', '.join(close)}" if close else ""
        return f"{self.source.meta_path} has no tensor {name!r}{hint}"

    def _read(self, handle: Any) -> Any:
        if handle.name in self._reads:
            return self._reads[handle.name]
        import tensorflow as tf

        for consumer in handle.consumers():
            if consumer.type == "ReadVariableOp" and consumer.name.endswith("/Read/ReadVariableOp"):
                value = consumer.outputs[0]
                break
        else:
            with self.graph.as_default(), tf.name_scope(handle.op.name + "/"):
                dtype = handle.op.get_attr("dtype")
                value = tf.raw_ops.ReadVariableOp(resource=handle, dtype=dtype, name="Value")
        self._reads[handle.name] = value
        return value

    @property
    def variables(self) -> list[Any]:
        """The graph's global variables."""
        return list(self.graph.get_collection("variables"))

    @property
    def inputs(self) -> list[Any]:
        """The file's inputs: ``Placeholder`` and ``PlaceholderWithDefault`` outputs (tensors,
        with ``.name``, ``.dtype`` and ``.shape``), except savers' file name inputs.

        ``input_defaults`` gives the default of each ``PlaceholderWithDefault`` (such as
        ``is_training``): left unfed, it takes that value.
        """
        excluded = self._saver_inputs()
        return [
            op.outputs[0]
            for op in self.graph.get_operations()
            if op.type in _INPUT_OPS
            and self.guard.live.from_file(op.name)
            and op.name not in excluded
        ]

    @property
    def input_defaults(self) -> dict[str, Any]:
        """``{tensor name: default}`` for each ``PlaceholderWithDefault`` of ``inputs`` (the
        default as a numpy value when it is a constant, else the default tensor)."""
        import tensorflow as tf

        out = {}
        for tensor in self.inputs:
            if tensor.op.type == "PlaceholderWithDefault":
                default = tensor.op.inputs[0]
                value = tf.get_static_value(default)
                out[tensor.name] = default if value is None else value
        return out

    def _saver_inputs(self) -> set[str]:
        """Nodes that compute a saver's file name (``save/Const``, ``save/filename``)."""
        from legacy_saver.metagraph.walk import closure

        roots = []
        for saver in [self.saver, *self.graph.get_collection("savers")]:
            saver_def = getattr(saver, "saver_def", None)
            if saver_def is not None and saver_def.filename_tensor_name:
                roots.append(saver_def.filename_tensor_name)
        meta = self.source.meta
        if meta.HasField("saver_def") and meta.saver_def.filename_tensor_name:
            prefix = f"{self.scope}/" if self.scope else ""
            roots.append(prefix + meta.saver_def.filename_tensor_name)
        return {n.name for n in closure(self.guard.live, roots)}

    @property
    def signatures(self) -> dict[str, Signature]:
        """The meta graph's signature defs resolved to tensors (empty when it has none)."""
        out = {}
        for key, sig in self.source.meta.signature_def.items():
            out[key] = Signature(
                sig.method_name,
                {k: self.tensor(v.name) for k, v in sig.inputs.items() if v.name},
                {k: self.tensor(v.name) for k, v in sig.outputs.items() if v.name},
            )
        return out

    @property
    def outputs(self) -> dict[str, Any]:
        """Outputs of the ``serving_default`` signature (else the first one); {} without any."""
        sigs = self.signatures
        if not sigs:
            return {}
        return dict(sigs.get(_DEFAULT_SIGNATURE, sigs[sorted(sigs)[0]]).outputs)

    # -- running -----------------------------------------------------------------------

    def run(self, fetches: Any, feed_dict: Mapping[Any, Any] | None = None) -> Any:
        """``session.run`` where fetches and feed keys may be names.

        In safe mode, refuses (``UnsafeGraphError``, listing them) fetches that would run an
        op from the file that is not on the allowlist; fed tensors cut the walk, as they cut
        what ``session.run`` runs. ``model.session.run`` is not checked.
        """
        import tensorflow as tf

        resolved = tf.nest.map_structure(
            lambda f: self.tensor(f) if isinstance(f, str) else f, fetches
        )
        feeds = {
            (self.graph.get_tensor_by_name(_tensor_name(k)) if isinstance(k, str) else k): v
            for k, v in (feed_dict or {}).items()
        }
        self.check_fetches(tf.nest.flatten(resolved), feeds)
        return self.session.run(resolved, feed_dict=feeds)

    def check_fetches(self, fetches: Sequence[Any], feeds: Any = ()) -> None:
        """Raise ``UnsafeGraphError`` when running ``fetches`` (tensors, ops or names) with
        ``feeds`` (tensors or names) fed would run an unsafe op from the file (safe mode)."""
        roots = [f if isinstance(f, str) else f.name for f in fetches]
        fed = [f if isinstance(f, str) else f.name for f in feeds]
        named = ", ".join(roots[:_MAX_FETCHES_NAMED]) + (
            ", ..." if len(roots) > _MAX_FETCHES_NAMED else ""
        )
        self.guard.check(roots, fed, what=f"fetching {named}")

    def to_function(self, inputs: Sequence[Any], outputs: Sequence[Any]) -> Any:
        """A TF2 callable computing ``outputs`` from ``inputs`` (see ``export.py``)."""
        from .export import to_function

        return to_function(self, inputs, outputs)

    def export_saved_model(
        self, directory: str | os.PathLike[str], inputs: Sequence[Any], outputs: Sequence[Any]
    ) -> str:
        """Write a TF2 SavedModel serving ``outputs`` from ``inputs`` (see ``export.py``)."""
        from .export import export_saved_model

        return export_saved_model(self, directory, inputs, outputs)

    def close(self) -> None:
        """Close the session (idempotent)."""
        self.session.close()

    def __enter__(self) -> LegacyModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"LegacyModel({self.source.meta_path!r}, checkpoint={self.checkpoint!r}, "
            f"{len(self.graph.get_operations())} ops, {len(self.variables)} variables)"
        )


def _tensor_name(name: str) -> str:
    return name if ":" in name else name + ":0"
