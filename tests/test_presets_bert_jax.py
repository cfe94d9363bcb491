"""keras-hub preset directories made by the ``bert``/``albert`` presets load on the JAX
backend: ``from_preset(DIR)`` in a subprocess with ``KERAS_BACKEND=jax`` (the backend is
fixed per process), outputs compared with the TF1 graph's within 1e-4 relative."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from converters.presets.bert import TextOptions
from converters.presets.text import convert_text
from tests.helpers.bert_tf1 import TinyConfig, build_albert, build_bert, random_batch

pytestmark = [pytest.mark.tf, pytest.mark.slow]
for _needed in ("jax", "keras_hub"):  # the parent process never imports them
    if importlib.util.find_spec(_needed) is None:
        pytest.skip(f"{_needed} is not installed", allow_module_level=True)

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras, keras_hub
    assert keras.backend.backend() == "jax", keras.backend.backend()
    for job in sys.argv[1:]:
        kind, preset, batch_file, out_file = job.split(",")
        b = dict(np.load(batch_file))
        cls = {"bert": keras_hub.models.BertBackbone, "albert": keras_hub.models.AlbertBackbone}
        x = {k: b[k] for k in ("token_ids", "segment_ids", "padding_mask")}
        out = cls[kind].from_preset(preset)(x)
        np.savez(out_file, **{k: np.asarray(v) for k, v in out.items()})
    """
)


def run_on_jax(jobs, tmp_path) -> list[dict[str, np.ndarray]]:
    """One subprocess (importing keras_hub on JAX is the slow part) for every
    ``(kind, preset dir, batch)`` job."""
    args, outs = [], []
    for i, (kind, preset, batch) in enumerate(jobs):
        batch_file, out_file = str(tmp_path / f"batch{i}.npz"), str(tmp_path / f"out{i}.npz")
        np.savez(batch_file, token_ids=batch.token_ids, segment_ids=batch.segment_ids,
                 padding_mask=batch.padding_mask)  # fmt: skip
        args.append(",".join((kind, preset, batch_file, out_file)))
        outs.append(out_file)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return [dict(np.load(out)) for out in outs]


def rel_error(got, want) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def test_preset_directories_on_jax(tmp_path):
    import tensorflow as tf

    jobs, wanted = [], []
    for kind in ("bert", "albert"):
        directory = tmp_path / kind
        if kind == "bert":
            cfg = TinyConfig()
            batch = random_batch(cfg, seed=3)
            built = build_bert(tf, str(directory / "ckpt"), cfg, batch)
        else:
            cfg = TinyConfig(num_hidden_layers=4, num_hidden_groups=2)
            batch = random_batch(cfg, seed=3)
            built = build_albert(tf, str(directory / "ckpt"), cfg, batch)
        preset = str(directory / "preset")
        convert_text(kind, built.prefix, preset, options=TextOptions())
        jobs.append((kind, preset, batch))
        wanted.append(built.outputs)
    for out, want in zip(run_on_jax(jobs, tmp_path), wanted, strict=True):
        assert rel_error(out["sequence_output"], want["sequence_output"]) < 1e-4
        assert rel_error(out["pooled_output"], want["pooled_output"]) < 1e-4
