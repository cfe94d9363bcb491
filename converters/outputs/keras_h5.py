"""``KerasWeightsWriter``: a Keras 3 ``.weights.h5`` file, in bounded memory.

The file is what ``model.save_weights`` writes (``keras_layout`` says which
groups and datasets): for each saveable an HDF5 group ``<path>/vars`` with
its ``name`` attribute, and contiguous, uncompressed datasets ``"0"``, ``"1"``
holding its variables. ``model.load_weights(path)`` reads it on every Keras 3
backend without this package.

A dataset is created at its full shape and filled in slices along its first
axis (``add_rows``), so a tensor never has to be in memory whole. Lifecycle
as ``BundleWriter``: the file is written under a temporary name beside the
destination and renamed over it by ``finish()`` (after fsync); ``abandon()``
(or an exception inside ``with``) removes it, so a failed conversion leaves
nothing under the final name. Nothing here knows about checkpoints or models:
a keras-hub preset writes its ``model.weights.h5`` with the same class.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from legacy_saver.bundle.fileio import fsync_dir
from legacy_saver.bundle.naming import temp_path
from legacy_saver.errors import CheckpointExistsError, UnsupportedFeatureError

WEIGHTS_SUFFIX = ".weights.h5"
# h5py writes a slice straight from the numpy buffer it is given; a few MiB
# per write keeps the writer's memory flat without costing speed.
ROW_CHUNK_BYTES = 8 << 20
_NUMERIC_KINDS = "biufc"


class KerasWeightsWriter:
    """Write one ``.weights.h5`` file. Use as a context manager::

    with KerasWeightsWriter("out.weights.h5") as w:
        w.group("layers/dense", {"name": "dense"})
        w.add("layers/dense", "0", kernel)
        w.add_rows("layers/dense", "1", shape, "float32", row_chunks)
    # finished (renamed into place) on a clean exit, abandoned on an exception
    """

    def __init__(
        self, path: str | os.PathLike[str], *, overwrite: bool = False, fsync: bool = True
    ) -> None:
        import h5py

        self.path = os.fspath(path)
        if os.path.lexists(self.path) and not overwrite:
            raise CheckpointExistsError(
                f"{self.path} already exists; pass overwrite=True to replace it"
            )
        if os.path.isdir(self.path):
            raise CheckpointExistsError(f"{self.path} is a directory, not a weights file")
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.fsync = fsync
        self.temp = temp_path(self.path)
        self._file: Any = h5py.File(self.temp, "w-")  # exclusive: never an old file
        self._groups: dict[str, Any] = {}
        self.bytes_written = 0
        self._done = False

    # -- structure ---------------------------------------------------------
    def group(self, path: str, metadata: Mapping[str, str] | None = None) -> None:
        """Create ``<path>/vars`` (``vars`` at the root for ``path == ""``)."""
        vars_path = f"{path}/vars" if path else "vars"
        if vars_path in self._groups:
            return
        group = self._file.require_group(vars_path)
        for key, value in (metadata or {}).items():
            group.attrs[key] = value
        self._groups[vars_path] = group

    def _vars(self, path: str) -> Any:
        vars_path = f"{path}/vars" if path else "vars"
        if vars_path not in self._groups:
            self.group(path)
        return self._groups[vars_path]

    # -- data --------------------------------------------------------------
    def add(self, path: str, key: str, value: np.ndarray) -> None:
        """Write ``value`` whole as dataset ``<path>/vars/<key>``."""
        value = np.asarray(value)
        _check_dtype(value.dtype, f"{path}/vars/{key}")
        self._vars(path).create_dataset(key, data=value)
        self.bytes_written += int(value.nbytes)

    def add_rows(
        self,
        path: str,
        key: str,
        shape: tuple[int, ...],
        dtype: str | np.dtype[Any],
        rows: Iterable[np.ndarray],
    ) -> None:
        """Create ``<path>/vars/<key>`` at ``shape`` and fill it from ``rows``:
        arrays of shape ``(n, *shape[1:])`` whose ``n`` add up to ``shape[0]``."""
        dt = np.dtype(dtype)
        where = f"{path}/vars/{key}"
        _check_dtype(dt, where)
        dataset = self._vars(path).create_dataset(key, shape=shape, dtype=dt)
        at = 0
        for chunk in rows:
            n = int(chunk.shape[0]) if chunk.ndim else 1
            if at + n > (shape[0] if shape else 1):
                raise ValueError(f"{where}: more rows than its shape {list(shape)} holds")
            if shape:
                dataset[at : at + n] = chunk
            else:
                dataset[()] = chunk
            at += n
            self.bytes_written += int(chunk.nbytes)
        if at != (shape[0] if shape else 1):
            raise ValueError(f"{where}: got {at} rows, its shape {list(shape)} needs {shape[0]}")

    @staticmethod
    def rows_per_chunk(shape: tuple[int, ...], itemsize: int) -> int:
        """How many rows of ``shape`` make about ``ROW_CHUNK_BYTES``."""
        row = int(np.prod(shape[1:], dtype=np.int64)) * itemsize if shape else itemsize
        return max(1, ROW_CHUNK_BYTES // max(row, 1))

    # -- lifecycle ---------------------------------------------------------
    def finish(self) -> None:
        """Close, fsync and rename into place."""
        if self._done:
            return
        self._file.close()
        if self.fsync:
            fd = os.open(self.temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(self.temp, self.path)
        self._done = True
        if self.fsync:
            fsync_dir(os.path.dirname(self.path))

    def abandon(self) -> None:
        """Close and remove the temporary file; nothing appears at ``path``."""
        if self._done:
            return
        self._done = True
        try:
            self._file.close()
        finally:
            if os.path.exists(self.temp):
                os.remove(self.temp)

    def __enter__(self) -> KerasWeightsWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abandon()


def _check_dtype(dtype: np.dtype[Any], where: str) -> None:
    if dtype.kind not in _NUMERIC_KINDS:
        raise UnsupportedFeatureError(
            f"{where}: dtype {dtype} cannot be stored in a Keras weights file "
            "(numbers and booleans only)"
        )
