"""Bit rot: flips, truncations and appended junk on every file of a checkpoint.

Every mutation must end in one of two ways when the checkpoint is opened and
every tensor read: a ``CheckpointError`` naming the mutated file (and the key,
for tensor reads), or values bitwise identical to the original ("benign": the
mutated bytes are never read). Benign outcomes are tallied by region of the
file so that RELIABILITY.md can list and explain each class.
``scripts/bitrot.py`` runs the same engine with a larger budget.
"""

from __future__ import annotations

import pytest

from tests.helpers.bitrot import (
    index_regions,
    run_bitrot,
)
from tests.helpers.cases import write_every_dtype

BENIGN_INDEX_REGIONS = {
    "footer: metaindex handle",  # the metaindex block is never read (TF reads no filter block)
    "footer: padding",  # zero fill between the handles and the magic number
    # only the continuation bit of the handle's last byte: the next byte is zero
    # padding, so the (overlong) varint decodes to the same value
    "footer: index handle",
    "metaindex block",
    "metaindex block trailer: type byte",
    "metaindex block trailer: crc",
}


@pytest.mark.slow
def test_bitrot_every_index_bit_and_3000_data_bits(tmp_path):
    tally = run_bitrot(str(tmp_path), data_flips=3000, seed=7)
    benign = {k: v for k, v in tally.items() if " benign" in k}
    # every data-shard flip is caught by the entry crc (or the string-length crc)
    assert tally["flip data detected: tensor bytes"] == 3000
    for key in benign:
        kind, _, region = key.partition(": ")
        if kind == "flip inde benign":
            assert region in BENIGN_INDEX_REGIONS, key
        else:  # trailing junk after the last tensor of a shard is never read
            assert kind == "append data benign", key
    # the index: every truncation detected, any appended junk breaks the footer
    assert tally["flip inde benign: footer: index handle"] <= 1
    assert "truncate inde benign" not in tally and "append inde benign" not in tally
    assert "truncate data benign" not in tally
    assert sum(tally.values()) >= 3000 + 8 * 700


def test_index_regions_cover_every_byte(tmp_path):
    prefix = str(tmp_path / "all")
    write_every_dtype(prefix)
    with open(prefix + ".index", "rb") as f:
        regions = index_regions(f.read())
    assert "unaccounted" not in regions
    assert regions[-1] == "footer: magic"
