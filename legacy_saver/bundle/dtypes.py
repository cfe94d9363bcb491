"""TensorFlow's ``DataType`` enum (``tensorflow/core/framework/types.proto``)
and its numpy counterparts.

``DType`` is an ``IntEnum`` carrying TensorFlow's numbers, so it compares equal
to ``tf.float32`` and friends (``tf.DType.__eq__`` accepts enum numbers) while
needing no TensorFlow. Numeric tensors are stored as raw little-endian bytes
of the numpy dtype below; strings are object arrays of ``bytes``.

bfloat16, the float8/float4 types and int4/int2 come from ``ml_dtypes``, which takes most of this
package's import time: it is imported only when a tensor of one of those types is
read or written (``DType.numpy``), never to list a checkpoint (``itemsize`` is a table).
"""

from __future__ import annotations

import enum
import sys

import numpy as np

from ..errors import UnsupportedFeatureError

REF_OFFSET = 100  # types.proto: DT_FLOAT_REF = 101 etc. ("reference" dtypes)


class DType(enum.IntEnum):
    FLOAT32 = 1
    FLOAT64 = 2
    INT32 = 3
    UINT8 = 4
    INT16 = 5
    INT8 = 6
    STRING = 7
    COMPLEX64 = 8
    INT64 = 9
    BOOL = 10
    QINT8 = 11
    QUINT8 = 12
    QINT32 = 13
    BFLOAT16 = 14
    QINT16 = 15
    QUINT16 = 16
    UINT16 = 17
    COMPLEX128 = 18
    FLOAT16 = 19
    RESOURCE = 20
    VARIANT = 21
    UINT32 = 22
    UINT64 = 23
    FLOAT8_E5M2 = 24
    FLOAT8_E4M3FN = 25
    FLOAT8_E4M3FNUZ = 26
    FLOAT8_E4M3B11FNUZ = 27
    FLOAT8_E5M2FNUZ = 28
    INT4 = 29  # stored one element per byte, as TensorFlow 2.21 writes them
    UINT4 = 30
    INT2 = 31
    UINT2 = 32
    FLOAT4_E2M1FN = 33

    @property
    def tf_name(self) -> str:
        """The name TensorFlow prints (``float32``, ``string``, ``half`` is ``float16``)."""
        return self.name.lower()

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype tensors of this type are returned as (imports ``ml_dtypes``
        for bfloat16 and float8)."""
        found = _NUMPY.get(self)
        if found is None and self in _ML_DTYPES:
            _load_ml_dtypes()
            found = _NUMPY.get(self)
        if found is None:
            raise UnsupportedFeatureError(f"dtype {self.tf_name} has no numpy equivalent here")
        return found

    @property
    def itemsize(self) -> int:
        """Bytes per element on disk (0 for variable-length strings)."""
        found = _ITEMSIZE.get(self)
        if found is None:
            raise UnsupportedFeatureError(f"dtype {self.tf_name} has no numpy equivalent here")
        return found

    def __str__(self) -> str:
        return self.tf_name


_NUMPY: dict[DType, np.dtype] = {
    DType.FLOAT32: np.dtype("<f4"),
    DType.FLOAT64: np.dtype("<f8"),
    DType.INT32: np.dtype("<i4"),
    DType.UINT8: np.dtype("u1"),
    DType.INT16: np.dtype("<i2"),
    DType.INT8: np.dtype("i1"),
    DType.STRING: np.dtype(object),
    DType.COMPLEX64: np.dtype("<c8"),
    DType.INT64: np.dtype("<i8"),
    DType.BOOL: np.dtype("?"),
    DType.UINT16: np.dtype("<u2"),
    DType.COMPLEX128: np.dtype("<c16"),
    DType.FLOAT16: np.dtype("<f2"),
    DType.UINT32: np.dtype("<u4"),
    DType.UINT64: np.dtype("<u8"),
}
_ML_DTYPES = {  # DType -> the ml_dtypes type name, loaded by _load_ml_dtypes
    DType.BFLOAT16: "bfloat16",
    DType.FLOAT8_E5M2: "float8_e5m2",
    DType.FLOAT8_E4M3FN: "float8_e4m3fn",
    DType.FLOAT8_E4M3FNUZ: "float8_e4m3fnuz",
    DType.FLOAT8_E4M3B11FNUZ: "float8_e4m3b11fnuz",
    DType.FLOAT8_E5M2FNUZ: "float8_e5m2fnuz",
    DType.INT4: "int4",
    DType.UINT4: "uint4",
    DType.INT2: "int2",
    DType.UINT2: "uint2",
    DType.FLOAT4_E2M1FN: "float4_e2m1fn",
}

# Quantized types are stored like their integer twins; we read them as such.
_NUMPY.update(
    {
        DType.QINT8: np.dtype("i1"),
        DType.QUINT8: np.dtype("u1"),
        DType.QINT16: np.dtype("<i2"),
        DType.QUINT16: np.dtype("<u2"),
        DType.QINT32: np.dtype("<i4"),
    }
)

_ITEMSIZE: dict[DType, int] = {dt: np_dtype.itemsize for dt, np_dtype in _NUMPY.items()}
_ITEMSIZE.update({DType.STRING: 0, DType.BFLOAT16: 2, **dict.fromkeys(list(_ML_DTYPES)[1:], 1)})

_FROM_NUMPY: dict[np.dtype, DType] = {}


def _register(items: dict[DType, np.dtype]) -> None:
    for dt, np_dtype in items.items():
        if dt.name.startswith("Q"):
            continue
        key = np_dtype.newbyteorder("<") if np_dtype.kind not in "OV" else np_dtype
        _FROM_NUMPY.setdefault(key, dt)


_register(_NUMPY)


def _load_ml_dtypes() -> None:
    """Import ``ml_dtypes`` and add its types to the tables (idempotent)."""
    if DType.BFLOAT16 in _NUMPY:
        return
    import ml_dtypes

    found = {
        dt: np.dtype(getattr(ml_dtypes, name))
        for dt, name in _ML_DTYPES.items()
        if hasattr(ml_dtypes, name)
    }  # fmt: skip (int2/float4 need ml_dtypes >= 0.5)
    _NUMPY.update(found)
    _register(found)


def dtype_from_enum(value: int, *, where: str = "") -> DType:
    """The ``DType`` for an enum number read from a file; reference dtypes
    (``+100``) are accepted as their value types, as TensorFlow does."""
    if REF_OFFSET < value < 2 * REF_OFFSET:
        value -= REF_OFFSET
    try:
        return DType(value)
    except ValueError:
        raise UnsupportedFeatureError(f"{where}unknown dtype enum {value}") from None


def dtype_from_numpy(dtype: np.dtype | type, *, where: str = "") -> DType:
    """The ``DType`` a numpy array of ``dtype`` is stored as."""
    dt = np.dtype(dtype)
    if dt.kind in "SUO":
        return DType.STRING
    if dt.byteorder == ">":
        dt = dt.newbyteorder("<")
    found = _FROM_NUMPY.get(dt)
    if found is None and "ml_dtypes" in sys.modules:  # an ml_dtypes array: its types exist
        _load_ml_dtypes()
        found = _FROM_NUMPY.get(dt)
    if found is None:
        raise UnsupportedFeatureError(f"{where}numpy dtype {dt} has no checkpoint dtype")
    return found
