"""``load_checkpoint``/``list_variables``: one reader for every checkpoint
flavour, with TensorFlow's method names, and the path rules that find it.

``path`` may be a prefix (``dir/model.ckpt-100``), a directory (its
``checkpoint`` state file, else a SavedModel's ``variables/variables``, else
its only checkpoint), a file of a checkpoint (``.index``, ``.data-*``,
``.meta``: resolved to the prefix, with a note), a V1 file, or V1 shards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import CheckpointNotFoundError, CorruptCheckpointError, TensorNotFoundError
from . import pending
from .dtypes import DType
from .files import readable_now
from .naming import OBJECT_GRAPH_KEY, checkpoint_prefix_of, index_path, is_temp, local_path
from .reader import BundleReader
from .source import CheckpointFile, TensorReader
from .storage import LOCAL, Storage, storage_for
from .v1 import V1Reader, v1_files

AnyPath = str | bytes | os.PathLike[str] | os.PathLike[bytes]  # bytes as TensorFlow takes them


@dataclass
class ResolvedPath:
    prefix: str
    version: int  # 1 or 2
    files: list[str] = field(default_factory=list)  # V1 files
    notes: list[str] = field(default_factory=list)


def resolve_checkpoint(
    path: str | os.PathLike[str], storage: Storage | None = None
) -> ResolvedPath:
    """Find the checkpoint ``path`` names, or raise ``CheckpointNotFoundError``."""
    if storage is None:
        storage, text = storage_for(path)
    else:
        text = os.fspath(path)
    notes: list[str] = []
    if storage is LOCAL and os.path.isdir(text):
        text, notes = _from_directory(text)
    owner = checkpoint_prefix_of(text)
    if owner is not None and not storage.exists(index_path(text)):
        notes.append(f"{text} is a file of checkpoint {owner}; using the prefix")
        text = owner
    if storage.exists(index_path(text)):
        return ResolvedPath(text, 2, notes=notes)
    files = v1_files(text, storage)
    if files and _is_table(storage, files[0]):
        return ResolvedPath(text, 1, files, notes)
    raise CheckpointNotFoundError(_not_found_message(text, storage))


def _is_table(storage: Storage, path: str) -> bool:
    from .table_format import FOOTER_BYTES, TABLE_MAGIC

    size = storage.size(path)
    if size < FOOTER_BYTES:
        return False
    with storage.open_read(path) as f:
        f.seek(size - 8)
        return int.from_bytes(f.read(8), "little") == TABLE_MAGIC


def _from_directory(directory: str) -> tuple[str, list[str]]:
    from .state import latest_checkpoint

    latest = latest_checkpoint(directory)
    if latest is not None:
        return latest, []
    saved_model = os.path.join(directory, "variables", "variables")
    if os.path.exists(index_path(saved_model)):
        return saved_model, [f"{directory} is a SavedModel; reading its variables"]
    prefixes = sorted(
        p[: -len(".index")]
        for p in os.listdir(directory)
        if p.endswith(".index") and not is_temp(p)
    )
    if len(prefixes) == 1:
        prefix = os.path.join(directory, prefixes[0])
        return prefix, [f"{directory} has no checkpoint state file; using its only checkpoint"]
    if not prefixes:
        raise CheckpointNotFoundError(f"{directory} holds no checkpoint (no state file, no .index)")
    raise CheckpointNotFoundError(
        f"{directory} has no checkpoint state file and {len(prefixes)} checkpoints "
        f"({', '.join(prefixes[:5])}); name one"
    )


def _not_found_message(text: str, storage: Storage) -> str:
    message = f"no checkpoint at {text} (neither {text}.index nor a V1 checkpoint file exists)"
    directory = os.path.dirname(text) or "."
    if storage is LOCAL and os.path.isdir(directory):
        base = os.path.basename(text)
        near = sorted(
            {
                checkpoint_prefix_of(p) or p
                for p in os.listdir(directory)
                if p.startswith(base[:3]) and not is_temp(p)
            }
        )
        if near:
            message += f"; {directory} has: {', '.join(near[:5])}"
    return message


class CheckpointReader:
    """What ``tf.train.load_checkpoint`` returns, without TensorFlow.

    One ``TensorReader`` (``BundleReader`` for V2, ``V1Reader`` for V1) does the work;
    ``bundle`` is the V2 one, for raw entries, slices and byte copies.

    Attributes:
        prefix: the resolved checkpoint prefix.
        format_version: 1 or 2.
        notes: how ``path`` was resolved, when it was not a plain prefix.
    """

    def __init__(self, path: AnyPath, *, verify_checksums: bool = True) -> None:
        storage, text = storage_for(path)
        resolved = resolve_checkpoint(text, storage)
        self.prefix = resolved.prefix
        self.format_version = resolved.version
        self.notes = resolved.notes
        self._reader: TensorReader
        if resolved.version == 2:
            self._reader = BundleReader(
                self.prefix, verify_checksums=verify_checksums, storage=storage
            )
        else:
            self._reader = V1Reader(
                resolved.files, verify_checksums=verify_checksums, storage=storage
            )

    @property
    def bundle(self) -> BundleReader | None:
        """The V2 reader underneath (raw entries, slices, ``open_data``), None for V1."""
        return self._reader if isinstance(self._reader, BundleReader) else None

    @property
    def reader(self) -> TensorReader:
        """The format's own reader (``BundleReader`` or ``V1Reader``)."""
        return self._reader

    def keys(self) -> list[str]:
        """Every tensor name, sorted."""
        return sorted(self._reader.keys())

    def files(self) -> list[CheckpointFile]:
        """The checkpoint's files with their sizes (None: missing): the ``.index`` and
        every data shard, or the V1 file(s)."""
        return self._reader.files()

    def has_tensor(self, name: str) -> bool:
        return name in self._reader

    def shape(self, name: str) -> tuple[int, ...]:
        return self._reader.shape(name)

    def dtype(self, name: str) -> DType:
        return self._reader.dtype(name)

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        return {k: list(self.shape(k)) for k in self.keys()}

    def get_variable_to_dtype_map(self) -> dict[str, DType]:
        return {k: self.dtype(k) for k in self.keys()}

    def get_tensor(self, name: str) -> np.ndarray:
        if not self.has_tensor(name):
            raise TensorNotFoundError(f"tensor {name!r} not found in {self.prefix}")
        return self._reader.get_tensor(name)

    @property
    def is_object_based(self) -> bool:
        return self.has_tensor(OBJECT_GRAPH_KEY)

    def object_graph(self) -> object | None:
        """The parsed ``TrackableObjectGraph`` of a TF2 checkpoint, else None.

        Raises:
            CorruptCheckpointError: the entry is not one string, or its bytes are not a
                ``TrackableObjectGraph`` (the message names the checkpoint and the key).
        """
        if not self.is_object_based:
            return None
        from google.protobuf.message import DecodeError

        from .protos import TrackableObjectGraph

        dtype, shape = self.dtype(OBJECT_GRAPH_KEY), self.shape(OBJECT_GRAPH_KEY)
        if dtype is not DType.STRING or shape not in ((), (1,)):
            raise CorruptCheckpointError(
                f"{self.prefix}: {OBJECT_GRAPH_KEY} must be one string, found "
                f"{dtype.name.lower()} of shape {list(shape)}"
            )
        data = bytes(self.get_tensor(OBJECT_GRAPH_KEY).reshape(-1)[0])
        graph: object = TrackableObjectGraph()
        try:
            graph.ParseFromString(data)  # type: ignore[attr-defined]
        except (DecodeError, RuntimeError, ValueError) as exc:  # the C++ parser: the others
            raise CorruptCheckpointError(
                f"{self.prefix}: {OBJECT_GRAPH_KEY} is not a TrackableObjectGraph "
                f"({len(data)} bytes): {exc}"
            ) from None
        return graph

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> CheckpointReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_checkpoint(path: AnyPath, *, verify_checksums: bool = True) -> CheckpointReader:
    """Open the checkpoint at ``path`` (see the module docstring). An async save of this
    process still writing it is waited for first (``pending.wait_for_checkpoint``)."""
    pending.wait_for_checkpoint(local_path(os.fsdecode(os.fspath(path))), readable_now)
    return CheckpointReader(path, verify_checksums=verify_checksums)


def list_variables(path: str | os.PathLike[str]) -> list[tuple[str, list[int]]]:
    """``[(name, shape)]`` of every tensor, sorted by name, as TensorFlow's."""
    with load_checkpoint(path) as reader:
        return [(k, list(reader.shape(k))) for k in reader.keys()]
