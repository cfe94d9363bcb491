"""Load a ``.weights.h5`` on another Keras backend, in a subprocess.

Keras picks its backend once per process (``KERAS_BACKEND``), so the JAX (or
PyTorch) check runs ``python -c`` with a small program: build the model with
``build`` (a Python expression over ``keras`` only, to prove the file loads
without this package), call
``load_weights``, predict on the saved inputs, save the outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.paths import ROOT

_PROGRAM = """
import json, os, sys, numpy as np
import keras
assert keras.backend.backend() == os.environ["KERAS_BACKEND"], keras.backend.backend()
for job in json.loads(sys.argv[1]):
    model = eval(job["build"], {"keras": keras})
    model.load_weights(job["weights"])
    out = model.predict(np.load(job["inputs"]), verbose=0)
    out = out if isinstance(out, (list, tuple)) else [out]
    np.savez(job["out"], *[np.asarray(o) for o in out])
    keras.backend.clear_session()
    loaded = [m for m in ("legacy_saver", "converters", "tensorflow") if m in sys.modules]
    print("loaded:", ",".join(loaded), flush=True)
"""


def predict_on(
    backend: str, jobs: list[tuple[str, str | Path, np.ndarray]], tmp: Path
) -> tuple[list[list[np.ndarray]], str]:
    """``(outputs, modules)`` per job: each job ``(build, weights, inputs)`` run
    on ``backend`` in one subprocess, in order, and which of our packages and
    TensorFlow that subprocess had imported once the job was done (a job whose
    ``build`` uses ``keras`` only, run first, proves the file loads without them)."""
    import json

    pytest.importorskip(backend)
    specs = []
    for i, (build, weights, inputs) in enumerate(jobs):
        np.save(tmp / f"inputs{i}.npy", inputs)
        specs.append(
            {
                "build": build,
                "weights": str(weights),
                "inputs": str(tmp / f"inputs{i}.npy"),
                "out": str(tmp / f"out{i}.npz"),
            }
        )
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "JAX_PLATFORMS": "cpu",
        "CUDA_VISIBLE_DEVICES": "",
    }
    result = subprocess.run(
        [sys.executable, "-c", _PROGRAM, json.dumps(specs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = []
    for spec in specs:
        with np.load(spec["out"]) as f:
            outputs.append([f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))])
    loaded = [
        ln.removeprefix("loaded:").strip()
        for ln in result.stdout.splitlines()
        if ln.startswith("loaded:")
    ]
    return outputs, loaded
