"""``import_meta_graph`` / ``export_meta_graph``: TensorFlow's machinery moves the graph,
we fix what it gets wrong around it.

The file is read by ``legacy_saver.metagraph.read`` (regular files only, bounded by their
size, typed errors) and fixed by ``legacy_saver.metagraph.prepare`` (the pipeline
``LegacyModel.load`` runs too), on a copy; the caller's proto is not touched:

* Meta graphs written by TF 0.12 carry ``tensorflow_version: "0.12.head"``, which
  TF 2.21 feeds to ``packaging.version`` and dies on (``InvalidVersion``). We keep
  the leading ``0.12`` instead, so the pre-1.9 rule for ``trainable`` still applies.
* With ``clear_devices``, devices are cleared in function bodies too; with
  ``import_scope``, resource variables and tables get a scoped ``shared_name``, so a
  second import does not share the first one's state.
* Importing into a graph that already has nodes of the same names makes TensorFlow
  rename the new nodes (``w`` -> ``w_1``) while collections and the SaverDef still
  name the old ones, so the second import's Saver restores the first import's
  variables (tensorflow/tensorflow#6774). We refuse, and say to pass ``import_scope``.
* Ops this TensorFlow does not have (``tf.contrib``) are listed up front, with the
  nodes that use them.
* The Saver returned is ours, built from the stored ``SaverDef`` (LEGACY, V1 and V2),
  and so are the ones recreated in the ``savers`` collection.
* ``export_meta_graph`` (``meta_graph.py``) writes the file through a temporary name and a rename.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.python.framework import meta_graph as tf_meta_graph

from ..metagraph import read as metagraph_read
from ..metagraph.prepare import PrepareOptions, prepare
from .builder import all_saveables
from .meta_graph import require_graph_mode
from .saver import Saver
from .tf_types import Graph, Proto, Tensor, Variable

SAVERS = tf.compat.v1.GraphKeys.SAVERS
MAX_NAMES_SHOWN = 5


def read_meta_graph(
    meta_graph_or_file: meta_graph_pb2.MetaGraphDef | str | os.PathLike[str],
) -> meta_graph_pb2.MetaGraphDef:
    """The MetaGraphDef (a proto, or a binary or text file read with bounded size)."""
    if isinstance(meta_graph_or_file, meta_graph_pb2.MetaGraphDef):
        return meta_graph_or_file  # prepare() copies it before anything changes
    return metagraph_read.read_meta_graph(os.fspath(meta_graph_or_file))


def check_no_clash(graph_def: Proto, graph: Graph) -> None:
    """Refuses an unscoped import whose node names already exist (#6774)."""
    existing = {op.name for op in graph.get_operations()}
    clashes = [node.name for node in graph_def.node if node.name in existing]
    if clashes:
        shown = ", ".join(repr(n) for n in clashes[:MAX_NAMES_SHOWN])
        raise ValueError(
            f"import_meta_graph: {len(clashes)} of {len(graph_def.node)} node names already "
            f"exist in the graph ({shown}{', ...' if len(clashes) > MAX_NAMES_SHOWN else ''}). "
            "TensorFlow would rename the new nodes but resolve collections and the "
            "SaverDef to the old ones, so the Saver would restore the wrong variables "
            "(tensorflow/tensorflow#6774). Pass import_scope='...' or import into a "
            "fresh tf.Graph()."
        )


def import_meta_graph(
    meta_graph_or_file: meta_graph_pb2.MetaGraphDef | str | os.PathLike[str],
    clear_devices: bool = False,
    import_scope: str | None = None,
    input_map: Mapping[str, Tensor] | None = None,
    unbound_inputs_col_name: str = "unbound_inputs",
    restore_collections_predicate: Callable[[str], bool] | None = None,
    *,
    graph: Graph | None = None,
    safe: bool = False,
    allow_unsafe: bool = False,
) -> Saver | None:
    """Imports a meta graph into ``graph`` (default: the default graph); returns our Saver
    for it (or None).

    As ``tf.compat.v1.train.import_meta_graph`` (whose ``**kwargs`` are ``graph``,
    ``input_map``, ...), with the fixes in the module docstring.
    With ``safe=True`` the graph is scanned first (``legacy_saver.scan``, function
    bodies included) and ``UnsafeGraphError`` lists every op that touches files,
    processes or the network outside the saver's own subgraph, unless ``allow_unsafe``.
    """
    require_graph_mode("import_meta_graph")
    is_file = isinstance(meta_graph_or_file, str | os.PathLike)
    source = os.fspath(meta_graph_or_file) if is_file else "<MetaGraphDef>"
    meta_graph_def = read_meta_graph(meta_graph_or_file)
    if safe and not allow_unsafe:
        from ..metagraph.scan import raise_if_unsafe

        raise_if_unsafe(meta_graph_def, source)
    graph = tf.compat.v1.get_default_graph() if graph is None else graph
    if not import_scope:
        check_no_clash(meta_graph_def.graph_def, graph)
    options = PrepareOptions(clear_devices=clear_devices, shared_name_scope=import_scope)
    return import_prepared(
        prepare(meta_graph_def, options, source),
        graph,
        import_scope=import_scope,
        input_map=input_map,
        unbound_inputs_col_name=unbound_inputs_col_name,
        restore_collections_predicate=restore_collections_predicate,
    )


def import_prepared(
    meta_graph_def: meta_graph_pb2.MetaGraphDef,
    graph: Graph,
    *,
    import_scope: str | None = None,
    input_map: Mapping[str, Tensor] | None = None,
    unbound_inputs_col_name: str = "unbound_inputs",
    restore_collections_predicate: Callable[[str], bool] | None = None,
) -> Saver | None:
    """Import a meta graph that ``legacy_saver.metagraph.prepare`` has fixed into ``graph``.

    The one place that hands a meta graph to TensorFlow's importer (``import_meta_graph``
    and ``LegacyModel.load`` both end here); returns our Saver for it, or None.
    """
    wanted = restore_collections_predicate or (lambda key: True)
    imported_vars, _ = tf_meta_graph.import_scoped_meta_graph_with_return_elements(
        meta_graph_def,
        clear_devices=False,  # prepare() did it, in function bodies too
        graph=graph,
        import_scope=import_scope,
        input_map=input_map,
        unbound_inputs_col_name=unbound_inputs_col_name,
        restore_collections_predicate=lambda key: key != SAVERS and wanted(key),
    )
    scope = _imported_scope(import_scope, imported_vars)
    with graph.as_default():  # the Savers below look at, and build in, ``graph``
        if SAVERS in meta_graph_def.collection_def and wanted(SAVERS):
            for raw in meta_graph_def.collection_def[SAVERS].bytes_list.value:
                saver_def = tf.compat.v1.train.SaverDef.FromString(raw)
                graph.add_to_collection(SAVERS, Saver.from_proto(saver_def, import_scope=scope))
        if meta_graph_def.HasField("saver_def"):
            return Saver(saver_def=meta_graph_def.saver_def, name=scope)
        if [v for v in all_saveables() if _in_scope(v, import_scope)]:
            return Saver()
    return None


def _imported_scope(import_scope: str | None, imported_vars: Mapping[str, Variable]) -> str | None:
    if imported_vars:
        key, variable = next(iter(imported_vars.items()))
        name: str = variable.name
        return name[: -len(key)]
    return import_scope


def _in_scope(variable: Variable, scope: str | None) -> bool:
    return not scope or getattr(variable, "name", "").startswith(scope)
