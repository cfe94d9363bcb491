"""Reading V1 checkpoints (TensorFlow before 1.0; TF-slim era downloads).

A V1 checkpoint is one LevelDB table (or shards ``P-00000-of-0000N``) whose
values are ``SavedTensorSlices`` protos. Key ``""`` holds the metadata: each
tensor's name, dtype, full shape and the slices stored. Every other key is a
slice key (see ``ordered_code.slice_key``) whose value carries the slice's
data as a ``TensorProto`` with typed repeated fields
(``tensorflow/core/util/tensor_slice_writer.h``, ``saved_tensor_slice.proto``).
"""

from __future__ import annotations

from types import EllipsisType

import numpy as np

from ..errors import CorruptCheckpointError, TensorNotFoundError, UnsupportedFeatureError
from .coding import DecodeError
from .dtypes import DType, dtype_from_enum
from .entry import Extent, decode_extents, decode_shape
from .files import checkpoint_files
from .naming import INDEX_SUFFIX, strip_v1_shard
from .ordered_code import slice_key
from .protos import BundleHeaderProto, SavedTensorSlices
from .source import CheckpointFile
from .storage import LOCAL, Storage
from .table import TableReader

# TensorProto field holding each dtype's values when tensor_content is empty.
_FIELD = {
    DType.FLOAT32: "float_val", DType.FLOAT64: "double_val", DType.INT32: "int_val",
    DType.INT16: "int_val", DType.INT8: "int_val", DType.UINT8: "int_val",
    DType.UINT16: "int_val", DType.QINT8: "int_val", DType.QUINT8: "int_val",
    DType.QINT16: "int_val", DType.QUINT16: "int_val", DType.QINT32: "int_val",
    DType.INT64: "int64_val", DType.BOOL: "bool_val", DType.STRING: "string_val",
    DType.COMPLEX64: "scomplex_val", DType.COMPLEX128: "dcomplex_val",
    DType.FLOAT16: "half_val", DType.BFLOAT16: "half_val",
    DType.UINT32: "uint32_val", DType.UINT64: "uint64_val",
}  # fmt: skip


def v1_files(path: str, storage: Storage = LOCAL) -> list[str]:
    """The files of a V1 checkpoint named ``path``: the file itself, or its
    ``-?????-of-NNNNN`` shards (``path`` may also be such a pattern or shard)."""
    if storage is LOCAL:
        found = checkpoint_files(path)  # exact names; the ``?????`` pattern is understood
        return [] if found and found[0].endswith(INDEX_SUFFIX) else found
    return [path] if storage.exists(path) else []


class V1Reader:
    """All tensors of a V1 checkpoint; the (small) files are read at open."""

    def __init__(
        self, files: list[str], *, verify_checksums: bool = True, storage: Storage = LOCAL
    ):
        if not files:
            raise ValueError("no V1 checkpoint files given")
        self._paths = list(files)
        self._storage = storage
        self.prefix = strip_v1_shard(files[0]) if len(files) > 1 else files[0]
        self._meta: dict[str, tuple[DType | int, tuple[int, ...], list[tuple[Extent, ...]]]] = {}
        self._where: dict[str, str] = {}
        self._tables: dict[str, dict[bytes, bytes]] = {}
        for path in files:
            self._load(path, storage.read(path), verify_checksums)

    def _load(self, path: str, raw: bytes, verify: bool) -> None:
        try:
            table = dict(TableReader(raw, verify).items())
            meta_bytes = table.get(b"")
            if meta_bytes is None:
                raise DecodeError("missing metadata entry (key '')")
            proto = SavedTensorSlices()
            try:
                proto.ParseFromString(meta_bytes)
            except Exception:
                raise DecodeError("metadata is not a SavedTensorSlices proto") from None
            if not proto.HasField("meta"):
                raise DecodeError(_not_v1(meta_bytes))
            stray = next((k for k in table if k and not k.startswith(b"\x00")), None)
            if stray is not None:  # V1 keys are slice keys (ordered_code), all start 0x00
                raise DecodeError(f"key {stray[:40]!r} is not a V1 slice key")
            for t in proto.meta.tensor:
                shape = decode_shape(t.shape, f"tensor {t.name!r}: ")
                slices = [decode_extents(s, shape, f"tensor {t.name!r}: ") for s in t.slice]
                self._meta[t.name] = (int(t.type), shape, slices)
                self._where[t.name] = path
        except DecodeError as exc:
            raise CorruptCheckpointError(f"{path} is corrupt: {exc}") from None
        self._tables[path] = table

    def keys(self) -> list[str]:
        return sorted(self._meta)

    @property
    def paths(self) -> list[str]:
        """The V1 file(s) read."""
        return list(self._paths)

    def files(self) -> list[CheckpointFile]:
        return [CheckpointFile(p, self._storage.size(p)) for p in self._paths]

    def __contains__(self, key: object) -> bool:
        return key in self._meta

    def dtype(self, key: str) -> DType:
        return dtype_from_enum(int(self._lookup(key)[0]), where=f"tensor {key!r}: ")

    def shape(self, key: str) -> tuple[int, ...]:
        return self._lookup(key)[1]

    def _lookup(self, key: str) -> tuple[DType | int, tuple[int, ...], list[tuple[Extent, ...]]]:
        found = self._meta.get(key)
        if found is None:
            raise TensorNotFoundError(f"tensor {key!r} not found in {self.prefix}")
        return found

    def get_tensor(self, key: str) -> np.ndarray:
        _, shape, slices = self._lookup(key)
        dtype = self.dtype(key)
        path = self._where[key]
        out = np.zeros(shape, dtype=dtype.numpy)
        covered = 0
        for extents in slices:
            sub = tuple(d if n == -1 else n for (_, n), d in zip(extents, shape, strict=True))
            value = self._slice_value(path, key, extents, dtype, sub)
            box: tuple[slice | EllipsisType, ...] = tuple(
                slice(0, d) if n == -1 else slice(s, s + n)
                for (s, n), d in zip(extents, shape, strict=True)
            )
            out[(*box, ...)] = value  # 0-d too: an object scalar is copied, not nested
            covered += value.size
        if covered != out.size:
            raise CorruptCheckpointError(
                f"{path} is corrupt: slices of {key!r} cover {covered} of {out.size} elements"
            )
        return out

    def _slice_value(
        self, path: str, key: str, extents: tuple[Extent, ...], dtype: DType, shape: tuple[int, ...]
    ) -> np.ndarray:
        raw = self._tables[path].get(slice_key(key, extents))
        if raw is None:
            raise CorruptCheckpointError(
                f"{path} is corrupt: slice {list(extents)} of {key!r} missing"
            )
        proto = SavedTensorSlices()
        try:
            proto.ParseFromString(raw)
        except Exception:
            raise CorruptCheckpointError(
                f"{path} is corrupt: slice of {key!r} unparsable"
            ) from None
        return _tensor_values(proto.data.data, dtype, shape, f"{path}: tensor {key!r}: ")

    def close(self) -> None:
        self._tables.clear()


def _not_v1(header: bytes) -> str:
    """Why a table whose ``""`` entry holds no ``SavedTensorSlices`` metadata is refused."""
    bundle = BundleHeaderProto()
    try:
        bundle.ParseFromString(header)
    except Exception:
        return "its header entry holds no SavedTensorSlices metadata: not a V1 checkpoint"
    if bundle.num_shards >= 1:
        return (
            "it is a V2 index (its header entry is a BundleHeaderProto with "
            f"{bundle.num_shards} shard(s)), not a V1 checkpoint: open its prefix instead"
        )
    return "its header entry holds no SavedTensorSlices metadata: not a V1 checkpoint"


def _tensor_values(t: object, dtype: DType, shape: tuple[int, ...], where: str) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    content = getattr(t, "tensor_content", b"")
    if content:
        if dtype is DType.STRING or len(content) != count * dtype.itemsize:
            raise CorruptCheckpointError(f"{where}tensor_content has {len(content)} bytes")
        return np.frombuffer(content, dtype=dtype.numpy).reshape(shape).copy()
    field = _FIELD.get(dtype)
    if field is None:
        raise UnsupportedFeatureError(f"{where}V1 values of dtype {dtype.tf_name}")
    values = list(getattr(t, field))
    if dtype in (DType.COMPLEX64, DType.COMPLEX128):
        arr = np.asarray(values, dtype=np.float64).reshape(-1, 2) if values else np.zeros((0, 2))
        values = list(arr[:, 0] + 1j * arr[:, 1])
    if len(values) != count:
        raise CorruptCheckpointError(f"{where}{len(values)} values for shape {list(shape)}")
    if dtype is DType.STRING:
        out = np.empty(count, dtype=object)
        out[:] = values
        return out.reshape(shape)
    if dtype in (DType.FLOAT16, DType.BFLOAT16):
        return np.asarray(values, dtype=np.uint16).view(dtype.numpy).reshape(shape)
    return np.asarray(values).astype(dtype.numpy).reshape(shape)
