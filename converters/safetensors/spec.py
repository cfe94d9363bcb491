"""The safetensors file format, as this package writes and checks it.

::

    offset 0        N: u64, little-endian        the header's length in bytes
    offset 8        N bytes of UTF-8 JSON         {"__metadata__": {str: str, ...},
                                                   "name": {"dtype": "F32",
                                                            "shape": [2, 3],
                                                            "data_offsets": [BEGIN, END]},
                                                   ...}
                    padded with spaces (0x20) so that 8 + N is a multiple of 8
    offset 8 + N    the byte buffer: every tensor's raw little-endian, row-major
                    bytes, back to back; ``data_offsets`` are relative to here,
                    END is one past the last byte, and the tensors cover the
                    buffer exactly (no holes, no overlap, nothing after the last)

(huggingface/safetensors README "Format" and ``safetensors/src/tensor.rs``: the
8-byte alignment of the data start, the 100 MB header limit, ``__metadata__``
as a string-to-string map, duplicate keys disallowed.)

Our writer's choices, all deterministic: compact JSON (``","`` and ``":"``), the
``__metadata__`` object first with sorted keys, then the tensors in buffer order;
tensors ordered by descending element size, then name (the library's own order,
which keeps every tensor aligned to its element size when the data start is
8-aligned).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from legacy_saver.bundle import DType
from legacy_saver.errors import CorruptCheckpointError

HEADER_LENGTH_BYTES = 8  # the u64 in front of the JSON header
DATA_ALIGNMENT_BYTES = 8  # tensor.rs prepare(): "Force alignment to 8 bytes", padded with b" "
MAX_HEADER_BYTES = 100_000_000  # tensor.rs MAX_HEADER_SIZE
METADATA_KEY = "__metadata__"

# TensorFlow dtype -> safetensors dtype code (and its element size). Only types whose
# bytes mean the same on both sides: F8_E4M3 is float8_e4m3fn (torch.float8_e4m3fn),
# the FNUZ variants are read by safetensors 0.8 (older readers refuse them).
SAFETENSORS_DTYPES: dict[DType, tuple[str, int]] = {
    DType.FLOAT64: ("F64", 8),
    DType.FLOAT32: ("F32", 4),
    DType.FLOAT16: ("F16", 2),
    DType.BFLOAT16: ("BF16", 2),
    DType.FLOAT8_E4M3FN: ("F8_E4M3", 1),
    DType.FLOAT8_E5M2: ("F8_E5M2", 1),
    DType.FLOAT8_E4M3FNUZ: ("F8_E4M3FNUZ", 1),
    DType.FLOAT8_E5M2FNUZ: ("F8_E5M2FNUZ", 1),
    DType.COMPLEX64: ("C64", 8),
    DType.INT64: ("I64", 8),
    DType.INT32: ("I32", 4),
    DType.INT16: ("I16", 2),
    DType.INT8: ("I8", 1),
    DType.UINT64: ("U64", 8),
    DType.UINT32: ("U32", 4),
    DType.UINT16: ("U16", 2),
    DType.UINT8: ("U8", 1),
    DType.BOOL: ("BOOL", 1),
}
ITEMSIZE: dict[str, int] = {code: size for code, size in SAFETENSORS_DTYPES.values()}

# Why the others cannot be written (the report's "dropped" reasons).
UNSUPPORTED_REASONS: dict[DType, str] = {
    DType.STRING: "string tensors have no safetensors dtype",
    DType.COMPLEX128: "complex128 has no safetensors dtype (only C64)",
    DType.RESOURCE: "resource handles are TensorFlow runtime objects, not values",
    DType.VARIANT: "variant tensors are TensorFlow runtime objects, not values",
    DType.FLOAT8_E4M3B11FNUZ: "float8_e4m3b11fnuz has no safetensors dtype",
}
for _q in (DType.QINT8, DType.QUINT8, DType.QINT16, DType.QUINT16, DType.QINT32):
    UNSUPPORTED_REASONS[_q] = f"quantized {_q.tf_name} is TensorFlow-only (no safetensors dtype)"


def safetensors_dtype(dtype_enum: int) -> tuple[str | None, str]:
    """``(code, "")`` for a TensorFlow dtype enum safetensors can hold, else
    ``(None, reason)``."""
    try:
        dtype = DType(dtype_enum - 100 if 100 < dtype_enum < 200 else dtype_enum)
    except ValueError:
        return None, f"unknown TensorFlow dtype enum {dtype_enum}"
    found = SAFETENSORS_DTYPES.get(dtype)
    if found is not None:
        return found[0], ""
    return None, UNSUPPORTED_REASONS.get(dtype, f"{dtype.tf_name} has no safetensors dtype")


@dataclass(frozen=True)
class TensorInfo:
    """One header entry: ``begin``/``end`` are offsets into the byte buffer."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


def encode_header(tensors: Sequence[TensorInfo], metadata: Mapping[str, str]) -> bytes:
    """The file's first ``8 + N`` bytes: the length, the JSON, the padding.

    ``tensors`` must already be in buffer order with contiguous offsets from 0."""
    body: dict[str, object] = {}
    if metadata:
        body[METADATA_KEY] = {k: str(metadata[k]) for k in sorted(metadata)}
    position = 0
    for t in tensors:
        if t.name == METADATA_KEY or t.name in body:
            raise ValueError(f"tensor name {t.name!r} is reserved or repeated")
        if t.begin != position or t.end - t.begin != math.prod(t.shape) * ITEMSIZE[t.dtype]:
            raise ValueError(f"tensor {t.name!r}: offsets {t.begin}..{t.end} are not contiguous")
        position = t.end
        body[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [t.begin, t.end]}
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(HEADER_LENGTH_BYTES + len(text)) % DATA_ALIGNMENT_BYTES)
    if len(text) > MAX_HEADER_BYTES:
        raise ValueError(f"header of {len(text)} bytes exceeds {MAX_HEADER_BYTES}")
    return struct.pack("<Q", len(text)) + text


def decode_header(
    head: bytes, file_size: int, where: str
) -> tuple[list[TensorInfo], dict[str, str]]:
    """Parse and check a header (``head`` holds at least the file's first 8 + N
    bytes). Checks everything the spec demands, and that the buffer is covered;
    raises ``CorruptCheckpointError`` naming ``where``."""

    def bad(detail: str) -> CorruptCheckpointError:
        return CorruptCheckpointError(f"{where} is not a valid safetensors file: {detail}")

    if len(head) < HEADER_LENGTH_BYTES:
        raise bad(f"{len(head)} bytes, the header length alone needs 8")
    (n,) = struct.unpack("<Q", head[:HEADER_LENGTH_BYTES])
    if n > MAX_HEADER_BYTES or HEADER_LENGTH_BYTES + n > min(len(head), file_size):
        raise bad(f"header length {n} does not fit the file ({file_size} bytes)")
    try:
        body = json.loads(head[HEADER_LENGTH_BYTES : HEADER_LENGTH_BYTES + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"header is not UTF-8 JSON ({exc})") from None
    if not isinstance(body, dict):
        raise bad("header is not a JSON object")
    metadata = body.pop(METADATA_KEY, {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("__metadata__ is not a string-to-string map")
    tensors = [_tensor_info(name, info, bad) for name, info in body.items()]
    tensors.sort(key=lambda t: (t.begin, t.end))
    position = 0
    for t in tensors:
        if t.begin != position:
            raise bad(f"tensor {t.name!r} starts at {t.begin}, expected {position} "
                      "(a hole or an overlap)")  # fmt: skip
        position = t.end
    data_start = HEADER_LENGTH_BYTES + n
    if data_start + position != file_size:
        raise bad(f"tensors cover {position} bytes, the buffer holds {file_size - data_start}")
    return tensors, metadata


def _tensor_info(
    name: str, info: object, fail: Callable[[str], CorruptCheckpointError]
) -> TensorInfo:
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise fail(f"tensor {name!r}: entry {info!r} is not dtype/shape/data_offsets")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    ok_shape = isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)
    ok_offsets = (isinstance(offsets, list) and len(offsets) == 2
                  and all(type(o) is int and o >= 0 for o in offsets))  # fmt: skip
    if dtype not in ITEMSIZE or not ok_shape or not ok_offsets:
        raise fail(f"tensor {name!r}: bad dtype, shape or offsets in {info!r}")
    begin, end = offsets
    if end - begin != math.prod(shape) * ITEMSIZE[dtype]:
        raise fail(f"tensor {name!r}: {end - begin} bytes for shape {shape} of {dtype}")
    return TensorInfo(name, dtype, tuple(shape), begin, end)


def read_header(path: str) -> tuple[list[TensorInfo], dict[str, str], int]:
    """``(tensors, metadata, data_start)`` of the safetensors file at ``path``."""
    import os

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        first = f.read(HEADER_LENGTH_BYTES)
        if len(first) == HEADER_LENGTH_BYTES:
            (n,) = struct.unpack("<Q", first)
            first += f.read(min(n, MAX_HEADER_BYTES + 1))
    tensors, metadata = decode_header(first, size, path)
    return tensors, metadata, HEADER_LENGTH_BYTES + struct.unpack("<Q", first[:8])[0]
