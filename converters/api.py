"""The converters' public verbs, each named source-to-target.

Every function plans first (pure), then — unless ``dry_run`` — executes the
plan, and returns a ``ConversionReport``. None of them imports TensorFlow,
except ``tf1_to_tf2`` with a ``target`` model.
"""

from __future__ import annotations

import os
import time

from legacy_saver.bundle import CheckpointReader, load_checkpoint
from legacy_saver.errors import CheckpointError, UnsupportedFeatureError

from .execute import check_destination, execute
from .flatten import plan_identity, plan_tf2_to_tf1
from .plan import Plan
from .report import ConversionReport
from .rules import Rule, load_rules
from .structural import plan_structural

RulesArg = list[Rule] | tuple[Rule, ...] | str | os.PathLike[str] | None


def _rules(rules: RulesArg) -> list[Rule] | None:
    if rules is None:
        return None
    if isinstance(rules, str | os.PathLike):
        return load_rules(rules)
    return list(rules)


def plan_tf1_to_tf2(
    src: str | os.PathLike[str] | CheckpointReader, *, rules: RulesArg = None,
    target: object = None,
    optimizer: str = "keep", partial: bool = False,
) -> Plan:  # fmt: skip
    """The plan ``tf1_to_tf2`` would carry out (reads only the index)."""
    if isinstance(src, CheckpointReader):
        return _plan_tf1_to_tf2(src, _rules(rules), target, optimizer, partial)
    with load_checkpoint(src) as reader:
        return _plan_tf1_to_tf2(reader, _rules(rules), target, optimizer, partial)


def _plan_tf1_to_tf2(
    reader: CheckpointReader,
    rules: list[Rule] | None,
    target: object,
    optimizer: str,
    partial: bool,
) -> Plan:
    if reader.is_object_based:
        raise CheckpointError(f"{reader.prefix} is already object-based (TF2); nothing to convert")
    if target is None:
        return plan_structural(
            {k: reader.shape(k) for k in reader.keys()}, rules=rules, optimizer=optimizer
        )
    try:
        from converters.target import plan_for_target  # type: ignore[attr-defined]
    except ImportError as exc:
        raise UnsupportedFeatureError(
            f"conversion into a target model is not available in this build ({exc}); "
            "convert structurally (target=None) instead"
        ) from None
    plan: Plan = plan_for_target(reader, target, rules=rules, optimizer=optimizer, partial=partial)
    return plan


def _run(kind: str, reader: CheckpointReader, dst: str | os.PathLike[str], plan: Plan, *,
         dry_run: bool, overwrite: bool, link: bool = False,
         start: float) -> ConversionReport:  # fmt: skip
    dst = os.fspath(dst)
    notes = tuple(reader.notes)
    check_destination(reader.prefix, dst, overwrite)
    if dry_run:
        return ConversionReport.from_plan(kind, reader.prefix, dst, plan, dry_run=True, notes=notes,
                                          seconds=time.perf_counter() - start)  # fmt: skip
    result = execute(plan, reader, dst, link=link)
    return ConversionReport.from_plan(
        kind, reader.prefix, dst, plan, bytes_copied=result.bytes_copied,
        bytes_reencoded=result.bytes_reencoded, linked=result.linked,
        notes=notes + tuple(result.notes),
        seconds=time.perf_counter() - start,
    )  # fmt: skip


def tf1_to_tf2(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, rules: RulesArg = None,
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
        overwrite: replace an existing ``dst``.
    """
    start = time.perf_counter()
    with load_checkpoint(src) as reader:
        plan = _plan_tf1_to_tf2(reader, _rules(rules), target, optimizer, partial)
        return _run("tf1_to_tf2", reader, dst, plan, dry_run=dry_run, overwrite=overwrite,
                    link=link,
                    start=start)  # fmt: skip


def tf2_to_tf1(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, rules: RulesArg = None,
    optimizer: str = "keep", dry_run: bool = False, overwrite: bool = False,
) -> ConversionReport:  # fmt: skip
    """Convert the object-based checkpoint ``src`` into a name-based one at ``dst``
    (names from ``full_name``, slots as ``<var>/Adam`` etc.; see ``flatten``)."""
    start = time.perf_counter()
    with load_checkpoint(src) as reader:
        graph = reader.object_graph()
        if graph is None:
            raise CheckpointError(f"{reader.prefix} is name-based (no object graph); "
                                  "it is already TF1-style")  # fmt: skip
        plan = plan_tf2_to_tf1(graph, reader.keys(), rules=_rules(rules), optimizer=optimizer)
        return _run(
            "tf2_to_tf1", reader, dst, plan, dry_run=dry_run, overwrite=overwrite, start=start
        )


def v1_to_v2(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, overwrite: bool = False
) -> ConversionReport:
    """Re-encode a V1 checkpoint (pre-TF-1.0 single file or shards) as V2."""
    start = time.perf_counter()
    with load_checkpoint(src) as reader:
        if reader.format_version != 1:
            raise CheckpointError(f"{reader.prefix} is already a V2 checkpoint")
        plan = plan_identity(reader.keys())
        return _run("v1_to_v2", reader, dst, plan, dry_run=False, overwrite=overwrite, start=start)
