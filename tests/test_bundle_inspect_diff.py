"""``inspect`` and ``diff`` live in the format layer: ``legacy-ckpt inspect``/``diff`` load
``legacy_saver.bundle`` and the printed tables only, never the conversion engine; the
old ``converters.inspect``/``converters.diff`` names still work."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import converters.diff
import converters.inspect
import legacy_saver
from legacy_saver.bundle import BundleWriter
from legacy_saver.bundle import diff as bundle_diff
from legacy_saver.bundle import inspect as bundle_inspect
from tests.helpers.paths import ROOT

ENGINE = ("converters.api", "converters.execute", "converters.structural", "converters.plan",
          "converters.rules", "converters.batch", "converters.verify", "converters.target",
          "converters.flatten", "converters.names", "converters.object_graph",
          "converters.report")  # fmt: skip

MODULES_AFTER = """
import json, sys
from converters.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(*argv: str) -> dict:
    out = subprocess.run([sys.executable, "-c", MODULES_AFTER, *argv], capture_output=True,
                         text=True, cwd=ROOT, check=True, timeout=120)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cli_inspect_and_diff_never_load_the_conversion_engine(tmp_path) -> None:
    for name, value in (("a", 1.0), ("b", 2.0)):
        with BundleWriter(tmp_path / name, fsync=False) as w:
            w.add("w", np.full(4, value, np.float32))
            w.add("s", np.array([b"x", b"y"], dtype=object))
    for argv in (["inspect", str(ROOT / "testdata" / "tf1_mlp")],
                 ["inspect", str(tmp_path / "a"), "--tensor", "s"],
                 ["diff", str(tmp_path / "a"), str(tmp_path / "b")]):  # fmt: skip
        result = _modules_after(*argv)
        loaded = [m for m in result["modules"] if m.startswith(ENGINE)]
        assert loaded == [], (argv, loaded)
        assert "legacy_saver.bundle.inspect" in result["modules"] or argv[0] == "diff"


def test_old_and_new_names_are_the_same_functions() -> None:
    assert converters.inspect.inspect_checkpoint is bundle_inspect.inspect_checkpoint
    assert converters.inspect.tensor_value is bundle_inspect.tensor_value
    assert converters.diff.diff_checkpoints is bundle_diff.diff_checkpoints
    assert legacy_saver.inspect_checkpoint is bundle_inspect.inspect_checkpoint
    assert legacy_saver.diff_checkpoints is bundle_diff.diff_checkpoints


# -- string tensors: memory within a small multiple of their stored size (#13.11) --------


def _short_strings(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 6, count)  # mean 2.5 bytes: the costliest case per byte
    blob = rng.integers(97, 123, int(lengths.sum()), dtype=np.uint8).tobytes()
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    out = np.empty(count, dtype=object)
    out[:] = [blob[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return out


def _traced_peak(func) -> tuple[object, int]:
    import tracemalloc

    tracemalloc.start()
    try:
        result = func()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_string_memory_of_inspect_tensor_and_diff(tmp_path) -> None:
    """A million short strings (~3.5 MB stored): ``inspect --tensor`` (preview, JSON and
    printout) and ``diff`` stay within 3x the stored bytes plus 8 MiB of fixed chunk
    temporaries; holding a Python object per string, as before, took over 15x."""
    count = 1_000_000
    values = _short_strings(count, 0)
    changed = values.copy()
    changed[::997] = b"changed!"
    for name, v in (("a", values), ("b", changed)):
        with BundleWriter(tmp_path / name, fsync=False) as w:
            w.add("s", v.reshape(1000, 1000))
            w.add("n", np.arange(10, dtype=np.float32))
    stored = (tmp_path / "a.data-00000-of-00001").stat().st_size
    del values, changed
    budget = 3 * stored + (8 << 20)

    def show() -> str:
        value = bundle_inspect.tensor_preview(tmp_path / "a", "s")
        payload = bundle_inspect.tensor_to_json("s", value)
        return converters.inspect.format_tensor("s", value) + str(payload["value"])

    text, peak = _traced_peak(show)
    assert peak < budget, f"inspect --tensor traced {peak / stored:.1f}x the stored bytes"
    full = legacy_saver.load_checkpoint(tmp_path / "a").get_tensor("s")
    assert text == converters.inspect.format_tensor("s", full) + "None"  # numpy's own printout
    report, peak = _traced_peak(lambda: bundle_diff.diff_checkpoints(tmp_path / "a",
                                                                     tmp_path / "b"))  # fmt: skip
    assert peak < budget + stored, f"diff traced {peak / stored:.1f}x one side's stored bytes"
    changed_count = int(np.count_nonzero(full.reshape(-1)[::997] != b"changed!"))
    assert [(v.key, v.differing, v.elements) for v in report.values] == [
        ("s", changed_count, count)]  # fmt: skip
    same, _ = _traced_peak(lambda: bundle_diff.diff_checkpoints(tmp_path / "a", tmp_path / "a"))
    assert same.same and same.equal == 2


def test_string_tensors_decode_like_before(tmp_path) -> None:
    """The chunked decoder against the writer, across chunk boundaries and lengths that
    take 1, 2 and 3 varint bytes."""
    from legacy_saver.bundle.strings import CHUNK_ELEMENTS, StringLayout, encode_strings

    rng = np.random.default_rng(1)
    count = 2 * CHUNK_ELEMENTS + 5
    sizes = rng.choice([0, 1, 127, 128, 300, 16384], size=count, p=[0.3, 0.3, 0.1, 0.1, 0.19, 0.01])
    values = np.empty(count, dtype=object)
    values[:] = [bytes([i % 251]) * int(n) for i, n in enumerate(sizes)]
    data, masked = encode_strings(values)
    layout = StringLayout(data, count)
    from legacy_saver.bundle.coding import mask_crc

    assert mask_crc(layout.crc) == masked
    decoded = [s for chunk in layout.values(1000) for s in chunk]
    assert decoded == list(values)
    picks = np.array([0, 1, CHUNK_ELEMENTS - 1, CHUNK_ELEMENTS, count - 1])
    assert layout.take(picks) == [values[i] for i in picks]
