"""A graph-mode TF1 Saver on TensorFlow's primitives, drop-in for ``tf.compat.v1.train.Saver``.

``from legacy_saver import Saver, import_meta_graph, export_meta_graph`` (one import
line to switch; see ``docs/saver.md``). Importing this package imports TensorFlow.

Modules: ``saver`` (the class), ``builder`` (save/restore subgraph and SaverDef),
``specs`` (what a restore op reads), ``checks`` (the pre-restore comparison),
``retention`` (the pure keep/delete policy), ``ledger`` (state file and deletions),
``atomic`` (temporary prefixes, renames, fsync), ``importing`` (import_meta_graph),
``meta_graph`` (export_meta_graph, the graph-mode guard), ``background`` (async saves),
``hooks`` (``AsyncCheckpointSaverHook``) and ``tf_types`` (the TensorFlow objects it touches,
as Protocols for the type checker).
"""

from .hooks import AsyncCheckpointSaverHook
from .importing import import_meta_graph
from .meta_graph import export_meta_graph
from .saver import Saver

__all__ = ["AsyncCheckpointSaverHook", "Saver", "export_meta_graph", "import_meta_graph"]
