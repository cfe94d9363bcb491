"""What the ``bert``/``albert`` presets read besides the weights: their options, the
config json beside the checkpoint, and sizes that must agree wherever they are given.

The head count is in no shape; ALBERT's layer count neither (its layers share weights).
Both come from ``bert_config.json``/``albert_config.json`` beside the checkpoint, an
option, or (heads only) hidden/64, the size of every released google-research model.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from legacy_saver.errors import CheckpointError, UnsupportedFeatureError

HEAD_DIM = 64  # every released google-research/bert size: tiny 128/2 ... large 1024/16
Shapes = Mapping[str, tuple[int, ...]]
JsonConfig = dict[str, Any]  # a bert_config.json / albert_config.json, plus "_path"


@dataclass(frozen=True)
class TextOptions:
    """Options of the ``bert`` and ``albert`` presets.

    ``num_heads``/``num_layers`` override (and must agree with) the config json;
    ``config`` is its path (default: ``bert_config.json``/``albert_config.json`` beside
    the checkpoint); ``head="mlm"`` also converts the masked-LM head.
    """

    num_heads: int | None = None
    num_layers: int | None = None
    config: str | None = None
    head: str = "none"  # "none" | "mlm"

    def __post_init__(self) -> None:
        if self.head not in ("none", "mlm"):
            raise ValueError(f"head must be 'none' or 'mlm', not {self.head!r}")


def find_root(names: list[str], anchor: str, where: str) -> str:
    """The scope in front of ``anchor`` (``""``, ``"module/"``...); exactly one must exist."""
    roots = sorted({n[: -len(anchor)] for n in names if n.endswith(anchor)})
    roots = [r for r in roots if r == "" or r.endswith("/")]
    if len(roots) != 1:
        found = "none" if not roots else ", ".join(repr(r + anchor) for r in roots)
        raise CheckpointError(f"{where}: expected one {anchor!r} tensor, found {found}")
    return roots[0]


def read_config_json(path: str | None, directory: str, names: tuple[str, ...]) -> JsonConfig | None:
    """The json config at ``path``, or the first of ``names`` in ``directory``, or None."""
    candidates = [path] if path else [os.path.join(directory, n) for n in names]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            try:
                with open(candidate, encoding="utf-8") as f:
                    value = json.load(f)
            except (OSError, ValueError) as exc:
                raise CheckpointError(f"{candidate}: not a readable json config ({exc})") from None
            if not isinstance(value, dict):
                raise CheckpointError(f"{candidate}: expected a json object")
            value["_path"] = candidate
            return value
        if path:
            raise CheckpointError(f"{path}: config file not found")
    return None


def pick(
    name: str, from_shapes: int | None, json_cfg: JsonConfig | None, key: str, option: int | None
) -> int | None:
    """One size from the shapes, the json config and an option, which must agree."""
    values = {"the checkpoint's shapes": from_shapes, "the option": option}
    if json_cfg is not None and key in json_cfg:
        values[json_cfg["_path"]] = json_cfg[key]
    known = {k: v for k, v in values.items() if v is not None}
    if len(set(known.values())) > 1:
        said = ", ".join(f"{v} ({k})" for k, v in known.items())
        raise CheckpointError(f"{name} disagrees: {said}")
    return next(iter(known.values()), None)


def heads_for(
    hidden: int, json_cfg: JsonConfig | None, option: int | None, notes: list[str]
) -> int:
    heads = pick("num_attention_heads", None, json_cfg, "num_attention_heads", option)
    if heads is None:
        if hidden % HEAD_DIM:
            raise CheckpointError(
                f"the head count is not in the checkpoint and hidden size {hidden} is not a "
                f"multiple of {HEAD_DIM}: pass num_heads or put the config json beside it"
            )
        heads = hidden // HEAD_DIM
        notes.append(
            f"num_heads={heads} assumed (hidden {hidden} / {HEAD_DIM}, as every "
            "released size); pass num_heads or a config json if it differs"
        )
    if heads <= 0 or hidden % heads:
        raise CheckpointError(f"hidden size {hidden} is not divisible by {heads} heads")
    return heads


def check_activation(json_cfg: JsonConfig | None) -> None:
    act = (json_cfg or {}).get("hidden_act", "gelu")
    if act != "gelu":
        raise UnsupportedFeatureError(
            f"{json_cfg and json_cfg['_path']}: hidden_act {act!r}; keras_hub's encoder "
            "computes BERT's tanh-approximated gelu only"
        )


def count_indexed(names: list[str], pattern: str, where: str) -> int:
    """How many ``N`` the regex ``pattern`` (one group) captures; they must be 0..N-1."""
    regex = re.compile(pattern)
    found = sorted({int(m.group(1)) for n in names if (m := regex.match(n))})
    if found != list(range(len(found))):
        raise CheckpointError(f"{where}: {pattern} numbers {found} are not 0..{len(found) - 1}")
    return len(found)


def shape_of(shapes: Shapes, name: str, rank: int, where: str) -> tuple[int, ...]:
    if name not in shapes:
        raise CheckpointError(f"{where}: tensor {name!r} is missing")
    shape = tuple(shapes[name])
    if len(shape) != rank:
        raise CheckpointError(f"{where}: {name} has shape {list(shape)}, expected rank {rank}")
    return shape
