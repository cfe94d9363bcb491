"""Fake checkpoint files whose names, not contents, are what a test needs."""

from __future__ import annotations

from pathlib import Path

from legacy_saver.bundle.table_format import TABLE_MAGIC

# The least a file must be for ``remove_checkpoint`` to count it as a checkpoint's table
# (V2 index or V1 file): a 48-byte footer ending in the LevelDB magic. Not a valid table.
FAKE_TABLE = bytes(40) + TABLE_MAGIC.to_bytes(8, "little")


def fake_v2(prefix: Path | str, shards: int = 1) -> str:
    """Fake V2 checkpoint files (only their names matter here); returns the prefix."""
    Path(f"{prefix}.index").write_bytes(FAKE_TABLE)
    for i in range(shards):
        Path(f"{prefix}.data-{i:05d}-of-{shards:05d}").write_bytes(b"d")
    return str(prefix)


def fake_v1(path: Path | str) -> str:
    """A fake V1 checkpoint file (or shard)."""
    Path(path).write_bytes(FAKE_TABLE)
    return str(path)


def state_fields(s) -> tuple:
    """The content of a CheckpointState, ours or TensorFlow's, comparable."""
    return (
        s.model_checkpoint_path,
        list(s.all_model_checkpoint_paths),
        list(s.all_model_checkpoint_timestamps),
        s.last_preserved_timestamp,
    )
