"""``to_safetensors``: a TF1 or TF2 checkpoint as safetensors, streamed and checked.

Plans first (``planner``, pure), then writes each output file under a temporary
name: the header (every size is known from the plan), then each tensor at its
offset (``stream``), then — once every check has passed — renames the files into
place, the shard index last (``files``). TensorFlow is never imported.
"""

from __future__ import annotations

import json
import os
import time
from importlib import metadata as importlib_metadata

from legacy_saver.bundle import CheckpointReader, load_checkpoint
from legacy_saver.bundle.naming import is_url
from legacy_saver.errors import UnsupportedFeatureError

from ..object_graph import read_object_graph
from ..report import ConversionReport
from ..rules import Rule, load_rules
from . import files
from .planner import SafetensorsOptions, SafetensorsPlan, plan_safetensors
from .spec import TensorInfo, encode_header
from .stream import TensorStreamer

RulesArg = list[Rule] | tuple[Rule, ...] | str | os.PathLike[str] | None


def _rules(rules: RulesArg) -> tuple[Rule, ...]:
    if rules is None:
        return ()
    loaded = load_rules(rules) if isinstance(rules, str | os.PathLike) else rules
    if getattr(loaded, "pairs", None) or getattr(loaded, "fills", None):
        raise UnsupportedFeatureError(
            f"{rules}: [[pair]] and [[fill]] tables need a target model; a safetensors export "
            "takes [[rule]] tables only"
        )
    return tuple(loaded)


def to_safetensors(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, rules: RulesArg = None,
    preset: str | None = None, layout: str | None = None, optimizer: str = "keep",
    shard_bytes: int | None = None, overwrite: bool = False, strict: bool = False,
    dry_run: bool = False, fsync: bool = True,
) -> ConversionReport:  # fmt: skip
    """Export the checkpoint ``src`` as safetensors at ``dst``.

    Args:
        src: a TF1 name-based or TF2 object-based checkpoint (prefix, directory,
            V1 file).
        dst: the ``.safetensors`` file to write (a directory: ``DIR/model.safetensors``);
            sharded output goes beside it as ``model-00001-of-0000N.safetensors``
            plus ``model.safetensors.index.json``.
        rules: rename rules (a ``Rule`` list or a TOML file), applied before the preset's.
        preset: named rules and layout, e.g. ``"bert-hf"`` (Hugging Face BertModel).
        layout: ``"tf"`` (names and bytes as stored) or ``"torch"`` (``torch.nn``
            names and layouts); default: the preset's, else ``"tf"``.
        optimizer: ``"keep"`` exports optimizer slots (named after their variable),
            ``"drop"`` leaves them out and lists them.
        shard_bytes: at most this many tensor bytes per file (a larger tensor gets
            a file of its own); None writes one file.
        overwrite: replace an earlier export at ``dst``.
        strict: raise ``UnsupportedFeatureError`` instead of dropping tensors whose
            dtype safetensors cannot hold (strings, complex128, quantized, ...).
        dry_run: plan and report, write nothing.
        fsync: make the files durable before they are renamed into place.

    Returns:
        A ``ConversionReport`` (``kind="to_safetensors"``): every tensor written,
        every key dropped and why, bytes copied in the kernel vs. re-encoded.
    """
    start = time.perf_counter()
    for path in (os.fspath(src), os.fspath(dst)):
        if is_url(path):
            raise UnsupportedFeatureError(
                f"to_safetensors reads and writes local files; {path} is a URL "
                "(download or upload it separately)"
            )
    options = SafetensorsOptions(_rules(rules), preset, layout, optimizer, shard_bytes, strict)
    with load_checkpoint(src) as reader:
        plan = plan_safetensors(
            _entries(reader), options, _object_graph(reader), where=reader.prefix
        )
        dest = files.destination(os.fspath(dst))
        names = dest.shard_names(len(plan.shards))
        files.check_destination(dest, names, _source_files(reader), overwrite)
        notes = [*reader.notes, f"layout {plan.layout}" + (f", preset {plan.preset}" if
                 plan.preset else "")]  # fmt: skip
        copied = reencoded = 0
        if not dry_run:
            copied, reencoded = _write(reader, plan, dest, names, fsync)
        notes += [f"{'would write' if dry_run else 'wrote'} {n}" for n in names]
        if len(names) > 1:
            notes.append(f"{'would write' if dry_run else 'wrote'} {dest.index}")
        return ConversionReport.from_plan(
            "to_safetensors", reader.prefix, os.fspath(dst), plan.as_plan(), dry_run=dry_run,
            bytes_copied=copied, bytes_reencoded=reencoded, notes=tuple(notes),
            seconds=time.perf_counter() - start,
        )  # fmt: skip


def _entries(reader: CheckpointReader) -> dict[str, tuple[int, tuple[int, ...]]]:
    bundle = reader.bundle
    if bundle is not None:
        return {k: (bundle.entry(k).dtype_enum, bundle.entry(k).shape) for k in reader.keys()}
    return {k: (int(reader.dtype(k)), tuple(reader.shape(k))) for k in reader.keys()}


def _object_graph(reader: CheckpointReader) -> object | None:
    """The source's object graph, parsed and checked (node references in range):
    ``CorruptCheckpointError`` naming the checkpoint and the key otherwise."""
    graph: object | None = read_object_graph(reader)
    return graph


def _source_files(reader: CheckpointReader) -> list[str]:
    return [f.path for f in reader.files()]


def metadata_for(reader: CheckpointReader, plan: SafetensorsPlan) -> dict[str, str]:
    """``__metadata__``: what was converted from where, and what was left out (strings)."""
    if reader.format_version == 1:
        kind = "tf1-v1"
    else:
        kind = "tf2-object-based" if reader.is_object_based else "tf1-name-based"
    try:
        version = importlib_metadata.version("legacy-saver")
    except importlib_metadata.PackageNotFoundError:
        version = "unknown"
    dropped = [{"key": d.src, "reason": d.reason} for d in plan.dropped]
    return {
        "format": "pt" if plan.layout == "torch" else "tf",
        "converter": f"legacy-saver {version}",
        "source": os.path.basename(reader.prefix),
        "source_format": kind,
        "layout": plan.layout,
        "preset": plan.preset or "",
        "dropped": json.dumps(dropped, ensure_ascii=False, separators=(",", ":")),
    }


def _write(reader: CheckpointReader, plan: SafetensorsPlan, dest: files.Destination,
           names: list[str], fsync: bool) -> tuple[int, int]:  # fmt: skip
    metadata = metadata_for(reader, plan)
    directory = os.path.dirname(dest.single)
    if directory:
        os.makedirs(directory, exist_ok=True)
    streamer = TensorStreamer(reader)
    outputs: list[files.OutputFile] = []
    weight_map: dict[str, str] = {}
    try:
        for name, shard in zip(names, plan.shards, strict=True):
            infos, offset = [], 0
            for t in shard:
                infos.append(TensorInfo(t.name, t.dtype, t.shape, offset, offset + t.nbytes))
                offset += t.nbytes
                weight_map[t.name] = os.path.basename(name)
            out = files.OutputFile(name, encode_header(infos, metadata), fsync)
            outputs.append(out)
            for t, info in zip(shard, infos, strict=True):
                streamer.write(out, t, info.begin)
        streamer.wait()  # every byte checked before anything is renamed into place
        index = None
        if len(names) > 1:
            index = files.index_json(weight_map, plan.total_bytes, metadata)
        files.commit(outputs, dest, index, fsync)
    except BaseException:
        for out in outputs:
            out.discard()
        raise
    finally:
        streamer.close()
    return streamer.bytes_copied, streamer.bytes_reencoded
