"""Reading a V2 checkpoint (a "tensor bundle"): ``P.index`` + ``P.data-*``.

The whole ``.index`` is read and checked when the reader opens (it is small);
each tensor is read on request, straight into one preallocated numpy buffer,
and its crc32c verified before it is returned. See ``FORMAT.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from ..errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    TensorNotFoundError,
    UnsupportedFeatureError,
)
from .coding import DecodeError, crc32c, unmask_crc
from .dtypes import DType
from .entry import BundleEntry, Extent
from .fileio import directory_lock, read_identified, same_file
from .naming import data_path, index_path
from .ordered_code import slice_key
from .protos import ENDIAN_BIG, ENDIAN_LITTLE, BundleHeaderProto
from .source import CheckpointFile
from .storage import Storage, storage_for
from .strings import StringLayout
from .table import TableReader

HEADER_KEY = b""
BUNDLE_VERSION = 1  # tensor_bundle.cc kTensorBundleVersion: what this reader understands
MAX_SHARDS = 1_000_000
READ_CHUNK_BYTES = 64 << 20  # read big tensors in pieces so one read() never copies 2 GB
EAGER_OPEN_MAX_SHARDS = 64  # open the shards with the index up to this many (fds are finite)
OPEN_ATTEMPTS = 3  # re-read the index this often if it keeps being replaced while opening
LOCK_WAIT_S = 0.25  # wait this long for a publish into the directory, then open unlocked


def _decode_key(key: bytes) -> str:
    """Tensor names are UTF-8; internal slice keys, and names that are not
    UTF-8, are carried as latin-1 (the writer's ``_key_bytes`` inverts this)."""
    if key.startswith(b"\x00"):
        return key.decode("latin-1")
    if key.isascii():  # nearly every name: no exception machinery
        return key.decode("ascii")
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return key.decode("latin-1")


def _extents_key(extents: tuple[Extent, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(
        slice(0, dim) if length == -1 else slice(start, start + length)
        for (start, length), dim in zip(extents, shape, strict=True)
    )


class BundleReader:
    """Random access to the tensors of one V2 checkpoint prefix.

    Consistency under re-saves (local files): right after reading the ``.index`` the
    reader opens the data shards it names (up to ``EAGER_OPEN_MAX_SHARDS``) and then
    checks that ``P.index`` is still the file it read; if a writer replaced it
    meanwhile, it reads again. From then on it holds the very files that index
    describes, whatever is published or deleted under those names later
    (``publish.py``): it never mixes two generations of a checkpoint.
    """

    def __init__(
        self, prefix: str | os.PathLike[str], *, verify_checksums: bool = True,
        storage: Storage | None = None,
    ) -> None:  # fmt: skip
        if storage is None:
            storage, self.prefix = storage_for(prefix)
        else:
            self.prefix = os.fspath(prefix)
        self._storage = storage
        self._verify = verify_checksums
        self.index_file = index_path(self.prefix)
        self._decoded: dict[str, BundleEntry] = {}
        self._files: dict[int, BinaryIO] = {}
        self._shard_sizes: dict[int, int] = {}
        self.compressed_blocks = False
        if not storage.is_local:
            if not storage.exists(self.index_file):
                raise CheckpointNotFoundError(f"{self.index_file} does not exist")
            raw = storage.read(self.index_file)
            self.index_bytes = len(raw)
            self._entries = self._load_index(raw)
            return
        with directory_lock(os.path.dirname(self.index_file), shared=True, timeout_s=LOCK_WAIT_S):
            self._open_local()

    def _open_local(self) -> None:
        """Read the index and open the shards, under the directory's shared lock: a publish
        of ours (``bundle.publish``) cannot switch the checkpoint in between. Others' (or
        an unlockable filesystem's) can: then the index is read again if it was replaced."""
        for _ in range(OPEN_ATTEMPTS):
            raw, identity = read_identified(self.index_file)
            self.index_bytes = len(raw)
            self._entries = self._load_index(raw)
            if self.num_shards > EAGER_OPEN_MAX_SHARDS:
                break
            self._open_shards()
            if same_file(self.index_file, identity):
                break
            self.close()  # P.index was replaced while the shards were opened: again
            self._decoded.clear()

    def _open_shards(self) -> None:
        """Open every data shard now (missing or refused ones are left to the first read,
        which names the tensor)."""
        for shard in range(self.num_shards):
            try:
                f = self._storage.open_read(self.data_file(shard))
            except (CheckpointError, OSError):
                continue
            self._files[shard] = f
            self._shard_sizes[shard] = os.fstat(f.fileno()).st_size

    # -- index -------------------------------------------------------------
    def _corrupt(self, detail: str) -> CorruptCheckpointError:
        return CorruptCheckpointError(f"{self.index_file} is corrupt: {detail}")

    def _load_index(self, raw: bytes) -> dict[str, bytes]:
        try:
            table = TableReader(raw, self._verify)
            items = table.items()
            first = next(items, None)
            if first is None or first[0] != HEADER_KEY:
                raise DecodeError("missing header entry (key '')")
            self._read_header(first[1])
            entries = {}
            for key, value in items:
                # Slice keys (binary OrderedCode, always starting with 0x00) are
                # carried as latin-1 even when their bytes happen to be valid UTF-8.
                entries[_decode_key(key)] = value
            self.compressed_blocks = table.saw_compression
        except DecodeError as exc:
            raise self._corrupt(str(exc)) from None
        return entries

    def _read_header(self, value: bytes) -> None:
        header = BundleHeaderProto()
        try:
            header.ParseFromString(value)
        except Exception:
            raise DecodeError("header entry is not a BundleHeaderProto") from None
        if not 1 <= header.num_shards <= MAX_SHARDS:
            raise DecodeError(f"header claims {header.num_shards} shards")
        if header.endianness not in (ENDIAN_LITTLE, ENDIAN_BIG):
            raise DecodeError(f"unknown endianness {header.endianness}")
        version = header.version
        if version.min_consumer > BUNDLE_VERSION or BUNDLE_VERSION in version.bad_consumers:
            raise UnsupportedFeatureError(
                f"{self.index_file} needs a newer reader: format version producer "
                f"{version.producer}, min_consumer {version.min_consumer}, this reader is "
                f"{BUNDLE_VERSION}"
            )
        self.num_shards = int(header.num_shards)
        self.big_endian = header.endianness == ENDIAN_BIG
        self.version = (int(version.producer), int(version.min_consumer))

    # -- listing -----------------------------------------------------------
    def raw_keys(self) -> list[str]:
        """Every key in the index, slice entries included, in file order."""
        return list(self._entries)

    def keys(self) -> list[str]:
        """Tensor names (slice entries, which are internal, left out)."""
        return [k for k in self._entries if not k.startswith("\x00")]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._entries and not key.startswith("\x00")

    def entry(self, key: str) -> BundleEntry:
        cached = self._decoded.get(key)  # entries are frozen: decode and check each once
        if cached is not None:
            return cached
        value = self._entries.get(key)
        if value is None:
            raise TensorNotFoundError(f"tensor {key!r} not found in {self.prefix}")
        try:
            entry = BundleEntry.decode(key, value)
        except DecodeError as exc:
            raise self._corrupt(str(exc)) from None
        if not entry.slices and entry.shard_id >= self.num_shards:
            raise self._corrupt(f"entry {key!r}: shard {entry.shard_id} of {self.num_shards}")
        self._decoded[key] = entry
        return entry

    def dtype(self, key: str) -> DType:
        """The dtype of ``key``; an unknown enum names the file and the key."""
        return self._dtype(self.entry(key))

    def shape(self, key: str) -> tuple[int, ...]:
        return self.entry(key).shape

    def files(self) -> list[CheckpointFile]:
        """The ``.index`` and every data shard, with sizes (None: missing)."""
        paths = [self.index_file] + [self.data_file(i) for i in range(self.num_shards)]
        return [CheckpointFile(p, self._size_or_none(p)) for p in paths]

    def _size_or_none(self, path: str) -> int | None:
        if path == self.index_file:
            return self.index_bytes
        try:
            return self._storage.size(path) if self._storage.exists(path) else None
        except FileNotFoundError:
            return None

    def _dtype(self, entry: BundleEntry) -> DType:
        try:
            return entry.dtype
        except UnsupportedFeatureError as exc:
            raise UnsupportedFeatureError(f"{self.index_file}: {exc}") from None

    def _empty(self, entry: BundleEntry, dtype: DType) -> np.ndarray:
        """``np.empty`` for an entry whose bytes were bounded by the file size;
        numpy still refuses some zero-element shapes (``[0, 2**62]``)."""
        try:
            return np.empty(entry.shape, dtype=dtype.numpy)
        except (ValueError, MemoryError) as exc:
            raise UnsupportedFeatureError(
                f"{self.index_file}: tensor {entry.key!r} of shape {list(entry.shape)}: {exc}"
            ) from None

    def entries(self) -> Iterator[BundleEntry]:
        for key in self.keys():
            yield self.entry(key)

    # -- data --------------------------------------------------------------
    def data_file(self, shard: int) -> str:
        return data_path(self.prefix, shard, self.num_shards)

    def open_data(self, entry: BundleEntry) -> BinaryIO:
        """The open data shard holding ``entry``'s bytes (``entry.offset`` onwards,
        ``entry.size`` of them), for callers that copy the bytes themselves, after
        checking that the shard exists, is a regular file and is long enough (the
        errors name the shard and the tensor). The handle belongs to this reader: use
        positioned reads (``os.pread``, ``copy_file_range`` with an offset), do not
        close it; it lives until ``close()``."""
        return self._shard(entry)

    def _shard(self, entry: BundleEntry) -> BinaryIO:
        shard = entry.shard_id
        f = self._files.get(shard)
        if f is None:
            path = self.data_file(shard)
            if not self._storage.exists(path):
                raise CheckpointNotFoundError(
                    f"{path} is missing (tensor {entry.key!r} is stored there)"
                )
            try:
                f = self._storage.open_read(path)
            except FileNotFoundError:
                raise CheckpointNotFoundError(
                    f"{path} is missing (tensor {entry.key!r} is stored there)"
                ) from None
            local = self._storage.is_local
            self._shard_sizes[shard] = (
                os.fstat(f.fileno()).st_size if local else self._storage.size(path)
            )
            self._files[shard] = f
        if entry.offset + entry.size > self._shard_sizes[shard]:
            raise CorruptCheckpointError(
                f"{self.data_file(shard)} is truncated: tensor {entry.key!r} needs bytes "
                f"{entry.offset}..{entry.offset + entry.size}, file has {self._shard_sizes[shard]}"
            )
        return f

    def read_into(self, entry: BundleEntry, buffer: memoryview, *, verify: bool = True) -> None:
        """Read ``entry``'s stored bytes into ``buffer`` (exactly its size) and
        verify the checksum. The building block of zero-copy reads."""
        f = self._shard(entry)
        f.seek(entry.offset)
        done = 0
        while done < entry.size:
            n = f.readinto(buffer[done : min(entry.size, done + READ_CHUNK_BYTES)])  # type: ignore[attr-defined]
            if not n:
                raise CorruptCheckpointError(
                    f"{self.data_file(entry.shard_id)} ended early reading {entry.key!r}"
                )
            done += n
        if verify and self._verify and crc32c(buffer) != unmask_crc(entry.crc32c):
            raise CorruptCheckpointError(
                f"{self.data_file(entry.shard_id)}: checksum mismatch for tensor {entry.key!r}"
            )

    def read_raw(self, entry: BundleEntry) -> bytes:
        """The stored bytes of one (unsliced) entry, checksum verified."""
        self._shard(entry)  # bounds-check before allocating
        buf = bytearray(entry.size)
        self.read_into(entry, memoryview(buf))
        return bytes(buf)

    def get_tensor(self, key: str) -> np.ndarray:
        """The value of ``key`` as a numpy array (sliced tensors assembled)."""
        entry = self.entry(key)
        if entry.slices:
            return self._assemble(entry)
        return self._read_value(entry)

    def _read_value(self, entry: BundleEntry) -> np.ndarray:
        dtype = self._dtype(entry)
        if dtype in (DType.VARIANT, DType.RESOURCE):
            raise UnsupportedFeatureError(
                f"tensor {entry.key!r} in {self.prefix} has dtype {dtype.tf_name}, "
                "which has no numpy representation"
            )
        if dtype is DType.STRING:
            return self._read_strings(entry)
        self._shard(entry)  # bounds-check before allocating: sizes come from the file
        out = self._empty(entry, dtype)
        self.read_into(entry, out.reshape(-1).view(np.uint8).data)
        if self.big_endian and out.dtype.itemsize > 1:
            out.byteswap(inplace=True)
        return out

    def _read_strings(self, entry: BundleEntry) -> np.ndarray:
        layout = self._string_layout(entry)
        out = np.empty(entry.num_elements, dtype=object)
        done = 0
        for chunk in layout.values():
            out[done : done + len(chunk)] = chunk
            done += len(chunk)
        return out.reshape(entry.shape)

    def string_layout(self, key: str) -> StringLayout:
        """The stored string tensor ``key`` (unsliced), checked, its strings decoded on
        demand (``StringLayout.values``/``take``): for tools that must not hold a Python
        object per string (``diff``, ``inspect --tensor``)."""
        entry = self.entry(key)
        if entry.slices or self._dtype(entry) is not DType.STRING:
            raise ValueError(f"{key!r} is not a stored (unsliced) string tensor")
        return self._string_layout(entry)

    def _string_layout(self, entry: BundleEntry) -> StringLayout:
        """Read ``entry``'s bytes once (as one ``bytes``, no second copy) and check them."""
        where = f"{self.data_file(entry.shard_id)}: tensor {entry.key!r}"
        f = self._shard(entry)
        f.seek(entry.offset)
        parts, done = [], 0
        while done < entry.size:
            part = f.read(entry.size - done)
            if not part:
                raise CorruptCheckpointError(f"{self.data_file(entry.shard_id)} ended early "
                                             f"reading {entry.key!r}")  # fmt: skip
            parts.append(part)
            done += len(part)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        del parts
        try:
            layout = StringLayout(data, entry.num_elements, big_endian=self.big_endian,
                                  verify=self._verify)  # fmt: skip
        except DecodeError as exc:
            raise CorruptCheckpointError(f"{where}: {exc}") from None
        if self._verify and layout.crc != unmask_crc(entry.crc32c):
            raise CorruptCheckpointError(
                f"{self.data_file(entry.shard_id)}: checksum mismatch for tensor {entry.key!r}"
            )
        return layout

    # -- partitioned variables --------------------------------------------
    def slice_entries(self, key: str) -> list[tuple[tuple[Extent, ...], BundleEntry]]:
        """The stored pieces of a partitioned tensor, as ``(extents, entry)``."""
        entry = self.entry(key)
        pieces = []
        for extents in entry.slices:
            internal = slice_key(key, extents).decode("latin-1")
            if internal not in self._entries:
                raise self._corrupt(f"slice {list(extents)} of {key!r} has no data entry")
            piece = self.entry(internal)
            want = tuple(
                dim if length == -1 else length
                for (_, length), dim in zip(extents, entry.shape, strict=True)
            )
            if piece.shape != want or piece.dtype_enum != entry.dtype_enum:
                raise self._corrupt(f"slice {list(extents)} of {key!r} has shape {piece.shape}")
            pieces.append((extents, piece))
        return pieces

    def get_slices(self, key: str) -> list[tuple[tuple[Extent, ...], np.ndarray]]:
        """The raw slices of a partitioned tensor: ``[(extents, array)]``."""
        return [(ext, self._read_value(piece)) for ext, piece in self.slice_entries(key)]

    def _assemble(self, entry: BundleEntry) -> np.ndarray:
        dtype = self._dtype(entry)
        pieces = self.slice_entries(entry.key)
        boxes = [_extents_key(extents, entry.shape) for extents, _ in pieces]
        for i, a in enumerate(boxes):
            for b in boxes[:i]:
                if all(x.start < y.stop and y.start < x.stop for x, y in zip(a, b, strict=True)):
                    raise self._corrupt(f"slices of {entry.key!r} overlap")
        covered = sum(piece.num_elements for _, piece in pieces)
        if covered != math.prod(entry.shape):
            raise self._corrupt(
                f"slices of {entry.key!r} cover {covered} of {math.prod(entry.shape)} elements"
            )
        for _, piece in pieces:
            self._shard(piece)  # every piece fits its shard, so the whole is bounded
        out = self._empty(entry, dtype)
        for box, (_, piece) in zip(boxes, pieces, strict=True):
            out[box] = self._read_value(piece)
        return out

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
