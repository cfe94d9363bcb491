"""TensorFlow's checkpoint metrics, recorded as stock's Saver records them.

Stock ``Saver.save``/``restore`` feed TensorFlow's internal metrics registry (the
``saver_v1`` cell): write and read durations, training time saved (time between the end of
one write and the end of the next) and checkpoint sizes. Monitoring built on those keeps
working when ``legacy_saver.Saver`` replaces it. The registry is TensorFlow-private
(``tensorflow.python.saved_model.pywrap_saved_model.metrics``); if a TensorFlow lacks it,
nothing is recorded.
"""

from __future__ import annotations

import threading
import time

try:
    from tensorflow.python.saved_model.pywrap_saved_model import metrics as _metrics
except ImportError:  # pragma: no cover - a TensorFlow without the registry
    _metrics = None

from ..bundle import files
from ..bundle.naming import data_path, parse_data_name
from ..bundle.publish import live_shard_count
from ..bundle.storage import LOCAL

SAVER_LABEL = "saver_v1"  # stock's api_label for tf.compat.v1.train.Saver
_LOCK = threading.Lock()
_END_OF_LAST_WRITE: list[float] = []  # when the last write ended (first Saver: its birth)


def started() -> None:
    """A Saver was made: training time saved counts from the first one."""
    with _LOCK:
        if not _END_OF_LAST_WRITE:
            _END_OF_LAST_WRITE.append(time.time())


def _microseconds(start: float, end: float) -> int:
    return max(0, round((end - start) * 1e6))


def wrote(start: float, prefix: str, version: int, meta_graph_suffix: str = "meta") -> None:
    """A save that began at ``start`` wrote ``prefix``."""
    if _metrics is None:
        return
    end = time.time()
    _metrics.AddCheckpointWriteDuration(
        api_label=SAVER_LABEL, microseconds=_microseconds(start, end)
    )
    with _LOCK:
        last = _END_OF_LAST_WRITE[0] if _END_OF_LAST_WRITE else end
        _metrics.AddTrainingTimeSaved(api_label=SAVER_LABEL, microseconds=_microseconds(last, end))
        _END_OF_LAST_WRITE[:] = [end]
    _metrics.RecordCheckpointSize(
        api_label=SAVER_LABEL, filesize=size_of(prefix, version, meta_graph_suffix)
    )


def size_of(prefix: str, version: int, meta_graph_suffix: str = "meta") -> int:
    """The size of the checkpoint ``prefix`` as stock measures it (``CalculateFileSize``
    of each file, its unit), over its files as they are now: its ``.meta``, and the index
    and the data shards it uses (a re-saved prefix keeps the previous generation's data
    files until the next publish; ``bundle.publish``), or its V1 file(s)."""
    found = files.files_of(prefix, version, meta_graph_suffix)
    if version == 2:
        count = live_shard_count(LOCAL, prefix) or 0
        live = {data_path(prefix, i, count) for i in range(count)}
        found = [f for f in found if parse_data_name(f) is None or f in live]
    if _metrics is None:
        return 0
    return sum(int(_metrics.CalculateFileSize(f)) for f in found)


def read(start: float) -> None:
    """A restore that began at ``start`` finished."""
    if _metrics is not None:
        _metrics.AddCheckpointReadDuration(
            api_label=SAVER_LABEL, microseconds=_microseconds(start, time.time())
        )
