"""Shared by the safetensors tests: write a TF1 checkpoint, parse an export with the
library itself (the oracle)."""

from __future__ import annotations

import os

from legacy_saver.bundle import BundleWriter


def write_checkpoint(prefix: str, values: dict[str, object], shards: int = 1) -> None:
    with BundleWriter(prefix, num_shards=shards, fsync=False) as w:
        for i, (k, v) in enumerate(values.items()):
            w.add(k, v, shard=i % shards)


def library_tensors(path: str) -> dict[str, tuple[str, list[int], bytes]]:
    """Every tensor as the library itself parses it: (dtype code, shape, raw bytes)."""
    import safetensors

    with open(path, "rb") as f:
        return {k: (v["dtype"], v["shape"], bytes(v["data"]))
                for k, v in safetensors.deserialize(f.read())}  # fmt: skip


def leftovers(directory) -> list[str]:
    """The names in ``directory`` that belong to a safetensors export (or its temporaries)."""
    return sorted(p for p in os.listdir(directory) if "safetensors" in p)
