"""The converters' public verbs, each named source-to-target.

``convert(src, dst, options)`` is the one entry point: ``options`` (a frozen
``ConversionOptions``) says what to make, and reaches the executor unchanged.
``tf1_to_tf2``, ``tf2_to_tf1`` and ``v1_to_v2`` keep their keyword
signatures and build the options for you.

Every conversion plans first (pure), checks the destination (never the
source, never an existing checkpoint without ``overwrite``), then — unless
``dry_run`` — executes the plan, and returns a ``ConversionReport``. None of
them imports TensorFlow, except a conversion into a ``target`` model.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from legacy_saver.bundle import CheckpointReader, load_checkpoint
from legacy_saver.errors import CheckpointError, UnsupportedFeatureError

from .destination import check_destination
from .execute import execute
from .flatten import plan_identity, plan_tf2_to_tf1
from .object_graph import read_object_graph
from .options import ConversionOptions, OptimizerMode, TargetFormat
from .plan import Plan
from .record import write_plan_record
from .report import ConversionReport
from .rules import Rule, RuleSet
from .structural import plan_structural

RulesArg = list[Rule] | tuple[Rule, ...] | str | os.PathLike[str] | None
Source = str | os.PathLike[str]
_KIND = {
    TargetFormat.TF2: "tf1_to_tf2",
    TargetFormat.TF1: "tf2_to_tf1",
    TargetFormat.V2: "v1_to_v2",
}


def _options(**values: object) -> ConversionOptions:
    rules = values.pop("rules", None)
    if isinstance(rules, list):
        rules = tuple(rules)
    return ConversionOptions(rules=rules, **values)  # type: ignore[arg-type]


def plan(src: Source | CheckpointReader, options: ConversionOptions) -> Plan:
    """The plan ``convert(src, ..., options)`` would carry out (reads only the index,
    plus the target model's variables for a target conversion)."""
    if options.to is TargetFormat.SAFETENSORS:
        raise ValueError("plan() covers checkpoint formats; for safetensors use "
                         "converters.safetensors.plan_safetensors")  # fmt: skip
    if isinstance(src, CheckpointReader):
        return _PLANNERS[options.to](src, options)
    with load_checkpoint(src) as reader:
        return _PLANNERS[options.to](reader, options)


def convert(src: Source, dst: Source, options: ConversionOptions) -> ConversionReport:
    """Convert checkpoint ``src`` into ``dst`` as ``options`` says.

    Raises:
        CheckpointExistsError: ``dst`` exists (without ``overwrite``), or is,
            contains or lies inside the source (always).
        CheckpointError: the source is not of the kind ``options.to`` converts from.
    """
    start = time.perf_counter()
    options.check()
    if options.to in (TargetFormat.KERAS, TargetFormat.KERAS_HUB):  # converters.presets
        from .presets.convert import convert as to_keras

        return to_keras(src, dst, target=options.target, rules=options.resolved_rules(),
                        format=options.to, partial=options.partial, dry_run=options.dry_run,
                        overwrite=options.overwrite)  # fmt: skip
    if options.to is TargetFormat.SAFETENSORS:  # its own planner and streaming writer
        from .safetensors import to_safetensors

        return to_safetensors(src, dst, rules=options.rules, optimizer=options.optimizer.value,
                              dry_run=options.dry_run, overwrite=options.overwrite,
                              fsync=options.fsync)  # fmt: skip
    with load_checkpoint(src) as reader:
        the_plan = _PLANNERS[options.to](reader, options)
        return _run(_KIND[options.to], reader, os.fspath(dst), the_plan, options, start)


def _plan_tf2(reader: CheckpointReader, options: ConversionOptions) -> Plan:
    if reader.is_object_based:
        raise CheckpointError(f"{reader.prefix} is already object-based (TF2); nothing to convert")
    rules = options.resolved_rules()
    optimizer = options.optimizer.value
    if options.target is None:
        shapes = {k: reader.shape(k) for k in reader.keys()}
        return plan_structural(shapes, rules=rules, optimizer=optimizer)
    try:
        from converters.target import plan_for_target
    except ImportError as exc:  # pragma: no cover - a build without target/
        raise UnsupportedFeatureError(
            f"conversion into a target model is not available in this build ({exc}); "
            "convert structurally (target=None) instead"
        ) from None
    if isinstance(rules, RuleSet) and (rules.pairs or rules.fills):
        from .pairing import layers_of, resolve

        if rules.fills:
            raise UnsupportedFeatureError(
                "[[fill]] rules apply through converters.presets.convert (docs/presets.md)"
            )
        rules = resolve(rules, reader.keys(), layers_of(options.target))
    return plan_for_target(
        reader, options.target, rules=rules, optimizer=optimizer, partial=options.partial
    )


def _plan_tf1(reader: CheckpointReader, options: ConversionOptions) -> Plan:
    graph = read_object_graph(reader)
    if graph is None:
        raise CheckpointError(f"{reader.prefix} is name-based (no object graph); "
                              "it is already TF1-style")  # fmt: skip
    optimizer = options.optimizer.value
    return plan_tf2_to_tf1(graph, reader.keys(), rules=options.resolved_rules(),
                           optimizer=optimizer)  # fmt: skip


def _plan_v2(reader: CheckpointReader, options: ConversionOptions) -> Plan:
    if reader.format_version != 1:
        raise CheckpointError(f"{reader.prefix} is already a V2 checkpoint")
    return plan_identity(reader.keys())


_PLANNERS: dict[TargetFormat, Callable[[CheckpointReader, ConversionOptions], Plan]] = {
    TargetFormat.TF2: _plan_tf2,
    TargetFormat.TF1: _plan_tf1,
    TargetFormat.V2: _plan_v2,
}


def _run(kind: str, reader: CheckpointReader, dst: str, plan: Plan, options: ConversionOptions,
         start: float) -> ConversionReport:  # fmt: skip
    notes = tuple(reader.notes)
    check_destination(reader, dst, overwrite=options.overwrite, record_plan=options.record_plan)
    if options.dry_run:
        return ConversionReport.from_plan(kind, reader.prefix, dst, plan, dry_run=True, notes=notes,
                                          seconds=time.perf_counter() - start)  # fmt: skip
    result = execute(plan, reader, dst, options)
    if options.record_plan:
        write_plan_record(dst, kind, plan, fsync=options.fsync)
    return ConversionReport.from_plan(
        kind, reader.prefix, dst, plan, bytes_copied=result.bytes_copied,
        bytes_reencoded=result.bytes_reencoded, linked=result.linked,
        notes=notes + tuple(result.notes),
        seconds=time.perf_counter() - start,
    )  # fmt: skip


# -- the verbs, with their keyword signatures -----------------------------------------


def plan_tf1_to_tf2(
    src: Source | CheckpointReader, *, rules: RulesArg = None, target: object = None,
    optimizer: str = "keep", partial: bool = False,
) -> Plan:  # fmt: skip
    """The plan ``tf1_to_tf2`` would carry out (reads only the index)."""
    options = _options(rules=rules, target=target, optimizer=optimizer, partial=partial)
    return plan(src, options)


def tf1_to_tf2(
    src: Source, dst: Source, *, rules: RulesArg = None,
    target: object = None, optimizer: str = "keep", link: bool = False, partial: bool = False,
    dry_run: bool = False, overwrite: bool = False,
) -> ConversionReport:  # fmt: skip
    """Convert the name-based checkpoint ``src`` into an object-based one at ``dst``.

    Args:
        src: a TF1 checkpoint (prefix, directory, V1 file).
        dst: the prefix to write.
        rules: rename rules (``Rule`` list or a TOML file path).
        target: a model or ``tf.train.Checkpoint`` to convert into; None for
            the structural conversion (object graph mirrors the TF1 scopes).
        optimizer: ``"keep"`` carries slots across, ``"drop"`` lists and drops them.
        link: hard-link the data shards when no value changes.
        partial: (target mode) allow target variables without a source.
        dry_run: plan and report, write nothing.
        overwrite: replace an existing ``dst`` (never the source itself).
    """
    options = _options(to=TargetFormat.TF2, rules=rules, target=target, optimizer=optimizer,
                       link=link, partial=partial, dry_run=dry_run,
                       overwrite=overwrite)  # fmt: skip
    return convert(src, dst, options)


def tf2_to_tf1(
    src: Source, dst: Source, *, rules: RulesArg = None,
    optimizer: str = "keep", dry_run: bool = False, overwrite: bool = False,
) -> ConversionReport:  # fmt: skip
    """Convert the object-based checkpoint ``src`` into a name-based one at ``dst``
    (names from ``full_name``, slots as ``<var>/Adam`` etc.; see ``flatten``)."""
    options = _options(to=TargetFormat.TF1, rules=rules, optimizer=optimizer, dry_run=dry_run,
                       overwrite=overwrite)  # fmt: skip
    return convert(src, dst, options)


def v1_to_v2(src: Source, dst: Source, *, overwrite: bool = False) -> ConversionReport:
    """Re-encode a V1 checkpoint (pre-TF-1.0 single file or shards) as V2."""
    return convert(src, dst, ConversionOptions(to=TargetFormat.V2, overwrite=overwrite))


__all__ = [
    "ConversionOptions",
    "OptimizerMode",
    "TargetFormat",
    "convert",
    "plan",
    "plan_tf1_to_tf2",
    "tf1_to_tf2",
    "tf2_to_tf1",
    "v1_to_v2",
]
