"""Imported TF1 graphs: run, partially restore, fine-tune, export, and scan untrusted ``.meta``.

Nothing here imports TensorFlow at import time; the functions do when called.

- ``LegacyModel.load(path)``: import a ``.meta`` (or prefix, directory, TF1 SavedModel) into
  its own graph and session and restore it (``model.py``).
- ``restore_variables(session, checkpoint, ...)``: restore a selection of variables
  (``restore.py``).
- ``scan(meta)``: list the ops that touch files, processes or the network
  (``legacy_saver.metagraph.scan``).
"""

from legacy_saver.metagraph import Finding, ScanReport, scan

from .model import LegacyModel
from .restore import RestoreReport, restore_variables

__all__ = ["Finding", "LegacyModel", "RestoreReport", "ScanReport", "restore_variables", "scan"]
