"""Meta graphs as data: read, check and scan a ``MetaGraphDef`` without importing it.

One floor below both importers (``legacy_saver.saver.import_meta_graph`` and
``legacy_saver.graph.LegacyModel``): ``read`` parses files with bounded size and typed
errors; ``scan`` reports the ops that touch files, processes or the network. Nothing here
imports a graph or runs an op; TensorFlow is imported (lazily) only for its protobufs.
"""

from .read import read_meta_graph, read_saved_model
from .scan import Finding, ScanReport, scan

__all__ = ["Finding", "ScanReport", "read_meta_graph", "read_saved_model", "scan"]
