"""Benchmark: a BERT-base-sized google-research/bert checkpoint into a ``.weights.h5``
and a keras-hub preset directory, against ``cp`` of the same bytes.

The checkpoint (12 layers, hidden 768, intermediate 3072, vocab 30522, 512 positions,
the pre-training heads: 110M float32 values, ~440 MB) is written once with our
``BundleWriter`` into ``bench/out/bert_base/bert_model.ckpt`` (values are random; only
the sizes matter here). Each measurement runs in a fresh child process and reports
wall time (imports included, interpreter start-up not) and peak RSS (``ru_maxrss``);
the page cache is warmed first and ``sync`` runs between measurements. ``--reps N``
gives the median of N. ``--small`` runs the same on a tiny model (a smoke check).

Targets (issue #15): within 2x of ``cp``, peak RSS under 300 MB.

Usage::

    .venv/bin/python bench/bench_bert.py [--reps 3] [--small] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"

CHILD = {
    "cp": ("import shutil", "for f in FILES: shutil.copyfile(f, DST + '.' + f.rsplit('.', 1)[1])"),
    "keras (.weights.h5)": (
        "from converters.presets.text import convert_text",
        "convert_text('bert', SRC, DST + '.weights.h5', fmt='keras')",
    ),
    "keras-hub dir": (
        "from converters.presets.text import convert_text",
        "convert_text('bert', SRC, DST)",
    ),
    "keras-hub dir + MLM head": (
        "from converters.presets.text import convert_text; "
        "from converters.presets.bert import TextOptions",
        "convert_text('bert', SRC, DST, options=TextOptions(head='mlm'))",
    ),
}
TEMPLATE = """
import resource, time, sys
t0 = time.perf_counter()
{imports}
SRC, DST, FILES = {src!r}, {dst!r}, {files!r}
t1 = time.perf_counter()
{work}
t2 = time.perf_counter()
print(t2 - t0, t2 - t1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def sizes(small: bool) -> dict[str, int]:
    if small:
        return {"layers": 2, "hidden": 64, "inter": 96, "vocab": 500, "positions": 64}
    return {"layers": 12, "hidden": 768, "inter": 3072, "vocab": 30522, "positions": 512}


def bert_shapes(layers: int, hidden: int, inter: int, vocab: int, positions: int):
    s = {"bert/embeddings/word_embeddings": (vocab, hidden),
         "bert/embeddings/position_embeddings": (positions, hidden),
         "bert/embeddings/token_type_embeddings": (2, hidden),
         "bert/embeddings/LayerNorm/gamma": (hidden,), "bert/embeddings/LayerNorm/beta": (hidden,),
         "bert/pooler/dense/kernel": (hidden, hidden), "bert/pooler/dense/bias": (hidden,),
         "cls/predictions/output_bias": (vocab,),
         "cls/predictions/transform/dense/kernel": (hidden, hidden),
         "cls/predictions/transform/dense/bias": (hidden,),
         "cls/predictions/transform/LayerNorm/gamma": (hidden,),
         "cls/predictions/transform/LayerNorm/beta": (hidden,),
         "cls/seq_relationship/output_weights": (2, hidden),
         "cls/seq_relationship/output_bias": (2,)}  # fmt: skip
    for i in range(layers):
        p = f"bert/encoder/layer_{i}/"
        for d in ("attention/self/query", "attention/self/key", "attention/self/value",
                  "attention/output/dense"):  # fmt: skip
            s[p + d + "/kernel"], s[p + d + "/bias"] = (hidden, hidden), (hidden,)
        s[p + "intermediate/dense/kernel"] = (hidden, inter)
        s[p + "intermediate/dense/bias"] = (inter,)
        s[p + "output/dense/kernel"], s[p + "output/dense/bias"] = (inter, hidden), (hidden,)
        for ln in ("attention/output/LayerNorm", "output/LayerNorm"):
            s[p + ln + "/gamma"], s[p + ln + "/beta"] = (hidden,), (hidden,)
    return s


def ensure_checkpoint(small: bool) -> Path:
    import numpy as np

    from legacy_saver import BundleWriter

    directory = OUT / ("bert_tiny" if small else "bert_base")
    prefix = directory / "bert_model.ckpt"
    if (directory / "bert_model.ckpt.index").exists():
        return prefix
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with BundleWriter(str(prefix)) as w:
        for name, shape in sorted(bert_shapes(**sizes(small)).items()):
            w.add(name, rng.random(shape, dtype=np.float32) - 0.5)
    hidden = sizes(small)["hidden"]
    config = {"num_attention_heads": hidden // 64, "hidden_act": "gelu"}
    (directory / "bert_config.json").write_text(json.dumps(config))
    return prefix


def run_child(name: str, src: Path, dst: Path) -> tuple[float, float, float]:
    imports, work = CHILD[name]
    files = sorted(str(p) for p in src.parent.iterdir() if p.name.startswith(src.name + "."))
    code = TEMPLATE.format(imports=imports, work=work, src=str(src), dst=str(dst), files=files)
    subprocess.run(["sync"], check=True)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    wall, work_s, rss = (float(x) for x in done.stdout.split()[-3:])
    return wall, work_s, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    src = ensure_checkpoint(args.small)
    data = sum(p.stat().st_size for p in src.parent.iterdir() if p.name.startswith(src.name + "."))
    for p in src.parent.iterdir():  # warm the page cache, holding no memory (children
        with open(p, "rb") as f:  # inherit the parent's peak RSS across fork+exec)
            while f.read(1 << 20):
                pass
    work = OUT / "bert_runs"
    results = {}
    for name in CHILD:
        runs = []
        for _ in range(args.reps):
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            runs.append(run_child(name, src, work / "out"))
        results[name] = {k: statistics.median(r[i] for r in runs)
                         for i, k in enumerate(("wall_s", "work_s", "peak_rss_mb"))}  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    cp = results["cp"]["wall_s"]
    if args.json:
        print(json.dumps({"checkpoint_bytes": data, "load": os.getloadavg(), **results}, indent=2))
        return
    print(f"checkpoint {data / 1e6:.0f} MB; load average {os.getloadavg()}; median of {args.reps}")
    print(f"{'what':28} {'wall s':>8} {'work s':>8} {'x cp':>6} {'peak RSS MB':>12}")
    for name, r in results.items():
        print(f"{name:28} {r['wall_s']:8.2f} {r['work_s']:8.2f} {r['wall_s'] / cp:6.2f} "
              f"{r['peak_rss_mb']:12.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
