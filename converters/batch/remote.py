"""One conversion whose source or destination may be an fsspec URL.

The converters' executor reads and writes local files, so a remote source is
first downloaded (its index and data shards: a conversion reads every byte
anyway) into a local temporary directory, and a remote destination is written
there and uploaded with fsspec ``put``, the ``.index`` last (see
``transfer``). ``inspect``, ``diff`` and ``verify`` need none of this: the
bundle reader fetches the index and the byte ranges it needs.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile

from legacy_saver.bundle.storage import storage_for
from legacy_saver.bundle.writer import refuse_existing
from legacy_saver.errors import CheckpointExistsError

from ..options import ConversionOptions, TargetFormat
from ..report import ConversionReport
from . import transfer

TARGETS = tuple(t.value for t in TargetFormat)


def convert_any(src: str, dst: str, options: ConversionOptions) -> ConversionReport:
    """Run ``converters.api.convert(src, dst, options)`` with either side local or a URL.

    ``options`` reaches the converter unchanged (a remote source cannot be linked to:
    ``link`` is turned off for it, and the report says so).

    Returns:
        The converter's ``ConversionReport`` (``src``/``dst`` as given).
    """
    from converters import api

    if not transfer.is_url(src) and not transfer.is_url(dst):
        return api.convert(src, transfer.local_path(dst), options)
    if transfer.is_url(src) and transfer.is_url(dst) and src.rstrip("/") == dst.rstrip("/"):
        raise CheckpointExistsError(f"destination {dst} is the source checkpoint")
    if transfer.is_url(src) and transfer.is_url(dst) and not options.dry_run:
        streamed = _stream(src, dst, options)
        if streamed is not None:
            return streamed
    with tempfile.TemporaryDirectory(prefix="legacy-ckpt-") as tmp:
        local_src = src
        notes: tuple[str, ...] = ()
        if transfer.is_url(src):
            if options.link:
                options = options.but(link=False)
                notes = ("link=True not possible (the source is remote); copied instead",)
            local_src = _fetch_checkpoint(src, os.path.join(tmp, "src"))
        if not transfer.is_url(dst):
            report = api.convert(local_src, transfer.local_path(dst), options)
            return dataclasses.replace(report, src=src, notes=report.notes + notes)
        fs, remote = transfer.fs_for(dst)
        if not options.overwrite:
            storage, prefix = storage_for(dst)
            refuse_existing(prefix, storage)  # BundleWriter's rule and wording
        local = os.path.join(tmp, "dst", os.path.basename(remote.rstrip("/")) or "ckpt")
        report = api.convert(local_src, local, options)
        if not options.dry_run:
            outputs = transfer.checkpoint_outputs(local)
            transfer.upload(fs, [(p, remote + p[len(local) :]) for p in outputs])
    return dataclasses.replace(report, src=src, dst=dst, notes=report.notes + notes)


def _stream(src: str, dst: str, options: ConversionOptions) -> ConversionReport | None:
    """URL to URL without a local copy (``stream``); None when this conversion needs
    one (a target model, a V1 source...)."""
    import time

    from legacy_saver.bundle import load_checkpoint

    from .stream import NotStreamable, stream_item

    if options.target is not None or options.link:
        return None
    start = time.perf_counter()
    if not options.overwrite:
        storage, prefix = storage_for(dst)
        refuse_existing(prefix, storage)  # BundleWriter's rule and wording
    kind = {TargetFormat.TF2: "tf1_to_tf2", TargetFormat.TF1: "tf2_to_tf1"}.get(options.to)
    if kind is None:
        return None
    with load_checkpoint(src) as reader:  # refuses the wrong kind of source as convert does
        from converters import api

        api.plan(reader, options)
        notes = tuple(reader.notes)
    try:
        report = stream_item(src, dst, kind, options)
    except NotStreamable:
        return None
    return ConversionReport.from_plan(
        kind, src, dst, report["plan"], bytes_copied=report["bytes_copied"],
        bytes_reencoded=report["bytes_reencoded"], seconds=time.perf_counter() - start,
        notes=notes + ("streamed between the stores (no local copy)",),
    )  # fmt: skip


def _fetch_checkpoint(url: str, directory: str) -> str:
    """Download the checkpoint at ``url`` into ``directory``; its local prefix."""
    from legacy_saver.bundle import load_checkpoint

    with load_checkpoint(url) as reader:
        files = [f.path for f in reader.files()]
        prefix = reader.prefix
    fs, _ = transfer.fs_for(url)
    os.makedirs(directory, exist_ok=True)
    base = os.path.dirname(prefix)
    for path in files:
        fs.get_file(path, os.path.join(directory, os.path.relpath(path, base)))
    return os.path.join(directory, os.path.basename(prefix))
