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
from typing import Any

from legacy_saver.errors import CheckpointError

from . import transfer

TARGETS = ("tf2", "tf1", "v2")


def convert_any(to: str, src: str, dst: str, *, overwrite: bool = False, **options: Any) -> Any:
    """Run ``tf1_to_tf2`` (``to="tf2"``), ``tf2_to_tf1`` (``"tf1"``) or
    ``v1_to_v2`` (``"v2"``) from ``src`` to ``dst``, either of them local or a URL.

    Args:
        to: the target format.
        src: source checkpoint path or URL.
        dst: destination prefix or URL.
        overwrite: replace an existing destination.
        **options: passed to the converter (``rules``, ``optimizer``, ``link``,
            ``dry_run``, ``target``, ``partial`` for tf2; ``rules``, ``optimizer``,
            ``dry_run`` for tf1; none for v2). Falsy options are left out.

    Returns:
        The converter's ``ConversionReport`` (``dst`` as given).
    """
    from converters import api

    if to not in TARGETS:
        raise ValueError(f"unknown target format {to!r}: expected one of {', '.join(TARGETS)}")
    func = {"tf2": api.tf1_to_tf2, "tf1": api.tf2_to_tf1, "v2": api.v1_to_v2}[to]
    kwargs = {k: v for k, v in options.items() if v not in (None, False, "keep")}
    if not transfer.is_url(src) and not transfer.is_url(dst):
        return func(src, transfer.local_path(dst), overwrite=overwrite, **kwargs)
    with tempfile.TemporaryDirectory(prefix="legacy-ckpt-") as tmp:
        local_src = src
        if transfer.is_url(src):
            kwargs.pop("link", None)  # nothing to link to across storage
            local_src = _fetch_checkpoint(src, os.path.join(tmp, "src"))
        if not transfer.is_url(dst):
            report = func(local_src, transfer.local_path(dst), overwrite=overwrite, **kwargs)
            return dataclasses.replace(report, src=src)
        fs, remote = transfer.fs_for(dst)
        if not overwrite and fs.exists(remote + ".index"):
            raise CheckpointError(f"{dst}.index already exists; pass --overwrite to replace it")
        local = os.path.join(tmp, "dst", os.path.basename(remote.rstrip("/")) or "ckpt")
        report = func(local_src, local, overwrite=True, **kwargs)
        if not kwargs.get("dry_run"):
            outputs = transfer.checkpoint_outputs(local)
            transfer.upload(fs, [(p, remote + p[len(local) :]) for p in outputs])
    return dataclasses.replace(report, src=src, dst=dst)


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
