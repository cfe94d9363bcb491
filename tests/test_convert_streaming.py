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
