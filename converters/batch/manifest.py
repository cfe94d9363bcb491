"""The batch manifest: what was converted, from which bytes, with what result.

``DST_ROOT/legacy-ckpt-manifest.json`` maps each source checkpoint (its prefix
relative to SRC_ROOT) to::

    {"fingerprint": {file: [size, version, content]}, "options": "<digest>",
     "status": "done" | "failed" | "partial" | "refused", "owned": bool,
     "reason": str | null, "action": "tf1_to_tf2" | ... | "copy", "bytes": int,
     "seconds": float, "outputs": [relative paths], "report": {...} | null}

plus ``"state_files"``: the state files this batch wrote (a rerun may replace
those, and no others).

``owned`` says the destination is this batch's to replace: it is decided
*before* anything is written — true when nothing was there (or ``--overwrite``
was given), false when a destination this batch did not write was found, which
is then ``refused`` without being touched, on this run and every later one
until ``--overwrite``. ``partial`` is written for every item before its work
starts; ``done``, ``failed`` or ``refused`` replace it when the item ends.
(Entries of older manifests without ``owned`` count as owned when ``done`` or
``partial``.) The file is rewritten after every
item, atomically (a temporary file renamed over it locally; a single object PUT,
which stores are atomic about, on fsspec URLs), so a batch killed at any moment
leaves the last complete manifest. Rewriting is O(items), so when a rewrite
gets slow (beyond ``THROTTLE_ITEMS`` items) ``save`` skips rewrites until
ten times its last cost has passed: an item finished but not yet recorded is
still ``partial`` and is simply redone by the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

from legacy_saver.bundle.fileio import write_bytes_atomic

from .discover import MANIFEST_NAME
from .walk import is_local_fs, read_regular

SCHEMA = "legacy-ckpt/manifest/1"
DONE, FAILED, PARTIAL, REFUSED = "done", "failed", "partial", "refused"
THROTTLE_ITEMS = 5000  # larger manifests (~2 MB) are not rewritten after every item


def options_digest(options: dict[str, Any]) -> str:
    """A short digest of the conversion options: changed options redo items."""
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Manifest:
    """The manifest of one DST_ROOT (see the module docstring)."""

    fs: Any
    root: str
    src_root: str = ""
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    state_files: list[str] = field(default_factory=list)
    _last_save: float = field(default=0.0, repr=False)
    _save_cost: float = field(default=0.0, repr=False)
    _dirty: bool = field(default=False, repr=False)

    @property
    def path(self) -> str:
        return posixpath.join(self.root.rstrip("/"), MANIFEST_NAME)

    @classmethod
    def load(cls, fs: Any, root: str) -> Manifest:
        """Read the manifest in ``root``; an empty one when there is none.

        Raises:
            ValueError: the file exists but is not a manifest of this schema.
        """
        manifest = cls(fs, root)
        if not fs.exists(manifest.path):
            return manifest
        try:
            raw = read_regular(manifest.path) if _is_local(fs) else fs.cat_file(manifest.path)
            data = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"{manifest.path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError(f"{manifest.path} is not a {SCHEMA} manifest")
        manifest.src_root = str(data.get("src_root", ""))
        manifest.items = dict(data.get("items", {}))
        manifest.state_files = [str(s) for s in data.get("state_files", [])]
        return manifest

    def owns(self, rel: str) -> bool:
        """Whether this batch may replace ``rel``'s destination (see ``owned``)."""
        entry = self.items.get(rel)
        if not entry:
            return False
        if "owned" in entry:
            return bool(entry["owned"])
        return entry.get("status") in (DONE, PARTIAL)

    def is_current(self, rel: str, fingerprint: dict[str, Any], options: str) -> bool:
        """True when ``rel`` is done from these very bytes with these options."""
        entry = self.items.get(rel)
        return bool(
            entry
            and entry.get("status") == DONE
            and entry.get("fingerprint") == fingerprint
            and entry.get("options") == options
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "src_root": self.src_root,
            "items": dict(sorted(self.items.items())),
            "state_files": sorted(set(self.state_files)),
        }

    def save(self, *, force: bool = True) -> None:
        """Write the manifest atomically (see the module docstring); with
        ``force=False`` only when the last write's cost allows it."""
        now = time.perf_counter()
        big = len(self.items) > THROTTLE_ITEMS
        if not force and big and now - self._last_save < 10 * self._save_cost:
            self._dirty = True
            return
        data = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()
        write_atomic(self.fs, self.path, data)
        self._last_save = time.perf_counter()
        self._save_cost, self._dirty = self._last_save - now, False

    def flush(self) -> None:
        """Write the manifest if a throttled ``save`` left changes unwritten."""
        if self._dirty:
            self.save()


def write_atomic(fs: Any, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file,
    never a torn one: temp file + fsync + rename locally, one PUT remotely."""
    if _is_local(fs):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        write_bytes_atomic(path, data)
    else:
        fs.pipe_file(path, data)


def _is_local(fs: Any) -> bool:
    return is_local_fs(fs)
