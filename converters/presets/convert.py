"""``convert``: a checkpoint into a Keras 3 model's weights, with or without a preset.

``format`` picks the output: ``"keras"`` a ``.weights.h5`` (any Keras 3
backend loads it), ``"tf2"`` the object-based TF checkpoint of
``tf1_to_tf2(target=...)``; by default a destination ending in
``.weights.h5`` means ``"keras"``. With a preset (by name, or ``"auto"`` to
recognise it), the target is built by the preset and its rules come first;
the user's ``rules`` and ``target`` may replace or extend them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from legacy_saver.bundle import CheckpointReader, load_checkpoint
from legacy_saver.errors import CheckpointError, RestoreMismatchError

from ..destination import check_destination
from ..execute import execute
from ..outputs import OutputFormat, format_for
from ..outputs.keras_layout import keras_layout
from ..outputs.keras_plan import plan_for_keras
from ..outputs.keras_write import write_keras_weights
from ..pairing import has_ema_shadows, layers_of, resolve
from ..plan import Plan, Unmatched
from ..report import ConversionReport
from ..rules import Rule, RuleSet, load_rules
from .base import Preset
from .registry import detect, get

RulesArg = RuleSet | Sequence[Rule] | str | os.PathLike[str] | None


keras_layers = layers_of  # the name this module exported first


def choose_preset(
    reader: CheckpointReader, preset: str | Preset | None
) -> tuple[Preset | None, Mapping[str, Any]]:
    """``(preset, options the checkpoint fixes)``; ``"auto"`` detects it."""
    if preset is None:
        return None, {}
    if preset == "auto":
        found = detect(reader)
        return found.require(reader.prefix), found.options
    chosen = get(preset) if isinstance(preset, str) else preset
    match = chosen.match({k: tuple(reader.shape(k)) for k in reader.keys()})
    if not match.fits:
        raise CheckpointError(f"{reader.prefix} does not fit preset {chosen.name}: {match.reason}")
    return chosen, match.options


def plan_conversion(
    reader: CheckpointReader,
    *,
    preset: str | Preset | None = None,
    target: Any = None,
    rules: RulesArg = None,
    options: Mapping[str, Any] | None = None,
    format: OutputFormat,
    ema: bool = False,
    partial: bool = False,
) -> tuple[Any, Any, list[str]]:
    """``(plan, target, notes)``: a ``KerasPlan`` for ``KERAS``, a ``Plan`` for ``TF2``."""
    chosen, detected = choose_preset(reader, preset)
    notes: list[str] = []
    base = RuleSet()
    if chosen is not None:
        values = chosen.resolve_options(options, detected)
        notes.append(
            f"preset {chosen.name} with " + ", ".join(f"{k}={v!r}" for k, v in values.items())
        )
        base = chosen.rules_for(values)
        if target is None:
            target = chosen.builder(values)
    elif options:
        raise CheckpointError("options apply to a preset; pass preset=NAME or 'auto'")
    if target is None:
        raise CheckpointError("no target: pass a preset or a target model")
    user = load_rules(rules) if isinstance(rules, str | os.PathLike) else rules
    combined = (RuleSet(user) if not isinstance(user, RuleSet) else user) + base if user else base
    keys = [k for k in reader.keys()]
    if ema and not has_ema_shadows(keys):
        notes.append("ema=True but the checkpoint has no ExponentialMovingAverage shadows")
    resolved = resolve(combined, keys, keras_layers(target), ema=ema)
    if format is OutputFormat.KERAS:
        return (
            plan_for_keras(reader, keras_layout(target), resolved, partial=partial),
            target,
            notes,
        )
    return _plan_tf2(reader, target, resolved, partial), target, notes


def _plan_tf2(reader: CheckpointReader, target: Any, rules: RuleSet, partial: bool) -> Plan:
    import numpy as np

    from ..target import plan_for_target
    from ..target.collect import collect_target

    plan: Plan = plan_for_target(reader, target, rules=rules, optimizer="drop", partial=True)
    if plan.unmatched and rules.fills:
        names = {v.key: v for v in collect_target(target).variables}
        left: list[Unmatched] = []
        for u in plan.unmatched:
            var = names.get(u.dst)
            fill = next(
                (f for f in rules.fills if var and any(f.matches(n) for n in var.names)), None
            )
            if fill is None or var is None:
                left.append(u)
            else:
                plan.extra[u.dst] = np.full(var.shape, fill.value, dtype=var.dtype)
        plan.unmatched[:] = left
    if plan.unmatched and not partial:
        lines = [
            f"{len(plan.unmatched)} target variable(s) have no source tensor in {reader.prefix}:"
        ]
        lines += [
            f"  {u.dst} {list(u.shape)}"
            + (f"; closest: {', '.join(u.candidates)}" if u.candidates else "")
            for u in plan.unmatched
        ]
        lines.append("Add rename rules or fills, or pass partial=True to convert the rest.")
        raise RestoreMismatchError("\n".join(lines))
    return plan


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    preset: str | Preset | None = None,
    target: Any = None,
    rules: RulesArg = None,
    options: Mapping[str, Any] | None = None,
    format: str | OutputFormat | None = None,
    ema: bool = False,
    partial: bool = False,
    dry_run: bool = False,
    overwrite: bool = False,
) -> ConversionReport:
    """Convert the TF1 checkpoint ``src`` into weights of a Keras 3 model at ``dst``.

    Args:
        src: a TF1 name-based checkpoint (prefix, directory, V1 file).
        dst: a ``.weights.h5`` file (``format="keras"``) or a TF2 prefix (``"tf2"``).
        preset: a preset name (``converters.presets.list_presets()``), ``"auto"``,
            or None with an explicit ``target``.
        target: the Keras model to convert into (default: the preset's).
        rules: more rules (tried before the preset's), a list or a TOML path.
        options: preset options (``{"alpha": 0.25}``); those the checkpoint
            fixes (width, classes) are read from it.
        format: ``"keras"``, ``"tf2"`` (default: from ``dst``'s suffix).
        ema: use ExponentialMovingAverage shadows in place of their variables.
        partial: allow target variables without a source (they keep the
            target's own values and are listed as unmatched).
        dry_run: plan and report, write nothing.
        overwrite: replace an existing ``dst``.
    """
    start = time.perf_counter()
    dst = os.fspath(dst)
    fmt = format_for(dst, format)
    with load_checkpoint(src) as reader:
        if reader.is_object_based:
            raise CheckpointError(
                f"{reader.prefix} is already object-based (TF2); "
                "presets convert TF1 name-based checkpoints"
            )
        chosen, detected = choose_preset(reader, preset)
        write = getattr(chosen, "write", None)  # presets that write keras/keras-hub themselves
        if write is not None and fmt is not OutputFormat.TF2 and target is None and not rules:
            values = chosen.resolve_options(options, detected)  # type: ignore[union-attr]
            report: ConversionReport = write(reader, dst, fmt=fmt.value, values=values,
                                             overwrite=overwrite, dry_run=dry_run)  # fmt: skip
            return report
        if fmt is OutputFormat.KERAS_HUB:
            raise CheckpointError("format keras-hub is written by the bert and albert presets only")
        check_destination(reader, dst, overwrite=overwrite)
        planned, _target, notes = plan_conversion(
            reader,
            preset=preset,
            target=target,
            rules=rules,
            options=options,
            format=fmt,
            ema=ema,
            partial=partial,
        )
        plan = planned.plan if fmt is OutputFormat.KERAS else planned
        kind = f"tf1_to_{fmt.value}"
        notes = [*reader.notes, *notes]
        if fmt is OutputFormat.KERAS:
            notes += [f"filled {k} ({label})" for k, label in planned.filled.items()]
        if dry_run:
            return ConversionReport.from_plan(
                kind,
                reader.prefix,
                dst,
                plan,
                dry_run=True,
                notes=tuple(notes),
                seconds=time.perf_counter() - start,
            )
        if fmt is OutputFormat.KERAS:
            result = write_keras_weights(planned, reader, dst, overwrite=overwrite)
        else:
            result = execute(plan, reader, dst)  # fsync on, no plan record
        return ConversionReport.from_plan(
            kind,
            reader.prefix,
            dst,
            plan,
            bytes_copied=result.bytes_copied,
            bytes_reencoded=result.bytes_reencoded,
            notes=tuple(notes + result.notes),
            seconds=time.perf_counter() - start,
        )


def target_for(src: str | os.PathLike[str], preset: str | Preset = "auto", **options: Any) -> Any:
    """The Keras model a checkpoint's weights belong to, built with the options
    the checkpoint fixes (its width multiplier, its classes) plus ``options``:
    the model ``convert(src, ..., preset=preset, options=options)`` writes for."""
    with load_checkpoint(src) as reader:
        chosen, detected = choose_preset(reader, preset)
    if chosen is None:
        raise CheckpointError("target_for needs a preset name or 'auto'")
    return chosen.builder(chosen.resolve_options(options, detected))
