"""Run the crafted-checkpoint catalogue (``tests/helpers/crafted.py``)
through our reader in-process and through stock TensorFlow in a subprocess per
case (TF may abort the process); print one row per case and the totals that
RELIABILITY.md quotes.

Usage: ``.venv/bin/python -m scripts.crafted_vs_tf [--no-tf] [--timeout 60]``
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
from collections import Counter

from tests.helpers.crafted import CASES, run_case

TF_PROBE = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
try:
    r = tf.train.load_checkpoint(sys.argv[1])
    for k in sorted(r.get_variable_to_shape_map()):
        r.get_tensor(k)
    print(json.dumps({"outcome": "ok"}))
except Exception as e:
    print(json.dumps({"outcome": type(e).__name__, "message": str(e)[:160]}))
"""


def tf_outcome(prefix: str, timeout: int) -> tuple[str, str]:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", TF_PROBE, prefix],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return "HANG", f"no answer in {timeout} s"
    if proc.returncode < 0:
        return f"KILLED ({signal.Signals(-proc.returncode).name})", proc.stderr.strip()[-160:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return f"EXIT {proc.returncode}", proc.stderr.strip()[-160:]
    result = json.loads(lines[-1])
    return result["outcome"], result.get("message", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-tf", action="store_true", help="only our reader")
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for name, build in CASES.items():
        with tempfile.TemporaryDirectory() as d:
            prefix = build(d)
            ours, peak, size = run_case(prefix)  # raises on crash / unbounded memory
            theirs = tf_outcome(prefix, args.timeout) if not args.no_tf else ("-", "")
        r = {
            "case": name,
            "ours": ours,
            "peak": peak,
            "bytes": size,
            "tf": theirs[0],
            "tf_message": theirs[1],
        }
        rows.append(r)
        if not args.json:
            print(
                f"| {r['case']} | {r['ours']} | {r['peak']} | {r['tf']} | "
                f"{r['tf_message'][:80]!r} |",
                flush=True,
            )
    if args.json:
        print(json.dumps(rows, indent=1))
    killed = sum(r["tf"].startswith(("KILLED", "HANG", "EXIT")) for r in rows)
    print(
        f"{len(rows)} cases: ours {dict(Counter(r['ours'] for r in rows))}, "
        f"max peak {max(r['peak'] for r in rows)} B; TF killed/hung on {killed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
