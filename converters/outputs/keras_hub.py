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

import contextlib
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata

import numpy as np

from legacy_saver.bundle.fileio import fsync_dir
from legacy_saver.bundle.naming import temp_path
from legacy_saver.errors import CheckpointError, CheckpointExistsError

from .keras_hub_layout import Layout, backbone_layout, mlm_head_layout

__all__ = ["Layout", "PresetFiles", "WeightSpec", "backbone_layout", "mlm_head_layout",
           "write_preset_dir", "write_weights_h5"]  # fmt: skip

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
    strangers = sorted(n for n in os.listdir(dst) if not _is_preset_file(dst, n))
    if strangers:
        raise CheckpointExistsError(
            f"{dst} holds what a preset directory does not ({', '.join(strangers[:5])}: only "
            f"regular files named {', '.join(sorted(PRESET_FILES))} are ours to replace); "
            "refusing to replace it"
        )


def _is_preset_file(directory: str, name: str) -> bool:
    """A regular file (not a directory, link or FIFO) with a preset file's name."""
    if name not in PRESET_FILES:
        return False
    try:
        return stat.S_ISREG(os.lstat(os.path.join(directory, name)).st_mode)
    except OSError:
        return False


def _swap_into_place(temp: str, dst: str) -> None:
    """Rename ``temp`` to ``dst``; an existing ``dst`` is renamed away first and put
    back if the second rename fails, then its preset files are removed by name (what
    else appeared in it meanwhile is left, in the renamed directory)."""
    old = None
    if os.path.isdir(dst):
        old = temp_path(dst)
        os.rename(dst, old)
    try:
        os.rename(temp, dst)
    except BaseException:
        if old is not None:
            os.rename(old, dst)
        raise
    fsync_dir(os.path.dirname(dst))
    if old is not None:
        _remove_preset_dir(old)


def _remove_preset_dir(path: str) -> None:
    """Remove the preset files in ``path``, by exact name, then ``path`` if that
    emptied it (never a tree walk: nothing this package did not write is deleted)."""
    for name in PRESET_FILES:
        if _is_preset_file(path, name):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(path, name))
    with contextlib.suppress(OSError):
        os.rmdir(path)
