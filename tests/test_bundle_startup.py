"""Start-up (#18.3): ``import legacy_saver`` and ``legacy-ckpt inspect`` load neither
``ml_dtypes`` (needed only by bfloat16, float8/float4 and int4/int2 tensors) nor snappy
nor fsspec; those types still round-trip, bitwise, through our writer and reader and
against TensorFlow's ``SaveV2``/``load_checkpoint``. The timing targets are measured by
``bench/bench_inspect.py``, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.paths import ROOT

LAZY = ("ml_dtypes", "cramjam", "fsspec", "tensorflow")
ML_TYPES = ["bfloat16", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz",
            "float8_e4m3b11fnuz", "float8_e5m2fnuz", "int4", "uint4", "int2", "uint2",
            "float4_e2m1fn"]  # fmt: skip


def _loaded_after(code: str) -> list[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, check=True, timeout=120)  # fmt: skip
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    return sorted({m.split(".")[0] for m in modules} & set(LAZY))


def test_import_legacy_saver_loads_none_of_the_heavy_modules() -> None:
    assert _loaded_after("import legacy_saver, legacy_saver.bundle") == []


def test_a_bare_import_loads_not_even_numpy_and_the_names_still_work() -> None:
    """``import legacy_saver`` alone (a CLI's or a library's top-level import) costs the
    interpreter almost nothing: numpy and protobuf load with the first name used."""
    probe = (
        "import json, sys, legacy_saver\n"
        "before = sorted(m for m in ('numpy', 'google.protobuf') if m in sys.modules)\n"
        "names = [n for n in legacy_saver.__all__ if getattr(legacy_saver, n) is None]\n"
        "assert legacy_saver.bundle.BundleWriter and legacy_saver.state.read_state\n"
        "print(json.dumps([before, names, 'numpy' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, check=True, timeout=300)  # fmt: skip
    before, missing, numpy_later = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == [] and missing == [] and numpy_later


def test_inspect_and_reading_float32_load_no_ml_dtypes(tmp_path: Path) -> None:
    import ml_dtypes

    from legacy_saver.bundle import BundleWriter

    with BundleWriter(tmp_path / "c", fsync=False) as w:
        w.add("f", np.arange(3, dtype=np.float32))
        w.add("bf", np.arange(3).astype(ml_dtypes.bfloat16))
    assert (
        _loaded_after(
            "from converters.cli import main\n"
            f"assert main(['inspect', {str(ROOT / 'testdata' / 'tf1_mlp')!r}]) == 0\n"
            f"assert main(['inspect', {str(tmp_path / 'c')!r}]) == 0\n"  # lists a bfloat16 too
            "import legacy_saver\n"
            f"assert legacy_saver.load_checkpoint({str(tmp_path / 'c')!r}).get_tensor('f')[2] == 2"
        )
        == []
    )
    assert _loaded_after(  # a bfloat16 value needs it, and gets it
        "import legacy_saver\n"
        f"legacy_saver.load_checkpoint({str(tmp_path / 'c')!r}).get_tensor('bf')"
    ) == ["ml_dtypes"]


def _random_bits(name: str, shape: tuple[int, ...]) -> np.ndarray:
    import ml_dtypes

    dtype = np.dtype(getattr(ml_dtypes, name))
    rng = np.random.default_rng(len(name))
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * dtype.itemsize, dtype=np.uint8)
    if dtype.itemsize == 1 and name.startswith(("int", "uint", "float4")):
        bits = {"int4": 4, "uint4": 4, "int2": 2, "uint2": 2, "float4_e2m1fn": 4}[name]
        raw &= (1 << bits) - 1  # only the low bits carry the value
        if name in ("int4", "int2"):  # sign-extended, as ml_dtypes stores them
            raw = np.where(raw >= 1 << (bits - 1), raw | (0xFF << bits) & 0xFF, raw)
            raw = raw.astype(np.uint8)
    return raw.view(dtype).reshape(shape)


@pytest.mark.parametrize("name", ML_TYPES)
def test_ml_dtypes_round_trip_bitwise(tmp_path: Path, name: str) -> None:
    from legacy_saver.bundle import BundleWriter, DType, load_checkpoint

    value = _random_bits(name, (3, 5))
    with BundleWriter(tmp_path / "c", fsync=False) as w:
        w.add("x", value)
    reader = load_checkpoint(tmp_path / "c")
    assert reader.dtype("x") is DType[name.upper()]
    back = reader.get_tensor("x")
    assert back.dtype == value.dtype and back.tobytes() == value.tobytes()


@pytest.mark.parametrize("name", ML_TYPES)
def test_ml_dtypes_against_tensorflow_both_ways(tf, tmp_path: Path, name: str) -> None:
    from legacy_saver.bundle import BundleWriter, load_checkpoint

    value = _random_bits(name, (4, 3))
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "tf"), tensor_names=["x"], shape_and_slices=[""],
                      tensors=[tf.constant(value)])  # fmt: skip
    ours = load_checkpoint(tmp_path / "tf").get_tensor("x")
    assert ours.dtype == value.dtype and ours.tobytes() == value.tobytes()
    with BundleWriter(tmp_path / "ours", fsync=False) as w:
        w.add("x", value)
    theirs = tf.train.load_checkpoint(str(tmp_path / "ours")).get_tensor("x")
    assert np.asarray(theirs).tobytes() == value.tobytes()
    for suffix in (".index", ".data-00000-of-00001"):  # and the very same bytes
        assert (tmp_path / ("ours" + suffix)).read_bytes() == (
            tmp_path / ("tf" + suffix)
        ).read_bytes()
