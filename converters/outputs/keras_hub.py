"""keras-hub preset directories for the BERT family, written without Keras or TensorFlow.

A keras-hub preset directory is what ``keras_hub.models.<Backbone>.from_preset(DIR)``
reads offline (keras_hub ``src/utils/preset_utils.py``, ``KerasPresetLoader``):

    DIR/config.json        the backbone serialized as Keras does it: module, class_name,
                           config (the constructor's arguments), registered_name
                           ``keras_hub>ClassName`` (its presence selects the Keras loader)
    DIR/metadata.json      keras/keras_hub versions, parameter_count, tasks (informative)
    DIR/model.weights.h5   the backbone's weights, Keras 3 ``save_weights`` layout
    DIR/task.json          optional: the task (e.g. ``BertMaskedLM``) with its backbone
    DIR/task.weights.h5    optional: the task's own weights (the backbone's are skipped)

The ``.weights.h5`` layout is Keras 3's ``saving_lib``: one group per layer under
``layers/``, named by the layer's class in snake case with ``_1``, ``_2``... for
repeats in the functional model's layer order, nested sub-layers by their attribute
names (``_self_attention_layer/query_dense``), and each layer's own variables as
datasets ``vars/0``, ``vars/1``... in creation order. Layers without weights keep an
empty ``vars`` group. ``tests/test_presets_bert_hub.py`` checks the layout written here
against ``save_weights`` of the real keras_hub model, path for path and shape for shape.

Writing never imports TensorFlow, Keras or keras_hub (importing keras_hub alone costs
~0.9 GB): values are read one tensor at a time and written with h5py, so peak memory
is about the largest tensor (the word embeddings).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata

import numpy as np

from legacy_saver.bundle.fileio import fsync_dir
from legacy_saver.bundle.naming import temp_path
from legacy_saver.errors import CheckpointError, CheckpointExistsError

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
MODEL_WEIGHTS_FILE = "model.weights.h5"
TASK_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"
# what a preset directory we write may hold; an existing DIR is replaced only if it
# holds nothing else (an allowlist: overwrite=True never deletes a stranger's files)
PRESET_FILES = frozenset(
    {CONFIG_FILE, METADATA_FILE, MODEL_WEIGHTS_FILE, TASK_FILE, TASK_WEIGHTS_FILE}
)

Reader = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class RawSource:
    """Where a source tensor's bytes lie, when they are already what the ``.weights.h5``
    dataset holds (little-endian float32, one piece): copied by the kernel, then checked
    against the source's crc32c (unmasked) where they landed."""

    path: str
    offset: int
    size: int
    crc32c: int


RawLookup = Callable[[str], RawSource | None]


@dataclass(frozen=True)
class WeightSpec:
    """One target variable and how its value is made from source tensors.

    ``op``: ``copy`` (one source, same shape), ``reshape`` (one source, same values in
    ``shape``), ``matmul`` (two sources, ``a @ b``), ``zeros`` / ``eye`` (no source: a
    fill that keeps the maths, e.g. an identity projection the source model does not have).
    """

    target: str  # the Keras variable path, e.g. "pooled_dense/kernel"
    shape: tuple[int, ...]
    sources: tuple[str, ...] = ()
    op: str = "copy"

    def value(self, read: Reader) -> np.ndarray:
        if self.op in ("copy", "reshape"):
            out = read(self.sources[0]).reshape(self.shape)
        elif self.op == "matmul":
            out = np.matmul(read(self.sources[0]), read(self.sources[1]))
        elif self.op == "zeros":
            out = np.zeros(self.shape, np.float32)
        elif self.op == "eye":
            out = np.eye(self.shape[0], self.shape[1], dtype=np.float32)
        else:
            raise ValueError(f"unknown op {self.op!r}")
        if tuple(out.shape) != self.shape:
            raise CheckpointError(
                f"{self.target}: {self.op} of {list(self.sources)} gives shape "
                f"{list(out.shape)}, the target needs {list(self.shape)}"
            )
        return out


# -- the layout --------------------------------------------------------------------------

# keras_hub TransformerEncoder: Keras variable path (under the layer) -> h5 path (under it)
_ENCODER_VARS = {
    "self_attention_layer/query/kernel": "_self_attention_layer/query_dense/vars/0",
    "self_attention_layer/query/bias": "_self_attention_layer/query_dense/vars/1",
    "self_attention_layer/key/kernel": "_self_attention_layer/key_dense/vars/0",
    "self_attention_layer/key/bias": "_self_attention_layer/key_dense/vars/1",
    "self_attention_layer/value/kernel": "_self_attention_layer/value_dense/vars/0",
    "self_attention_layer/value/bias": "_self_attention_layer/value_dense/vars/1",
    "self_attention_layer/attention_output/kernel": "_self_attention_layer/output_dense/vars/0",
    "self_attention_layer/attention_output/bias": "_self_attention_layer/output_dense/vars/1",
    "self_attention_layer_norm/gamma": "_self_attention_layer_norm/vars/0",
    "self_attention_layer_norm/beta": "_self_attention_layer_norm/vars/1",
    "feedforward_layer_norm/gamma": "_feedforward_layer_norm/vars/0",
    "feedforward_layer_norm/beta": "_feedforward_layer_norm/vars/1",
    "feedforward_intermediate_dense/kernel": "_feedforward_intermediate_dense/vars/0",
    "feedforward_intermediate_dense/bias": "_feedforward_intermediate_dense/vars/1",
    "feedforward_output_dense/kernel": "_feedforward_output_dense/vars/0",
    "feedforward_output_dense/bias": "_feedforward_output_dense/vars/1",
}
_ENCODER_GROUPS = {  # sub-layer group -> its Keras name (the name attribute of ``vars``)
    "_feedforward_dropout": "feedforward_dropout",
    "_feedforward_intermediate_dense": "feedforward_intermediate_dense",
    "_feedforward_layer_norm": "feedforward_layer_norm",
    "_feedforward_output_dense": "feedforward_output_dense",
    "_self_attention_dropout": "self_attention_dropout",
    "_self_attention_layer": "self_attention_layer",
    "_self_attention_layer/_dropout_layer": "dropout",
    "_self_attention_layer/_softmax": "softmax",
    "_self_attention_layer/key_dense": "key",
    "_self_attention_layer/output_dense": "attention_output",
    "_self_attention_layer/query_dense": "query",
    "_self_attention_layer/value_dense": "value",
    "_self_attention_layer_norm": "self_attention_layer_norm",
}


def _numbered(base: str, index: int) -> str:
    return base if index == 0 else f"{base}_{index}"


@dataclass(frozen=True)
class Layout:
    """Where each Keras variable of one model lives in its ``.weights.h5``, plus the
    weightless groups Keras writes (``group path -> layer name``)."""

    paths: dict[str, str]
    groups: dict[str, str] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)  # h5 path -> value


def backbone_layout(encoders: Sequence[str], *, projection: bool, root_name: str) -> Layout:
    """The ``model.weights.h5`` layout of keras_hub's BertBackbone (``projection=False``)
    or AlbertBackbone (``projection=True``: its ``embedding_projection`` Dense comes
    before ``pooled_dense``), whose TransformerEncoder layers are named ``encoders`` in
    call order (``transformer_layer_0``..., ``group_0_inner_layer_0``...)."""
    dense = ["embedding_projection", "pooled_dense"] if projection else ["pooled_dense"]
    named = {
        "reversible_embedding": "token_embedding",
        "position_embedding": "position_embedding",
        "embedding": "segment_embedding",
        "layer_normalization": "embeddings_layer_norm",
        "add": "embeddings_add",
        "dropout": "embeddings_dropout",
        "input_layer": "token_ids",
        "input_layer_1": "segment_ids",
        "input_layer_2": "padding_mask",
    }
    named.update({_numbered("dense", i): name for i, name in enumerate(dense)})
    by_name = {name: f"layers/{group}" for group, name in named.items()}
    paths = {
        "token_embedding/embeddings": f"{by_name['token_embedding']}/vars/0",
        "position_embedding/embeddings": f"{by_name['position_embedding']}/vars/0",
        "segment_embedding/embeddings": f"{by_name['segment_embedding']}/vars/0",
        "embeddings_layer_norm/gamma": f"{by_name['embeddings_layer_norm']}/vars/0",
        "embeddings_layer_norm/beta": f"{by_name['embeddings_layer_norm']}/vars/1",
    }
    for name in dense:
        paths[f"{name}/kernel"] = f"{by_name[name]}/vars/0"
        paths[f"{name}/bias"] = f"{by_name[name]}/vars/1"
    groups = {f"layers/{group}/vars": name for group, name in named.items()}
    for i, encoder in enumerate(encoders):
        base = f"layers/{_numbered('transformer_encoder', i)}"
        groups[f"{base}/vars"] = encoder
        for sub, name in _ENCODER_GROUPS.items():
            numbered = _numbered(name, i) if name in ("dropout", "softmax") else name
            groups[f"{base}/{sub}/vars"] = numbered
        for var, h5 in _ENCODER_VARS.items():
            paths[f"{encoder}/{var}"] = f"{base}/{h5}"
    groups["vars"] = root_name
    return Layout(paths, groups)


def mlm_head_layout(root_name: str) -> Layout:
    """The ``task.weights.h5`` layout of BertMaskedLM / AlbertMaskedLM (the head only)."""
    head = "layers/masked_lm_head"
    paths = {
        "mlm_head/output_bias": f"{head}/vars/0",
        "mlm_head/intermediate_dense/kernel": f"{head}/_intermediate_dense/vars/0",
        "mlm_head/intermediate_dense/bias": f"{head}/_intermediate_dense/vars/1",
        "mlm_head/intermediate_layer_norm/gamma": f"{head}/_intermediate_layer_norm/vars/0",
        "mlm_head/intermediate_layer_norm/beta": f"{head}/_intermediate_layer_norm/vars/1",
    }
    groups = {
        f"{head}/vars": "mlm_head",
        f"{head}/_intermediate_dense/vars": "intermediate_dense",
        f"{head}/_intermediate_layer_norm/vars": "intermediate_layer_norm",
        "optimizer/vars": "adam",
        "vars": root_name,
    }
    # the compiled task's optimizer (keras_hub MaskedLM: Adam(5e-5)), fresh: Keras saves
    # its iterations and learning rate with the task weights and warns when they are absent
    constants: dict[str, np.ndarray] = {
        "optimizer/vars/0": np.array(0, np.int64),
        "optimizer/vars/1": np.array(5e-5, np.float32),
    }
    return Layout(paths, groups, constants)


# -- writing -----------------------------------------------------------------------------


def write_weights_h5(
    path: str, layout: Layout, specs: Iterable[WeightSpec], read: Reader,
    raw: RawLookup | None = None,
) -> int:  # fmt: skip
    """Write ``specs`` into a new ``.weights.h5`` at ``path`` in ``layout``; returns the
    number of parameters. Every layout path must be written exactly once.

    A ``copy``/``reshape`` whose source ``raw`` locates (same bytes, row-major) gets a
    contiguous dataset allocated up front and no value through Python: after h5py closes
    the file its bytes are copied in by the kernel (``copy_file_range``) at the dataset's
    offset and checked against the source's crc32c. Everything else is decoded and
    written by h5py, one tensor at a time."""
    import h5py

    specs = list(specs)
    targets = [s.target for s in specs]
    missing = sorted(set(layout.paths) - set(targets))
    extra = sorted(set(targets) - set(layout.paths))
    if missing or extra or len(targets) != len(set(targets)):
        raise CheckpointError(
            f"{path}: the weights do not fit the model: missing {missing[:5]}, unknown {extra[:5]}"
        )
    count = 0
    copies: list[tuple[RawSource, int, str]] = []
    with h5py.File(path, "w") as f:
        for group, name in sorted(layout.groups.items()):
            f.require_group(group).attrs["name"] = name
        for path_, constant in layout.constants.items():
            f.create_dataset(path_, data=constant)
        for spec in specs:
            where = layout.paths[spec.target]
            source = raw(spec.sources[0]) if raw and spec.op in ("copy", "reshape") else None
            if source is not None and source.size == 4 * int(np.prod(spec.shape)):
                copies.append((source, _allocate(f, where, spec.shape), spec.target))
                count += int(np.prod(spec.shape))
                continue
            value = spec.value(read)
            f.create_dataset(where, data=value)
            count += int(value.size)
    _copy_in(path, copies)
    return count


def _allocate(f: object, where: str, shape: tuple[int, ...]) -> int:
    """A contiguous float32 dataset, allocated now and never filled; its file offset."""
    import h5py

    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    parent, _, name = where.rpartition("/")
    group = f.require_group(parent)  # type: ignore[attr-defined]
    space = h5py.h5s.create_simple(shape) if shape else h5py.h5s.create(h5py.h5s.SCALAR)
    dsid = h5py.h5d.create(group.id, name.encode(), h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
    offset = dsid.get_offset()
    if offset is None:
        raise CheckpointError(f"{where}: h5py allocated no contiguous storage")
    return int(offset)


def _copy_in(path: str, copies: list[tuple[RawSource, int, str]]) -> None:
    from legacy_saver.bundle.fileio import file_crc32c
    from legacy_saver.errors import CorruptCheckpointError

    if not copies:
        return
    with open(path, "r+b") as out:
        for source, offset, _ in copies:
            with open(source.path, "rb") as src:
                _copy_range_at(src.fileno(), source.offset, source.size, out.fileno(), offset)
    for source, offset, target in copies:
        crc, n = file_crc32c(path, offset, source.size)
        if (crc, n) != (source.crc32c, source.size):
            raise CorruptCheckpointError(
                f"{source.path}: bytes {source.offset}..{source.offset + source.size} (for "
                f"{target}) do not match their crc32c; the source is corrupt"
            )


def _copy_range_at(src: int, src_offset: int, size: int, dst: int, dst_offset: int) -> None:
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src, dst, size - done, src_offset + done, dst_offset + done)
            if n == 0:
                break
            done += n
    except OSError:
        if done:
            raise
    while done < size:  # no kernel copy here (other file systems): through a buffer
        chunk = os.pread(src, min(size - done, 16 << 20), src_offset + done)
        if not chunk:
            break
        os.pwrite(dst, chunk, dst_offset + done)
        done += len(chunk)
    if done != size:
        raise CheckpointError(f"source ended after {done} of {size} bytes")


def model_json(module: str, class_name: str, config: Mapping[str, object]) -> dict[str, object]:
    """A Keras-serialized keras_hub object, as ``keras.saving.serialize_keras_object``
    writes it (without compile/build configs, as keras_hub's preset saver drops them)."""
    return {
        "module": module,
        "class_name": class_name,
        "config": dict(config),
        "registered_name": f"keras_hub>{class_name}",
    }


def float32_policy() -> dict[str, object]:
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }


def _version(package: str) -> str | None:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return None


def metadata_json(parameter_count: int, tasks: Sequence[str]) -> dict[str, object]:
    import datetime

    return {
        "keras_version": _version("keras"),
        "keras_hub_version": _version("keras-hub"),
        "parameter_count": parameter_count,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "tasks": sorted(tasks),
        "converted_by": "legacy-saver",
    }


@dataclass(frozen=True)
class PresetFiles:
    """What one preset directory holds: the backbone, and optionally a task."""

    backbone_json: dict[str, object]
    backbone_layout: Layout
    backbone_specs: tuple[WeightSpec, ...]
    tasks: tuple[str, ...] = ()
    task_json: dict[str, object] | None = None
    task_layout: Layout | None = None
    task_specs: tuple[WeightSpec, ...] = ()


def write_preset_dir(
    dst: str, files: PresetFiles, read: Reader, *, overwrite: bool, raw: RawLookup | None = None
) -> None:
    """Write the preset directory ``dst`` atomically: everything goes into a temporary
    directory beside it, which is renamed into place last (a crash leaves ``dst`` as it
    was). An existing ``dst`` is replaced only with ``overwrite`` and only if it holds
    nothing but preset files."""
    dst = os.path.abspath(dst)
    _check_destination(dst, overwrite)
    temp = temp_path(dst)
    os.makedirs(temp)
    try:
        count = write_weights_h5(
            os.path.join(temp, MODEL_WEIGHTS_FILE),
            files.backbone_layout,
            files.backbone_specs,
            read,
            raw,
        )
        _write_json(os.path.join(temp, CONFIG_FILE), files.backbone_json)
        _write_json(os.path.join(temp, METADATA_FILE), metadata_json(count, files.tasks))
        if files.task_json is not None and files.task_layout is not None:
            write_weights_h5(
                os.path.join(temp, TASK_WEIGHTS_FILE),
                files.task_layout,
                files.task_specs,
                read,
                raw,
            )
            _write_json(os.path.join(temp, TASK_FILE), files.task_json)
        for name in os.listdir(temp):
            with open(os.path.join(temp, name), "rb") as f:
                os.fsync(f.fileno())
        _swap_into_place(temp, dst)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _write_json(path: str, value: object) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(value, indent=4))


def _check_destination(dst: str, overwrite: bool) -> None:
    if not os.path.lexists(dst):
        parent = os.path.dirname(dst)
        if not os.path.isdir(parent):
            raise CheckpointError(f"{parent} does not exist (the parent of {dst})")
        return
    if os.path.islink(dst) or not os.path.isdir(dst):
        raise CheckpointExistsError(f"{dst} exists and is not a preset directory")
    if not overwrite:
        raise CheckpointExistsError(f"{dst} already exists; pass overwrite=True to replace it")
    strangers = sorted(set(os.listdir(dst)) - PRESET_FILES)
    if strangers:
        raise CheckpointExistsError(
            f"{dst} holds files a preset directory does not ({', '.join(strangers[:5])}); "
            "refusing to replace it"
        )


def _swap_into_place(temp: str, dst: str) -> None:
    old = None
    if os.path.isdir(dst):
        old = temp_path(dst)
        os.rename(dst, old)
    os.rename(temp, dst)
    fsync_dir(os.path.dirname(dst))
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
