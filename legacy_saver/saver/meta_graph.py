"""``export_meta_graph`` (written atomically) and the graph-mode guard of the Saver.

``import_meta_graph`` lives in ``importing.py``: it builds Savers, so it sits above
``saver.py``, which exports through this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import tensorflow as tf
from tensorflow.python.framework import meta_graph as tf_meta_graph

from . import atomic
from .tf_types import Graph, Proto, SaverDef


def require_graph_mode(what: str) -> None:
    if tf.executing_eagerly():
        raise RuntimeError(
            f"legacy_saver {what} needs graph mode (inside `with tf.Graph().as_default():` or "
            "after tf.compat.v1.disable_eager_execution()): a meta graph is a graph. In eager "
            "mode, load a TF1 .meta graph with its checkpoint through "
            "legacy_saver.LegacyModel.load(path), which works in eager mode; a Saver with an "
            "explicit var_list saves and restores variables in eager mode too."
        )


def export_meta_graph(
    filename: str | os.PathLike[str] | None = None,
    meta_info_def: Proto | None = None,
    graph_def: Proto | None = None,
    saver_def: SaverDef | None = None,
    collection_list: Iterable[str] | None = None,
    as_text: bool = False,
    graph: Graph | None = None,
    export_scope: str | None = None,
    clear_devices: bool = False,
    clear_extraneous_savers: bool = False,
    strip_default_attrs: bool = False,
    save_debug_info: bool = False,
    **kwargs: Any,
) -> Proto:
    """As ``tf.compat.v1.train.export_meta_graph``; the file is written atomically."""
    if tf.executing_eagerly() and not (graph_def is not None and graph is not None):
        require_graph_mode("export_meta_graph")
    meta_graph_def, _ = tf_meta_graph.export_scoped_meta_graph(
        meta_info_def=meta_info_def,
        graph_def=graph_def,
        saver_def=saver_def,
        collection_list=collection_list,
        graph=graph,
        export_scope=export_scope,
        clear_devices=clear_devices,
        clear_extraneous_savers=clear_extraneous_savers,
        strip_default_attrs=strip_default_attrs,
        **kwargs,
    )
    if filename:
        write_meta_graph_file(meta_graph_def, os.fspath(filename), as_text=as_text)
        if save_debug_info:
            _write_debug_info(meta_graph_def, os.fspath(filename), graph, export_scope, as_text)
    return meta_graph_def


def write_meta_graph_file(
    meta_graph_def: Proto, filename: str, *, as_text: bool = False, fsync: bool = True
) -> None:
    directory = os.path.dirname(filename)
    if directory:
        os.makedirs(directory, exist_ok=True)
    if as_text:
        from google.protobuf import text_format

        data = text_format.MessageToString(meta_graph_def).encode("utf-8")
    else:
        data = meta_graph_def.SerializeToString(deterministic=True)  # same graph, same bytes
    atomic.write_atomic(filename, data, fsync=fsync)


def debug_info(
    meta_graph_def: Proto, graph: Graph | None = None, export_scope: str | None = None
) -> Proto:
    """The ``GraphDebugInfo`` of the nodes of ``meta_graph_def`` (their creation stacks in
    ``graph``, default: the default graph), as TensorFlow's exporter builds it."""
    from tensorflow.python.framework import error_interpolation

    graph = graph or tf.compat.v1.get_default_graph()
    ops = [
        ("", graph.get_operation_by_name(_scoped(node.name, export_scope)))
        for node in meta_graph_def.graph_def.node
    ]
    return error_interpolation.create_graph_debug_info_def(ops)


def debug_info_path(meta_filename: str) -> str:
    """``<name>.debug`` beside the meta graph ``<name>.<suffix>``, TensorFlow's name."""
    return os.path.splitext(meta_filename)[0] + ".debug"


def _write_debug_info(
    meta_graph_def: Proto,
    filename: str,
    graph: Graph | None,
    export_scope: str | None,
    as_text: bool,
) -> None:
    info = debug_info(meta_graph_def, graph, export_scope)
    write_meta_graph_file(info, debug_info_path(filename), as_text=as_text)


def _scoped(name: str, scope: str | None) -> str:
    return f"{scope.rstrip('/')}/{name}" if scope else name
