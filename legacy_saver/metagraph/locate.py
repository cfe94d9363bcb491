"""Where the meta graph for a path lives: a ``.meta``, a prefix, a directory, a SavedModel.

``LegacyModel.load`` and ``scan`` resolve paths here, the same way:

- a directory with ``saved_model.pb`` (or ``.pbtxt``): that SavedModel;
- any other directory: the ``.meta`` of its latest checkpoint (the state file). A training
  loop that saves with ``write_meta_graph=False`` (TF's tutorial pattern) leaves only the
  first checkpoint's ``.meta``: then the newest ``.meta`` of the directory whose variables are
  exactly the checkpoint's is used, with a ``UserWarning`` saying which; when none matches, the
  error lists the ``.meta`` files found and the call that works;
- ``P.meta``: that file, with the prefix ``P``;
- anything else is a checkpoint prefix ``P`` and the meta graph is ``P.meta``, *even when a
  file named ``P`` exists* (a V1 checkpoint, or a decoy): ``P`` itself is never parsed.

Directory listings use exact names (``naming.META_SUFFIX``) and skip temporaries.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

from legacy_saver.bundle.naming import META_SUFFIX, OBJECT_GRAPH_KEY, is_temp
from legacy_saver.errors import CheckpointError, CheckpointNotFoundError

from .read import SAVED_MODEL_PB, SAVED_MODEL_PBTXT, read_meta_graph

__all__ = ["MetaGraphLocation", "locate_meta_graph", "meta_graph_variables"]

MAX_CANDIDATES = 50  # .meta files looked at when the latest checkpoint has none


@dataclass(frozen=True)
class MetaGraphLocation:
    """Where the meta graph for a path lives.

    Attributes:
        meta_path: the ``.meta`` file, or the SavedModel's ``saved_model.pb``.
        prefix: the checkpoint prefix that goes with it (may not exist), or None.
        saved_model_dir: the SavedModel directory, or None for a ``.meta``.
    """

    meta_path: str
    prefix: str | None
    saved_model_dir: str | None = None


def locate_meta_graph(path: str | os.PathLike[str]) -> MetaGraphLocation:
    """Resolve ``path`` to its meta graph (see the module docstring).

    Raises:
        CheckpointNotFoundError: no meta graph there.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in (SAVED_MODEL_PB, SAVED_MODEL_PBTXT):
            if os.path.lexists(os.path.join(path, name)):
                pb = os.path.join(path, name)
                return MetaGraphLocation(pb, os.path.join(path, "variables", "variables"), path)
        prefix = _latest_checkpoint(path)
        if not os.path.lexists(prefix + META_SUFFIX):
            return MetaGraphLocation(_matching_meta(path, prefix), prefix)
        return MetaGraphLocation(prefix + META_SUFFIX, prefix)
    if path.endswith(META_SUFFIX):
        return MetaGraphLocation(path, path[: -len(META_SUFFIX)])
    if os.path.lexists(path + META_SUFFIX):
        return MetaGraphLocation(path + META_SUFFIX, path)
    raise CheckpointNotFoundError(f"no meta graph at {path} (nor {path}{META_SUFFIX})")


def _latest_checkpoint(directory: str) -> str:
    from legacy_saver.bundle.state import latest_checkpoint

    latest = latest_checkpoint(directory)
    if latest is None:
        raise CheckpointNotFoundError(f"{directory} has no 'checkpoint' state file")
    return latest


def meta_graph_variables(meta: Any) -> set[str]:
    """The checkpoint keys of a meta graph's variables (partitions by their full name)."""
    from tensorflow.core.framework import variable_pb2

    names: set[str] = set()
    for key in ("variables", "model_variables", "local_variables"):
        collection = meta.collection_def.get(key)
        if collection is None:
            continue
        for raw in collection.bytes_list.value:
            try:
                variable = variable_pb2.VariableDef.FromString(raw)
            except Exception:  # protobuf's DecodeError: not a variable
                continue
            full = variable.save_slice_info_def.full_name
            names.add(full or variable.variable_name.rsplit(":", 1)[0])
    return names


def _matching_meta(directory: str, prefix: str) -> str:
    """The newest ``.meta`` in ``directory`` whose variables are the checkpoint's keys."""
    from legacy_saver.bundle import load_checkpoint

    with load_checkpoint(prefix) as reader:
        keys = {k for k in reader.keys() if k != OBJECT_GRAPH_KEY}
    candidates = _meta_files(directory)
    for candidate in candidates[:MAX_CANDIDATES]:
        try:
            variables = meta_graph_variables(read_meta_graph(candidate))
        except CheckpointError:
            continue
        if variables and variables == keys:
            warnings.warn(
                f"{prefix} has no {META_SUFFIX} (saved with write_meta_graph=False); using "
                f"{candidate}, the newest meta graph in {directory} whose variables match "
                "the checkpoint's",
                UserWarning,
                stacklevel=3,
            )
            return candidate
    found = ", ".join(os.path.basename(c) for c in candidates[:10]) or "none"
    example = candidates[0] if candidates else "path/to/model.meta"
    raise CheckpointNotFoundError(
        f"the latest checkpoint in {directory} is {prefix}, but {prefix}{META_SUFFIX} does not "
        f"exist and no meta graph there has the checkpoint's {len(keys)} variables "
        f"(meta graphs found: {found}); name both: "
        f"LegacyModel.load({example!r}, checkpoint={prefix!r})"
    )


def _meta_files(directory: str) -> list[str]:
    """``*.meta`` regular files of ``directory`` (exact suffix, no temporaries), newest first."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.endswith(META_SUFFIX) and not is_temp(entry.name):
                try:
                    if entry.is_file(follow_symlinks=False):
                        found.append((entry.stat().st_mtime_ns, entry.path))
                except OSError:
                    continue
    return [path for _, path in sorted(found, reverse=True)]
