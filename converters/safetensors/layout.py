"""PyTorch layouts for TensorFlow tensors (``layout="torch"``), and presets.

TensorFlow stores a Dense kernel as ``[in, out]``, convolutions as ``HWIO``
(``[height, width, in, out]``), depthwise kernels as ``[H, W, C, multiplier]``;
``torch.nn`` keeps ``Linear.weight`` as ``[out, in]``, ``Conv2d.weight`` as
``OIHW`` and a depthwise ``Conv2d(groups=C)`` weight as ``[C * multiplier, 1,
H, W]``. Batch normalization's ``gamma``/``beta``/``moving_mean``/
``moving_variance`` are ``weight``/``bias``/``running_mean``/``running_var``
(plus a ``num_batches_tracked`` counter TensorFlow does not keep: written as 0).

``torch_placement`` decides one tensor from its TensorFlow name (after rename
rules) and shape: the name's scopes joined by ``.``, its last component
renamed, and a ``Transform`` (transpose, then reshape) the streaming writer
applies. Pure: names and shapes in, names and transforms out.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..plan import Transform
from ..rules import Rule

LAYOUTS = ("tf", "torch")
NUM_BATCHES_TRACKED = "num_batches_tracked"

# kernel rank -> permutation to torch's layout: [in,out] -> [out,in]; WIO -> OIW;
# HWIO -> OIHW; DHWIO -> OIDHW (Conv2DTranspose's HWOI -> torch's IOHW is the same move).
KERNEL_PERMUTATIONS: dict[int, tuple[int, ...]] = {
    2: (1, 0),
    3: (2, 1, 0),
    4: (3, 2, 0, 1),
    5: (4, 3, 0, 1, 2),
}
KERNELS = frozenset({"kernel", "weights"})  # Keras / tf.layers, tf-slim
DEPTHWISE = frozenset({"depthwise_kernel", "depthwise_weights"})
POINTWISE = frozenset({"pointwise_kernel", "pointwise_weights"})
RENAMES = {
    "bias": "bias",
    "biases": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
    "embeddings": "weight",
}


@dataclass(frozen=True)
class Placement:
    """Where a tensor goes: its output name and the transform its bytes need."""

    name: str
    transform: Transform = Transform()
    how: str = ""


def torch_name(name: str) -> str:
    """A TensorFlow name as a ``torch.nn`` state-dict key: scopes joined by ``.``."""
    return name.replace("/", ".")


def _leaf(name: str) -> tuple[str, str]:
    scope, _, leaf = name.rpartition("/")
    return scope, leaf[1:] if leaf.startswith("_") else leaf  # Keras 3 writes "_kernel"


def separable_scopes(names: Collection[str]) -> set[str]:
    """Scopes holding a pointwise kernel (separable convolutions), among ``names``."""
    return {scope for scope, leaf in map(_leaf, names) if leaf in POINTWISE}


def torch_placement(
    name: str, shape: tuple[int, ...], separable: Collection[str] = ()
) -> Placement:
    """The torch name and transform of the tensor ``name`` of ``shape``;
    ``separable`` (``separable_scopes`` of every name) tells separable convolutions apart."""
    scope, leaf = _leaf(name)
    prefix = torch_name(scope) + "." if scope else ""
    rank = len(shape)
    if leaf in DEPTHWISE and rank == 4:
        height, width, channels, multiplier = shape
        target = "depthwise.weight" if scope in separable else "weight"
        return Placement(prefix + target,
                         Transform((2, 3, 0, 1), (channels * multiplier, 1, height, width)),
                         "torch layout: depthwise [H,W,C,M] -> [C*M,1,H,W]")  # fmt: skip
    if leaf in POINTWISE and rank == 4:
        return Placement(prefix + "pointwise.weight", Transform(KERNEL_PERMUTATIONS[4]),
                         "torch layout: HWIO -> OIHW")  # fmt: skip
    if leaf in KERNELS and rank in KERNEL_PERMUTATIONS:
        what = {2: "dense [in,out] -> [out,in]", 3: "conv1d WIO -> OIW", 4: "conv HWIO -> OIHW",
                5: "conv3d DHWIO -> OIDHW"}[rank]  # fmt: skip
        return Placement(prefix + "weight", Transform(KERNEL_PERMUTATIONS[rank]),
                         f"torch layout: {what}")  # fmt: skip
    if leaf in KERNELS:
        return Placement(prefix + "weight", how="torch layout: rename")
    if leaf in RENAMES:
        return Placement(prefix + RENAMES[leaf], how="torch layout: rename")
    joined = torch_name(name)
    how = "exact" if joined == name else "torch layout: scopes joined by '.'"
    return Placement(joined, how=how)


def batch_norm_counter(torch_key: str) -> str | None:
    """``scope.num_batches_tracked`` for a ``scope.running_mean`` key, else None."""
    if torch_key.endswith(".running_mean"):
        return torch_key[: -len("running_mean")] + NUM_BATCHES_TRACKED
    return None


# -- presets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """Named rules (first match wins, after the user's own) and the layout they imply."""

    name: str
    rules: tuple[Rule, ...]
    layout: str
    description: str
    family: str = ""
    dropped: str = ""
    covers_all: bool = False  # every tensor must be named by a rule: no fallback names

    def describe(self) -> dict[str, Any]:
        """This preset as a row of ``legacy-ckpt presets --json`` (the keys of
        ``converters.presets.Preset.describe``; it has no options)."""
        return {
            "name": self.name,
            "family": self.family,
            "target": f"safetensors ({self.layout} layout)",
            "summary": self.description,
            "input": "none (weights only)",
            "options": [],
            "dropped": self.dropped,
            "equivalence": "",
        }


def _bert_hf_rules() -> tuple[Rule, ...]:
    """google-research/bert names (``modeling.py``, ``run_pretraining.py``,
    ``run_classifier.py``) -> Hugging Face ``BertModel``/``BertForPreTraining``
    state-dict keys. Kernels become ``[out, in]``; ``output_weights`` already are.
    Names may sit under TF-Hub's ``module/`` scope (``module/bert/...``)."""
    root = r"^(?:module/)?"
    layer = root + r"bert/encoder/layer_(\d+)/"
    to_layer = r"bert.encoder.layer.\1."
    t = (1, 0)
    rules: list[tuple[str, str, tuple[int, ...] | None]] = [
        (root + r"bert/embeddings/(word|position|token_type)_embeddings$",
         r"bert.embeddings.\1_embeddings.weight", None),
        (layer + r"attention/self/(query|key|value)/kernel$",
         to_layer + r"attention.self.\2.weight", t),
        (layer + r"attention/self/(query|key|value)/bias$", to_layer + r"attention.self.\2.bias",
         None),
    ]  # fmt: skip
    dense = {
        layer + "attention/output/dense/": to_layer + "attention.output.dense.",
        layer + "intermediate/dense/": to_layer + "intermediate.dense.",
        layer + "output/dense/": to_layer + "output.dense.",
        root + "bert/pooler/dense/": "bert.pooler.dense.",
        root + "cls/predictions/transform/dense/": "cls.predictions.transform.dense.",
    }
    for src, dst in dense.items():
        rules += [(src + "kernel$", dst + "weight", t), (src + "bias$", dst + "bias", None)]
    norms = {
        root + "bert/embeddings/LayerNorm/": "bert.embeddings.LayerNorm.",
        layer + "attention/output/LayerNorm/": to_layer + "attention.output.LayerNorm.",
        layer + "output/LayerNorm/": to_layer + "output.LayerNorm.",
        root + "cls/predictions/transform/LayerNorm/": "cls.predictions.transform.LayerNorm.",
    }
    for src, dst in norms.items():
        rules += [(src + "gamma$", dst + "weight", None), (src + "beta$", dst + "bias", None)]
    rules += [
        (root + r"cls/predictions/output_bias$", "cls.predictions.bias", None),
        (root + r"cls/seq_relationship/output_weights$", "cls.seq_relationship.weight", None),
        (root + r"cls/seq_relationship/output_bias$", "cls.seq_relationship.bias", None),
        (root + r"output_weights$", "classifier.weight", None),  # run_classifier: [labels, hidden]
        (root + r"output_bias$", "classifier.bias", None),
    ]
    out = [Rule(match, to, transpose=tr, name=f"bert-hf: {match}") for match, to, tr in rules]
    out.append(Rule(r"/adam_[mv]$", drop=True, name="bert-hf: optimizer slot (adam_m/adam_v)"))
    out.append(Rule(root + r"global_step$", drop=True, name="bert-hf: training step counter"))
    return tuple(out)


PRESETS: dict[str, Preset] = {
    "bert-hf": Preset(
        "bert-hf",
        _bert_hf_rules(),
        "torch",
        "original google-research BERT -> Hugging Face BertModel / BertForPreTraining keys",
        "bert",
        "optimizer slots (adam_m/adam_v), global_step",
        covers_all=True,
    ),
}


def preset_named(name: str) -> Preset:
    found = PRESETS.get(name)
    if found is None:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return found
