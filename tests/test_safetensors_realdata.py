"""Every real third-party checkpoint (../shared/realdata) exports to safetensors;
what the library reads back equals what the bundle reader reads, bit for bit, and
whatever could not be written is listed with its reason."""

from __future__ import annotations

import pytest

from converters.safetensors import to_safetensors
from converters.safetensors.spec import safetensors_dtype
from legacy_saver.bundle import load_checkpoint
from legacy_saver.bundle.naming import OBJECT_GRAPH_KEY
from tests.test_convert_realdata import OBJECT_BASED, V1, V2_NAME_BASED

safetensors = pytest.importorskip("safetensors")


def _library(path: str) -> dict[str, tuple[str, list[int], bytes]]:
    with open(path, "rb") as f:
        return {k: (v["dtype"], v["shape"], bytes(v["data"]))
                for k, v in safetensors.deserialize(f.read())}  # fmt: skip


@pytest.mark.parametrize("item", V2_NAME_BASED + V1 + OBJECT_BASED)
def test_every_realdata_checkpoint_exports_bitwise(realdata, tmp_path, item):
    src = str(realdata / item)
    out = str(tmp_path / "model.safetensors")
    report = to_safetensors(src, out)
    written = _library(out)
    names = {a.src: a.dst for a in report.actions}
    assert set(written) == set(names.values())
    with load_checkpoint(src) as reader:
        unsupported = set()
        for key in reader.keys():
            if key == OBJECT_GRAPH_KEY:
                continue
            code, _ = safetensors_dtype(int(reader.dtype(key)))
            if code is None:
                unsupported.add(key)
                continue
            value = reader.get_tensor(key)
            dtype, shape, data = written[names[key]]
            assert (dtype, shape) == (code, list(value.shape)), key
            assert data == value.astype(value.dtype.newbyteorder("<")).tobytes(), key
    dropped = {d.src for d in report.dropped}
    assert dropped == unsupported | ({OBJECT_GRAPH_KEY} if item in OBJECT_BASED else set())


@pytest.mark.parametrize("item", V2_NAME_BASED + V1 + OBJECT_BASED)
def test_every_realdata_checkpoint_exports_in_torch_layout(realdata, tmp_path, item):
    out = str(tmp_path / "model.safetensors")
    report = to_safetensors(str(realdata / item), out, layout="torch", shard_bytes=256 << 10)
    assert all("/" not in a.dst for a in report.actions)
    if len(report.actions) == 0:
        return
    files = [n.removeprefix("wrote ") for n in report.notes if n.startswith("wrote ")]
    written: dict[str, tuple[str, list[int], bytes]] = {}
    for path in files:
        if path.endswith(".safetensors"):
            written.update(_library(path))
    assert {a.dst for a in report.actions} <= set(written)
