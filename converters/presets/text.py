"""The ``bert`` and ``albert`` presets: plan (names and shapes in), detect, build the
keras_hub target, and write keras-hub preset directories or ``.weights.h5`` files.

Planning reads only the checkpoint's index (and the config json beside it); writing
reads one tensor at a time and never imports TensorFlow, Keras or keras_hub.
``build_target`` imports keras_hub (and so TensorFlow) lazily.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from legacy_saver.bundle import CheckpointReader, load_checkpoint
from legacy_saver.errors import CheckpointError

from ..outputs.keras_hub import (
    Layout,
    PresetFiles,
    RawLookup,
    RawSource,
    Reader,
    WeightSpec,
    backbone_layout,
    mlm_head_layout,
    write_preset_dir,
    write_weights_h5,
)
from ..plan import Action, Dropped, Transform
from ..report import ConversionReport
from . import albert, bert
from .bert import Shapes, TextOptions


@dataclass
class TextPlan:
    """What a conversion will write: the target's config, its weights, and the rest."""

    preset: str
    config: bert.BertConfig | albert.AlbertConfig
    backbone: list[WeightSpec]
    head: list[WeightSpec] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def backbone_layout(self) -> Layout:
        if isinstance(self.config, albert.AlbertConfig):
            return backbone_layout(
                self.config.encoder_names(), projection=True, root_name="albert_backbone"
            )
        encoders = [f"transformer_layer_{i}" for i in range(self.config.num_layers)]
        return backbone_layout(encoders, projection=False, root_name="bert_backbone")

    def files(self) -> PresetFiles:
        tasks = ("MaskedLM", "TextClassifier") + (
            ("TextEmbedder",) if self.preset == "bert" else ()
        )
        task_json = self.config.mlm_json() if self.head else None
        root = "bert_masked_lm" if self.preset == "bert" else "albert_masked_lm"
        return PresetFiles(
            self.config.backbone_json(),
            self.backbone_layout(),
            tuple(self.backbone),
            tasks,
            task_json,
            mlm_head_layout(root) if self.head else None,
            tuple(self.head),
        )

    def actions(self) -> list[Action]:
        out = []
        for spec in self.backbone + self.head:
            how = "preset" if spec.op in ("copy", "reshape") else f"preset ({spec.op})"
            reshape = spec.shape if spec.op == "reshape" else None
            for src in spec.sources:
                out.append(Action(src, spec.target, Transform(reshape=reshape), self.preset, how))
        return out


def plan_text(
    preset: str,
    shapes: Shapes,
    options: TextOptions | None = None,
    *,
    where: str = "",
    directory: str = ".",
) -> TextPlan:
    """The plan for ``preset`` ("bert" or "albert") over a checkpoint's ``shapes``."""
    options = options or TextOptions()
    names = list(shapes)
    root = bert.find_root(names, bert.WORDS, where)
    notes: list[str] = []
    if preset == "bert":
        json_cfg = bert.read_config_json(options.config, directory, ("bert_config.json",))
        cfg: bert.BertConfig | albert.AlbertConfig = bert.bert_config(
            shapes, root, json_cfg, options, notes, where
        )
        assert isinstance(cfg, bert.BertConfig)
        backbone = bert.bert_backbone_specs(cfg, root)
        width = cfg.hidden_dim
    elif preset == "albert":
        names_json = ("albert_config.json", "bert_config.json")
        json_cfg = bert.read_config_json(options.config, directory, names_json)
        cfg = albert.albert_config(shapes, root, json_cfg, options, notes, where)
        backbone = albert.albert_backbone_specs(cfg, root)
        width = cfg.embedding_dim
        if options.head == "mlm" and cfg.dialect == "brightmart":
            raise CheckpointError(f"{where}: brightmart's masked-LM head is not supported")
    else:
        raise ValueError(f"unknown text preset {preset!r}")
    if json_cfg is not None:
        notes.append(f"config read from {json_cfg['_path']}")
    head = []
    if options.head == "mlm":
        head = bert.mlm_specs(root, cfg.hidden_dim, width, cfg.vocabulary_size)
    plan = TextPlan(preset, cfg, backbone, head, notes=notes)
    check_shapes(plan, shapes, where)
    used = {src for spec in backbone + head for src in spec.sources}
    plan.dropped = [Dropped(n, bert.drop_reason(n, root)) for n in sorted(names) if n not in used]
    return plan


def check_shapes(plan: TextPlan, shapes: Shapes, where: str) -> None:
    for spec in plan.backbone + plan.head:
        for src in spec.sources:
            if src not in shapes:
                raise CheckpointError(f"{where}: tensor {src!r} (for {spec.target}) is missing")
        if spec.op in ("copy", "reshape"):
            have = tuple(shapes[spec.sources[0]])
            if int(np.prod(have)) != int(np.prod(spec.shape)) or (
                spec.op == "copy" and have != spec.shape
            ):
                raise CheckpointError(
                    f"{where}: {spec.sources[0]} has shape {list(have)}; {spec.target} "
                    f"needs {list(spec.shape)}"
                )


def _reader_fn(reader: CheckpointReader) -> Reader:
    def read(name: str) -> np.ndarray:
        value = np.asarray(reader.get_tensor(name))
        if value.dtype != np.float32 and value.dtype.kind in "fV":
            value = value.astype(np.float32)
        return value

    return read


def _raw_fn(reader: CheckpointReader) -> RawLookup:
    """Where a tensor's bytes lie when they can be copied as they are (V2, little-endian
    float32, not partitioned); None otherwise."""
    from legacy_saver.bundle import DType
    from legacy_saver.bundle.coding import unmask_crc

    bundle = reader.bundle

    def raw(name: str) -> RawSource | None:
        if bundle is None or bundle.big_endian or name not in bundle:
            return None
        entry = bundle.entry(name)
        if entry.slices or entry.dtype != DType.FLOAT32:
            return None
        return RawSource(bundle.data_file(entry.shard_id), entry.offset, entry.size,
                         unmask_crc(entry.crc32c))  # fmt: skip

    return raw


def convert_text(
    preset: str, src: str, dst: str, *, fmt: str = "keras-hub",
    options: TextOptions | None = None, overwrite: bool = False, dry_run: bool = False,
) -> ConversionReport:  # fmt: skip
    """Convert a BERT/ALBERT checkpoint ``src`` into a keras-hub preset directory
    (``fmt="keras-hub"``) or the backbone's ``.weights.h5`` (``fmt="keras"``)."""
    with load_checkpoint(src) as reader:
        return convert_reader(preset, reader, dst, fmt=fmt, options=options,
                              overwrite=overwrite, dry_run=dry_run)  # fmt: skip


def plan_from_reader(preset: str, reader: CheckpointReader, options: TextOptions) -> TextPlan:
    shapes = {k: tuple(reader.shape(k)) for k in reader.keys()}
    directory = os.path.dirname(os.path.abspath(reader.prefix))
    return plan_text(preset, shapes, options, where=reader.prefix, directory=directory)


def plan_from_sizes(preset: str, values: Mapping[str, Any]) -> TextPlan:
    """A weightless plan from explicit sizes (``build_target`` without a checkpoint)."""
    need = ["vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim",
            "max_sequence_length", "num_segments"]  # fmt: skip
    if preset == "albert":
        need += ["embedding_dim", "num_groups", "num_inner_repetitions"]
    missing = [k for k in need if values.get(k) is None]
    if missing:
        raise CheckpointError(
            f"{preset}: build_target needs checkpoint=PATH or the sizes {', '.join(missing)}"
        )
    sizes: dict[str, Any] = {k: int(values[k]) for k in need}
    cfg: bert.BertConfig | albert.AlbertConfig
    if preset == "bert":
        cfg = bert.BertConfig(**sizes)
    else:
        cfg = albert.AlbertConfig(**sizes, dialect="google")
    return TextPlan(preset, cfg, [])


def convert_reader(
    preset: str, reader: CheckpointReader, dst: str, *, fmt: str = "keras-hub",
    options: TextOptions | None = None, overwrite: bool = False, dry_run: bool = False,
) -> ConversionReport:  # fmt: skip
    """``convert_text`` on an open checkpoint."""
    import time

    options = options or TextOptions()
    if fmt not in ("keras-hub", "keras"):
        raise CheckpointError(f"format {fmt!r}: the {preset} preset writes keras-hub or keras")
    if fmt == "keras" and not dst.endswith(".weights.h5"):
        raise CheckpointError(f"{dst}: a Keras weights file must end in .weights.h5")
    start = time.perf_counter()
    plan = plan_from_reader(preset, reader, options)
    if fmt == "keras" and plan.head:
        raise CheckpointError("the masked-LM head is written into keras-hub directories only")
    kind = f"{preset} -> {fmt}"
    actions, dropped = tuple(plan.actions()), tuple(plan.dropped)
    notes = (*reader.notes, *plan.notes)
    if dry_run:
        return ConversionReport(kind, reader.prefix, dst, actions, dropped, dry_run=True,
                                notes=notes)  # fmt: skip
    read = _reader_fn(reader)
    if fmt == "keras-hub":
        write_preset_dir(dst, plan.files(), read, overwrite=overwrite, raw=_raw_fn(reader))
    else:
        _write_h5_atomic(dst, plan, read, overwrite, _raw_fn(reader))
    nbytes = sum(4 * int(np.prod(s.shape)) for s in plan.backbone + plan.head)
    return ConversionReport(kind, reader.prefix, dst, actions, dropped, bytes_reencoded=nbytes,
                            seconds=time.perf_counter() - start, notes=notes)  # fmt: skip


def _write_h5_atomic(
    dst: str, plan: TextPlan, read: Reader, overwrite: bool, raw: RawLookup
) -> None:
    from legacy_saver.bundle.naming import temp_path
    from legacy_saver.errors import CheckpointExistsError

    if os.path.lexists(dst) and not overwrite:
        raise CheckpointExistsError(f"{dst} already exists; pass overwrite=True to replace it")
    if os.path.isdir(dst):
        raise CheckpointExistsError(f"{dst} is a directory")
    temp = temp_path(dst)
    try:
        write_weights_h5(temp, plan.backbone_layout(), plan.backbone, read, raw)
        with open(temp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp, dst)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def build_target(preset: str, plan: TextPlan, *, head: bool | None = None):  # type: ignore[no-untyped-def]
    """The keras_hub model ``plan``'s weights belong to: the masked-LM task with ``head``
    (default: when the plan has the head's weights), else the backbone."""
    import keras_hub

    kwargs = {
        k: v
        for k, v in plan.config.backbone_config().items()
        if k not in ("name", "trainable", "dtype")
    }
    if preset == "bert":
        backbone = keras_hub.models.BertBackbone(**kwargs)
        task = keras_hub.models.BertMaskedLM
    else:
        backbone = keras_hub.models.AlbertBackbone(**kwargs)
        task = keras_hub.models.AlbertMaskedLM
    with_head = bool(plan.head) if head is None else head
    return task(backbone=backbone, preprocessor=None) if with_head else backbone
