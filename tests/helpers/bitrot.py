"""The bit-rot engine: flips, truncations and appended junk on every file of a checkpoint.

Used by ``tests/test_reliability_bitrot.py`` and ``scripts/bitrot.py``.
"""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter

from legacy_saver.bundle.block import iter_block
from legacy_saver.bundle.table_format import (
    BLOCK_TRAILER_BYTES,
    FOOTER_BYTES,
    BlockHandle,
    Footer,
)
from tests.helpers.cases import check_outcome, flip_bit, write_every_dtype


def index_regions(data: bytes) -> list[str]:
    """Name the region of every byte of a well-formed index file."""
    regions = ["unaccounted"] * len(data)
    footer_at = len(data) - FOOTER_BYTES
    footer = Footer.decode(data[footer_at:])
    _, handles_end = BlockHandle.decode(data, footer_at)
    _, handles_end = BlockHandle.decode(data, handles_end)
    meta_end = footer_at + len(footer.metaindex.encode())
    for i in range(footer_at, len(data)):
        if i < meta_end:
            regions[i] = "footer: metaindex handle"
        elif i < handles_end:
            regions[i] = "footer: index handle"
        elif i < len(data) - 8:
            regions[i] = "footer: padding"
        else:
            regions[i] = "footer: magic"

    def mark(handle: BlockHandle, what: str) -> None:
        for i in range(handle.offset, handle.offset + handle.size):
            regions[i] = what
        regions[handle.offset + handle.size] = f"{what} trailer: type byte"
        for i in range(
            handle.offset + handle.size + 1, handle.offset + handle.size + BLOCK_TRAILER_BYTES
        ):
            regions[i] = f"{what} trailer: crc"

    mark(footer.metaindex, "metaindex block")
    mark(footer.index, "index block")
    index = data[footer.index.offset : footer.index.offset + footer.index.size]
    for _, value in iter_block(index):
        mark(BlockHandle.decode(value)[0], "data block")
    return regions


class Workspace:
    """A pristine copy of the checkpoint and a scratch copy to mutate."""

    def __init__(self, root: str, seed: int = 0) -> None:
        self.pristine = os.path.join(root, "pristine")
        self.scratch = os.path.join(root, "scratch")
        os.makedirs(self.pristine)
        self.oracle = write_every_dtype(os.path.join(self.pristine, "all"), seed)
        self.files = sorted(os.listdir(self.pristine))
        shutil.copytree(self.pristine, self.scratch)
        self.prefix = os.path.join(self.scratch, "all")

    def restore(self, name: str) -> None:
        shutil.copyfile(os.path.join(self.pristine, name), os.path.join(self.scratch, name))

    def size(self, name: str) -> int:
        return os.path.getsize(os.path.join(self.pristine, name))

    def path(self, name: str) -> str:
        return os.path.join(self.scratch, name)


def flip_bits(ws: Workspace, name: str, bits: list[int], tally: Counter[str]) -> None:
    regions = None
    if name.endswith(".index"):
        with open(os.path.join(ws.pristine, name), "rb") as f:
            regions = index_regions(f.read())
    for bit in bits:
        flip_bit(ws.path(name), bit)
        outcome = check_outcome(ws.prefix, ws.oracle, ws.path(name))
        region = regions[bit // 8] if regions else "tensor bytes"
        tally[f"flip {name.split('.')[-1][:4]} {outcome}: {region}"] += 1
        flip_bit(ws.path(name), bit)  # undo


def truncate_all(ws: Workspace, name: str, lengths: list[int], tally: Counter[str]) -> None:
    for n in lengths:
        with open(ws.path(name), "r+b") as f:
            f.truncate(n)
        outcome = check_outcome(ws.prefix, ws.oracle, ws.path(name))
        tally[f"truncate {name.split('.')[-1][:4]} {outcome}"] += 1
        ws.restore(name)


def append_junk(
    ws: Workspace, name: str, rng: random.Random, tally: Counter[str], times: int
) -> None:
    for _ in range(times):
        with open(ws.path(name), "ab") as f:
            f.write(rng.randbytes(rng.randint(1, 100)))
        tally[
            f"append {name.split('.')[-1][:4]} {check_outcome(ws.prefix, ws.oracle, ws.path(name))}"
        ] += 1
        ws.restore(name)


def run_bitrot(root: str, *, data_flips: int | None, seed: int = 0, junk: int = 20) -> Counter[str]:
    """Every bit of the ``.index``, ``data_flips`` random bits over the data
    shards (None: every bit), every truncation length, appended junk."""
    ws = Workspace(root, seed)
    rng = random.Random(seed)
    tally: Counter[str] = Counter()
    shards = [n for n in ws.files if ".data-" in n]
    total_bits = sum(8 * ws.size(n) for n in shards)
    chosen = (
        range(total_bits)
        if data_flips is None
        else sorted(rng.sample(range(total_bits), data_flips))
    )
    start = 0
    for name in shards:
        end = start + 8 * ws.size(name)
        flip_bits(ws, name, [b - start for b in chosen if start <= b < end], tally)
        start = end
    for name in ws.files:
        if name.endswith(".index"):
            flip_bits(ws, name, list(range(8 * ws.size(name))), tally)
        truncate_all(ws, name, list(range(ws.size(name))), tally)
        append_junk(ws, name, rng, tally, junk)
    return tally
