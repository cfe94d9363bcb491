"""The Saver in eager mode: what stock's does, with an explicit ``var_list``.

TensorFlow 2 programs that kept ``tf.compat.v1.train.Saver`` pass their variables
(``Saver([v1, v2])`` or ``Saver({"name": v})``): with eager execution there is no graph to
collect them from, and variables are matched by name. Stock's restrictions hold here too:
no ``var_list`` is a ``RuntimeError``, ``build()`` is one, and no ``.meta`` is written. Each
``save``/``restore`` turns ``var_list`` into SaveableObjects again (variables may have been
recreated) and runs the ops at once: ``SaveV2`` (or ``SaveSlices`` for V1, or one per device
and a merge when sharded) into the Saver's claimed temporary prefix, then the usual commit,
state file and retention; ``RestoreV2`` after the same pre-restore check as in graph mode
(``checks.py``), object-based checkpoints mapped through ``full_name``.

To load a TF1 ``.meta`` and its checkpoint in eager mode, use ``legacy_saver.LegacyModel``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .builder import (
    BuildOptions,
    SaveGroup,
    _save_inputs,
    add_save_ops,
    add_sharded_save_ops,
    group_by_device,
    to_saveables,
)
from .checks import contents_of, plan_restore
from .naming import as_str
from .restoring import open_checkpoint
from .specs import RestoreSpec, full_shape
from .tf_types import Saveable, SaverDef, SaveSpec, SaveThunk, Tensor, VarList

NEEDS_VAR_LIST = (
    "When eager execution is enabled, `var_list` must specify a list or dict of variables to "
    "save (as for tf.compat.v1.train.Saver: there is no graph to collect them from). To load "
    "a TF1 .meta graph and its checkpoint in eager mode, use "
    "legacy_saver.LegacyModel.load(path), which works in eager mode."
)
NO_BUILD = "Use save/restore instead of build in eager mode."
EAGER_NAMES = "eager"  # the names_tensor of eager specs (nothing is fed)


def saver_def(options: BuildOptions) -> SaverDef:
    """The ``SaverDef`` of an eager Saver: its options, no tensor names (stock's leaves
    them empty too)."""
    made: SaverDef = tf.compat.v1.train.SaverDef(
        max_to_keep=options.max_to_keep or 0,
        keep_checkpoint_every_n_hours=options.keep_checkpoint_every_n_hours,
        sharded=options.sharded,
        version=options.write_version,
    )
    return made


def save_to(var_list: VarList, prefix: str, options: BuildOptions) -> str:
    """Writes ``var_list`` to ``prefix`` now; returns what the save tensor says (V1 sharded:
    the ``-?????-of-NNNNN`` pattern)."""
    saveables = to_saveables(var_list)
    filename = tf.constant(prefix)
    if options.sharded:
        inputs = [(device, _thunk(group)) for device, group in group_by_device(saveables)]
        written, _ = add_sharded_save_ops(filename, inputs, options.write_version)
    else:
        group = SaveGroup("", *(tuple(x) for x in _save_inputs(saveables)))
        written = add_save_ops(filename, group, options.write_version)
    return as_str(written.numpy())


def _thunk(saveables: list[Saveable]) -> SaveThunk:
    return lambda: _save_inputs(saveables)


def restore(var_list: VarList, save_path: str, options: BuildOptions) -> None:
    """Checks, then restores ``var_list`` from ``save_path`` now (nothing is assigned when
    the check fails: ``RestoreMismatchError``, also stock's ``tf.errors`` class)."""
    saveables = to_saveables(var_list)
    specs = specs_of(saveables, options.reshape)
    with open_checkpoint(save_path) as reader:
        prefix = reader.prefix if reader.format_version == 2 else save_path
        feeds = plan_restore(specs, contents_of(reader, prefix, (s.key for s in specs)))
    keys = feeds.get(EAGER_NAMES, [s.key for s in specs])
    names = [keys] if isinstance(keys, str) else list(keys)
    restored = tf.raw_ops.RestoreV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[s.slice_spec for s in specs],
        dtypes=[tf.as_dtype(s.dtype) for s in specs],
    )
    start = 0
    for saveable in saveables:
        count = len(saveable.specs)
        values = restored[start : start + count]
        shapes = [_shape_of(spec) for spec in saveable.specs] if options.reshape else None
        saveable.restore(values, shapes)
        start += count


def specs_of(saveables: list[Saveable], reshape: bool) -> list[RestoreSpec]:
    """What the restore reads, without evaluating any saveable's tensor (a custom
    saveable may count its evaluations): shapes come from variables only."""
    specs: list[RestoreSpec] = []
    for saveable in saveables:
        variable = saveable.op if isinstance(saveable.op, tf.Variable) else None
        for spec in saveable.specs:
            if spec.slice_spec:
                shape: tuple[int | None, ...] | None = full_shape(spec.slice_spec)
            elif variable is not None and len(saveable.specs) == 1:
                shape = tuple(variable.shape.as_list()) if variable.shape.rank is not None else None
            else:
                shape = None
            specs.append(
                RestoreSpec(
                    key=spec.name,
                    slice_spec=spec.slice_spec,
                    dtype=spec.dtype.base_dtype.as_datatype_enum,
                    shape=shape,
                    names_tensor=EAGER_NAMES,
                    index=len(specs),
                    reshape=reshape,
                )
            )
    return specs


def _shape_of(spec: SaveSpec) -> Any:  # a tf.TensorShape
    return spec.tensor.shape  # reshape=True only: the target's shape, as stock's builder


def global_step_value(global_step: int | np.integer | Tensor) -> int:
    """An int, a variable or a tensor (eager) as the step number."""
    if isinstance(global_step, int | np.integer):
        return int(global_step)
    return int(np.asarray(tf.convert_to_tensor(global_step)))
