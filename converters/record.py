"""The plan record: what a conversion did, written beside its output.

``convert`` writes ``DST.plan.json`` (``naming.plan_path``) after the
checkpoint itself, so ``verify SRC DST`` can check *any* conversion — a
target-model one with rules, reshapes and casts included — without being
told how it was made. The record is small JSON::

    {"schema": "legacy-ckpt/plan/1", "kind": "tf1_to_tf2",
     "index_sha256": "<sha256 of DST.index>",
     "actions": [{"src": ..., "dst": ..., "transform": {...}, "rule": ..., "how": ...}],
     (a transform holds any of "slice", "transpose", "reshape", "cast")
     "dropped": [{"src": ..., "reason": ...}],
     "extra": ["<keys written from the target, not from the source>"],
     "object_graph_sha256": "<sha256 of the object graph written>" | null}

No paths are recorded (a staged remote conversion writes the same record as
a local one). ``index_sha256`` ties the record to the checkpoint it describes: a record
left by an older conversion to the same prefix no longer matches, and
``read_plan_record`` reports it as stale instead of trusting it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from legacy_saver.bundle.fileio import read_regular, write_bytes_atomic
from legacy_saver.bundle.naming import index_path, plan_path
from legacy_saver.bundle.storage import Storage, storage_for
from legacy_saver.errors import CorruptCheckpointError

from .plan import Action, Dropped, Plan, Transform
from .transforms import parse_slice

SCHEMA = "legacy-ckpt/plan/1"
MAX_RECORD_BYTES = 1 << 30  # a plan of a million tensors is ~200 MB of JSON


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _transform(t: Transform) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if t.transpose is not None:
        out["transpose"] = list(t.transpose)
    if t.reshape is not None:
        out["reshape"] = list(t.reshape)
    if t.cast is not None:
        out["cast"] = t.cast
    if t.slice is not None:
        out["slice"] = t.slice
    return out


def encode_plan_record(kind: str, plan: Plan, index_bytes: bytes) -> bytes:
    """The record's bytes for ``plan`` (deterministic)."""
    doc = {
        "schema": SCHEMA,
        "kind": kind,
        "index_sha256": _sha256(index_bytes),
        "actions": [
            {
                "src": a.src,
                "dst": a.dst,
                "transform": _transform(a.transform),
                "rule": a.rule,
                "how": a.how,
            }
            for a in plan.actions
        ],  # fmt: skip
        "dropped": [{"src": d.src, "reason": d.reason} for d in plan.dropped],
        "extra": sorted(plan.extra),
        "object_graph_sha256": (
            _sha256(plan.object_graph) if plan.object_graph is not None else None
        ),
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")


def write_plan_record(dst: str, kind: str, plan: Plan, *, fsync: bool = True) -> str:
    """Write ``DST.plan.json`` for the finished checkpoint ``dst``; returns its path."""
    with open(index_path(dst), "rb") as f:
        index_bytes = f.read()
    path = plan_path(dst)
    write_bytes_atomic(path, encode_plan_record(kind, plan, index_bytes), fsync=fsync)
    return path


@dataclass(frozen=True)
class PlanRecord:
    """A decoded record: the plan (object graph as its hash) and what it says about itself."""

    kind: str
    plan: Plan
    object_graph_sha256: str | None
    stale: bool  # the record was written for another checkpoint at this prefix


def _decode_transform(raw: Any, where: str) -> Transform:
    if not isinstance(raw, dict) or set(raw) - {"transpose", "reshape", "cast", "slice"}:
        raise CorruptCheckpointError(f"{where}: bad transform {raw!r}")
    try:
        if "slice" in raw:
            parse_slice(raw["slice"])  # the record is input: a malformed slice is refused here
        return Transform(
            tuple(int(v) for v in raw["transpose"]) if "transpose" in raw else None,
            tuple(int(v) for v in raw["reshape"]) if "reshape" in raw else None,
            str(raw["cast"]) if "cast" in raw else None,
            str(raw["slice"]) if "slice" in raw else None,
        )
    except (TypeError, ValueError):  # RuleError is a ValueError
        raise CorruptCheckpointError(f"{where}: bad transform {raw!r}") from None


def decode_plan_record(data: bytes, where: str, index_bytes: bytes | None) -> PlanRecord:
    """Parse a record (``where`` names it in errors); ``index_bytes`` of the
    checkpoint it sits beside decide ``stale``."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"{where} is not a plan record: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise CorruptCheckpointError(f"{where}: expected schema {SCHEMA!r}")
    try:
        actions = [
            Action(str(a["src"]), str(a["dst"]), _decode_transform(a["transform"], where),
                   a["rule"] if a["rule"] is None else str(a["rule"]), str(a["how"]))
            for a in doc["actions"]
        ]  # fmt: skip
        dropped = [Dropped(str(d["src"]), str(d["reason"])) for d in doc["dropped"]]
        extra: dict[str, object] = {str(k): None for k in doc["extra"]}
        graph_hash = doc["object_graph_sha256"]
        stale = index_bytes is None or doc["index_sha256"] != _sha256(index_bytes)
        kind = str(doc["kind"])
    except (KeyError, TypeError) as exc:
        raise CorruptCheckpointError(f"{where}: malformed plan record ({exc!r})") from None
    plan = Plan(actions=actions, dropped=dropped, extra=extra)
    return PlanRecord(kind, plan, graph_hash, stale)


def read_plan_record(dst: str, storage: Storage | None = None) -> PlanRecord | None:
    """The record beside checkpoint prefix ``dst``, None when there is none. ``dst`` is
    a local path or URL, or a path inside ``storage`` when that is given."""
    if storage is None:
        storage, prefix = storage_for(dst)
    else:
        prefix = dst
    path = plan_path(prefix)
    if not storage.exists(path):
        return None
    size = storage.size(path)
    if size > MAX_RECORD_BYTES:
        raise CorruptCheckpointError(f"{path} is {size} bytes; a plan record is at most "
                                     f"{MAX_RECORD_BYTES}")  # fmt: skip
    index = index_path(prefix)
    index_bytes = storage.read(index) if storage.exists(index) else None
    return decode_plan_record(storage.read(path), path, index_bytes)


def is_plan_record_file(path: str) -> bool:
    """True when the local file ``path`` is a regular file holding a plan record
    (what ``write_plan_record`` writes): the allowlist for replacing one."""
    try:
        decode_plan_record(read_regular(path, MAX_RECORD_BYTES), path, None)
    except (OSError, CorruptCheckpointError):
        return False
    return True


def object_graph_sha256(data: bytes) -> str:
    """The hash a record keeps of an object graph."""
    return _sha256(data)
