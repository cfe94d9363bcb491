"""What ``LoadedModel.load`` runs from the file, in safe mode and with ``allow_unsafe``.

Safe mode (the default) runs nothing from the file that is not ours or allowed
(``legacy_saver.metagraph.loading`` decides, on the imported graph):

- **Restore**: the ``SaverDef``'s restore op only when it is proven canonical; otherwise a
  restore subgraph of our own, built from the graph's variables by the Saver's builder
  (``legacy_saver.Saver``), checked by the guard (it reads the file's variable nodes) and then
  run. ``model.saver`` is the file's Saver only when both its restore and save sides are
  canonical; otherwise it is ours, so ``model.saver.save`` never runs the file's save op.
- **SavedModel init op** (main op, legacy init op, table initializers): run with the assets
  fed (``legacy_saver.metagraph.assets``: paths inside ``assets/`` only) when every op it
  reaches is allowed; otherwise refused with the list, or skipped with a warning when the
  caller passed ``skip_unsafe_init=True``.

With ``allow_unsafe=True`` the file's restore op and init op run as TensorFlow's own loaders
run them (assets still resolve only inside ``assets/``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from legacy_saver.errors import CorruptCheckpointError, UnsafeGraphError
from legacy_saver.metagraph.assets import resolve_assets
from legacy_saver.metagraph.loading import FILE_RESTORE, find_init_ops, init_step, restore_step
from legacy_saver.metagraph.saverdef import check_save

from .guard import Guard, refusal
from .restore import restore_variables
from .sources import GraphSource

if TYPE_CHECKING:  # the Saver imports TensorFlow: only the type checker reads it here
    from legacy_saver.saver import Saver
    from legacy_saver.saver.tf_types import Graph, Session

__all__ = ["LoadOptions", "restore_and_initialize"]


class LoadedModel(Protocol):
    """What this module reads and sets on a ``LegacyModel`` (``model.py`` imports us)."""

    source: GraphSource
    graph: Graph
    session: Session
    saver: Saver | None
    checkpoint: str | None
    guard: Guard
    scope: str | None


@dataclass(frozen=True)
class LoadOptions:
    """How much of the file ``load`` may run.

    Attributes:
        allow_unsafe: run the file's restore and init ops as stock TensorFlow does, and let
            ``run`` fetch anything.
        skip_unsafe_init: in safe mode, skip (with a warning) a SavedModel init op that
            reaches unsafe ops instead of refusing to load.
    """

    allow_unsafe: bool = False
    skip_unsafe_init: bool = False


def restore_and_initialize(model: LoadedModel, options: LoadOptions) -> None:
    """Choose the saver, restore ``model.checkpoint`` and run a SavedModel's init op."""
    guard: Guard = model.guard
    own = False
    if not options.allow_unsafe:
        model.saver, own = _safe_saver(model, guard)
    if model.checkpoint is not None:
        with model.graph.as_default():
            if model.saver is not None:
                if own:
                    _check_own_restore(model, model.saver, guard)
                model.saver.restore(model.session, model.checkpoint)
            else:
                restore_variables(model.session, model.checkpoint)
    saved_model_dir = model.source.saved_model_dir
    if saved_model_dir is not None and model.checkpoint is not None:
        _run_init(model, saved_model_dir, guard, options)


def _scoped(model: LoadedModel, name: str) -> str:
    return f"{model.scope}/{name}" if model.scope else name


def _safe_saver(model: LoadedModel, guard: Guard) -> tuple[Saver | None, bool]:
    """The file's Saver when canonical on both sides, else ours (None: no variables), and
    whether it is ours."""
    live = guard.live
    saver = model.saver
    file_variables = [
        op.name
        for op in model.graph.get_operations()
        if live.from_file(op.name) and op.type in ("VariableV2", "Variable", "VarHandleOp")
    ]
    saver_def = saver.saver_def if saver is not None else None
    step, check = restore_step(live, live.functions, saver_def, file_variables)
    notes = list(step.notes)
    if step.action == FILE_RESTORE and saver_def is not None:
        save = check_save(
            live, live.functions, saver_def.save_tensor_name, saver_def.filename_tensor_name
        )
        if save.canonical:
            return saver, False
        notes = ["the file's save subgraph is not canonical:", *save.problems]
    own = _own_saver(model)
    if saver is not None:
        warnings.warn(
            f"{model.source.meta_path}: using a restore/save subgraph of our own, built from "
            "the graph's variables, instead of the SaverDef's; "
            + " ".join(notes[:6])
            + (" ..." if len(notes) > 6 else ""),
            UserWarning,
            stacklevel=4,
        )
    return own, True


def _own_saver(model: LoadedModel) -> Saver | None:
    from legacy_saver.saver import Saver
    from legacy_saver.saver.builder import all_saveables

    with model.graph.as_default():
        if not all_saveables():
            return None
        return Saver(name="legacy_saver_restore")


def _check_own_restore(model: LoadedModel, saver: Saver, guard: Guard) -> None:
    """Our restore op assigns the file's variable nodes: what they depend on must be safe."""
    saver_def = saver.saver_def
    if saver_def is None:  # an empty Saver restores nothing
        return
    found = guard.findings([saver_def.restore_op_name], [saver_def.filename_tensor_name])
    if found and guard.enabled:
        raise UnsafeGraphError(refusal(model.source.meta_path, "restoring the variables", found))


def _run_init(model: LoadedModel, saved_model_dir: str, guard: Guard, options: LoadOptions) -> None:
    """The SavedModel's init op, with every asset fed its path inside ``assets/``."""
    found_init = find_init_ops(model.source.meta)
    if found_init is None:
        return
    key, names = found_init
    roots = [_scoped(model, n) for n in names]
    assets = resolve_assets(model.source.meta, saved_model_dir)
    feeds = {_scoped(model, a.tensor): a.path for a in assets}
    if not options.allow_unsafe:
        step = init_step(guard.live, guard.live.functions, key, roots, list(feeds))
        if step.findings:
            what = f"the SavedModel's {key}"
            if not options.skip_unsafe_init:
                hint = (
                    "pass skip_unsafe_init=True to load without running it, or "
                    "allow_unsafe=True if you trust the file"
                )
                raise UnsafeGraphError(refusal(model.source.meta_path, what, step.findings, hint))
            warnings.warn(
                refusal(model.source.meta_path, what, step.findings, "skipped it as asked"),
                UserWarning,
                stacklevel=4,
            )
            return
    try:
        feed_dict = {model.graph.get_tensor_by_name(name): path for name, path in feeds.items()}
    except (KeyError, ValueError) as e:
        raise CorruptCheckpointError(
            f"{model.source.meta_path}: an asset names a tensor the graph lacks ({e})"
        ) from None
    model.session.run(roots, feed_dict=feed_dict)
