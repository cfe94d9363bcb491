"""Fake checkpoint files whose names, not contents, are what a test needs."""

from __future__ import annotations

from pathlib import Path


def fake_v2(prefix: Path | str, shards: int = 1) -> str:
    """Fake V2 checkpoint files (only their names matter here); returns the prefix."""
    Path(f"{prefix}.index").write_bytes(b"i")
    for i in range(shards):
        Path(f"{prefix}.data-{i:05d}-of-{shards:05d}").write_bytes(b"d")
    return str(prefix)


def state_fields(s) -> tuple:
    """The content of a CheckpointState, ours or TensorFlow's, comparable."""
    return (
        s.model_checkpoint_path,
        list(s.all_model_checkpoint_paths),
        list(s.all_model_checkpoint_timestamps),
        s.last_preserved_timestamp,
    )
