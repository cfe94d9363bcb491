"""One measured run in a fresh child process, shared by the benches that compare a
command with ``cp``: wall (imports and work), work alone, and peak RSS.

The child gets ``SRC`` and ``DST`` and runs ``imports`` then ``work`` (Python source)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WRAP = """
import json, resource, sys, time
SRC, DST = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
{work}
t2 = time.perf_counter()
usage = resource.getrusage
rss = max(usage(resource.RUSAGE_SELF).ru_maxrss, usage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({{"wall": t2 - t0, "work": t2 - t1, "rss_mb": rss / 1024}}))
"""


def run_timed(name: str, imports: str, work: str, src: str, dst_dir: Path,
              dst_name: str) -> dict[str, float]:  # fmt: skip
    """Run one child into a fresh ``dst_dir`` (``sync`` first, so no run pays for the
    previous one's writeback); its figures; ``dst_dir`` is removed again."""
    shutil.rmtree(dst_dir, ignore_errors=True)
    dst_dir.mkdir(parents=True)
    os.sync()
    code = WRAP.format(imports=imports, work=work)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code, src, str(dst_dir / dst_name)],
                          capture_output=True, text=True, cwd=ROOT, env=env)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(dst_dir, ignore_errors=True)
    return result
