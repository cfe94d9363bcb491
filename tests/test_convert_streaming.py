"""Peak memory of a structural conversion does not grow with checkpoint size."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from legacy_saver.bundle import BundleWriter

MIB = 1 << 20
CHILD = """
import resource, sys
from converters.api import tf1_to_tf2
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = tf1_to_tf2(sys.argv[1], sys.argv[2])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after, report.bytes_copied)
"""


@pytest.mark.slow
def test_peak_rss_stays_far_below_checkpoint_size(tmp_path):
    src = str(tmp_path / "big")
    block = np.random.default_rng(0).standard_normal(25 * MIB // 4).astype(np.float32)
    with BundleWriter(src, fsync=False) as w:
        for i in range(8):  # 8 x 25 MiB = 200 MiB
            w.add(f"layer_{i}/kernel", block)
    out = subprocess.run([sys.executable, "-c", CHILD, src, str(tmp_path / "out")],
                         capture_output=True, text=True, check=True)  # fmt: skip
    before_kib, after_kib, copied = map(int, out.stdout.split())
    assert copied == 200 * MIB
    growth_mib = (after_kib - before_kib) / 1024
    assert growth_mib < 40, f"peak RSS grew by {growth_mib:.0f} MiB converting 200 MiB"


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_copies_are_exact_with_and_without_copy_file_range(tmp_path, monkeypatch, kernel_copy):
    import errno
    import os

    from converters import tf1_to_tf2, verify
    from legacy_saver.bundle import load_checkpoint

    real, copied, refused = os.copy_file_range, [], []

    def spy(*args, **kwargs):
        if not kernel_copy:  # an OS without copy_file_range: the buffered path
            refused.append(args[2])
            raise OSError(errno.ENOSYS, "no copy_file_range")
        copied.append(real(*args, **kwargs))
        return copied[-1]

    monkeypatch.setattr(os, "copy_file_range", spy)
    rng = np.random.default_rng(0)
    values = {f"layer{i}/w": rng.standard_normal([257, 129]).astype(np.float32) for i in range(5)}
    values["tiny"] = np.int64(3)
    with BundleWriter(str(tmp_path / "src")) as w:
        for key, value in values.items():
            w.add(key, value)
    report = tf1_to_tf2(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert report.bytes_copied == sum(v.nbytes for v in values.values())
    if kernel_copy:  # every byte went through the kernel copy
        assert sum(copied) == report.bytes_copied and not refused
    else:  # each tensor tried it once, then took the buffered path
        assert len(refused) == len(values) and not copied
    assert verify(str(tmp_path / "src"), str(tmp_path / "dst")).ok
    with load_checkpoint(str(tmp_path / "dst")) as r:
        key = "layer3/w/.ATTRIBUTES/VARIABLE_VALUE"
        np.testing.assert_array_equal(r.get_tensor(key), values["layer3/w"])


def test_a_bit_flipped_in_the_source_fails_the_copy_and_writes_nothing(tmp_path):
    from converters.api import tf1_to_tf2
    from legacy_saver.errors import CorruptCheckpointError

    with BundleWriter(str(tmp_path / "src")) as w:
        w.add("a", np.arange(4096, dtype=np.float32))
        w.add("b", np.ones(4096, dtype=np.float32))
    data = tmp_path / "src.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[20000] ^= 0x10  # inside "b"
    data.write_bytes(bytes(raw))
    with pytest.raises(
        CorruptCheckpointError,
        match=r"src.data-00000-of-00001: checksum "
        r"mismatch for tensor 'b'",
    ):
        tf1_to_tf2(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.data-00000-of-00001", "src.index"]


def test_a_truncated_source_shard_fails_the_copy_and_writes_nothing(tmp_path):
    from converters import tf1_to_tf2
    from legacy_saver.errors import CorruptCheckpointError

    with BundleWriter(str(tmp_path / "src")) as w:
        w.add("a", np.arange(4096, dtype=np.float32))
        w.add("b", np.ones(4096, dtype=np.float32))
    data = tmp_path / "src.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:20000])  # "b" loses its last 12,768 bytes
    with pytest.raises(
        CorruptCheckpointError,
        match=r"src.data-00000-of-00001 is truncated: "
        r"tensor 'b' needs bytes 16384..32768",
    ):
        tf1_to_tf2(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.data-00000-of-00001", "src.index"]
