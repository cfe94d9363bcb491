"""The ``.weights.h5`` layout of keras_hub's BERT-family models (Keras 3 ``saving_lib``).

One group per layer under ``layers/``, named by the layer's class in snake case with
``_1``, ``_2``... for repeats in the functional model's layer order; nested sub-layers by
their attribute names (``_self_attention_layer/query_dense``); each layer's own
variables as datasets ``vars/0``, ``vars/1``... in creation order; layers without weights
keep an empty ``vars`` group whose ``name`` attribute is the layer's name. Read from
keras 3.15 / keras_hub 0.32 and checked against ``save_weights`` of the real models by
``tests/test_presets_bert.py::test_keras_hub_layout_is_keras_own``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# keras_hub TransformerEncoder: Keras variable path (under the layer) -> h5 path (under it)
_ENCODER_VARS = {
    "self_attention_layer/query/kernel": "_self_attention_layer/query_dense/vars/0",
    "self_attention_layer/query/bias": "_self_attention_layer/query_dense/vars/1",
    "self_attention_layer/key/kernel": "_self_attention_layer/key_dense/vars/0",
    "self_attention_layer/key/bias": "_self_attention_layer/key_dense/vars/1",
    "self_attention_layer/value/kernel": "_self_attention_layer/value_dense/vars/0",
    "self_attention_layer/value/bias": "_self_attention_layer/value_dense/vars/1",
    "self_attention_layer/attention_output/kernel": "_self_attention_layer/output_dense/vars/0",
    "self_attention_layer/attention_output/bias": "_self_attention_layer/output_dense/vars/1",
    "self_attention_layer_norm/gamma": "_self_attention_layer_norm/vars/0",
    "self_attention_layer_norm/beta": "_self_attention_layer_norm/vars/1",
    "feedforward_layer_norm/gamma": "_feedforward_layer_norm/vars/0",
    "feedforward_layer_norm/beta": "_feedforward_layer_norm/vars/1",
    "feedforward_intermediate_dense/kernel": "_feedforward_intermediate_dense/vars/0",
    "feedforward_intermediate_dense/bias": "_feedforward_intermediate_dense/vars/1",
    "feedforward_output_dense/kernel": "_feedforward_output_dense/vars/0",
    "feedforward_output_dense/bias": "_feedforward_output_dense/vars/1",
}
_ENCODER_GROUPS = {  # sub-layer group -> its Keras name (the name attribute of ``vars``)
    "_feedforward_dropout": "feedforward_dropout",
    "_feedforward_intermediate_dense": "feedforward_intermediate_dense",
    "_feedforward_layer_norm": "feedforward_layer_norm",
    "_feedforward_output_dense": "feedforward_output_dense",
    "_self_attention_dropout": "self_attention_dropout",
    "_self_attention_layer": "self_attention_layer",
    "_self_attention_layer/_dropout_layer": "dropout",
    "_self_attention_layer/_softmax": "softmax",
    "_self_attention_layer/key_dense": "key",
    "_self_attention_layer/output_dense": "attention_output",
    "_self_attention_layer/query_dense": "query",
    "_self_attention_layer/value_dense": "value",
    "_self_attention_layer_norm": "self_attention_layer_norm",
}


def _numbered(base: str, index: int) -> str:
    return base if index == 0 else f"{base}_{index}"


@dataclass(frozen=True)
class Layout:
    """Where each Keras variable of one model lives in its ``.weights.h5``, plus the
    weightless groups Keras writes (``group path -> layer name``)."""

    paths: dict[str, str]
    groups: dict[str, str] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)  # h5 path -> value


def backbone_layout(encoders: Sequence[str], *, projection: bool, root_name: str) -> Layout:
    """The ``model.weights.h5`` layout of keras_hub's BertBackbone (``projection=False``)
    or AlbertBackbone (``projection=True``: its ``embedding_projection`` Dense comes
    before ``pooled_dense``), whose TransformerEncoder layers are named ``encoders`` in
    call order (``transformer_layer_0``..., ``group_0_inner_layer_0``...)."""
    dense = ["embedding_projection", "pooled_dense"] if projection else ["pooled_dense"]
    named = {
        "reversible_embedding": "token_embedding",
        "position_embedding": "position_embedding",
        "embedding": "segment_embedding",
        "layer_normalization": "embeddings_layer_norm",
        "add": "embeddings_add",
        "dropout": "embeddings_dropout",
        "input_layer": "token_ids",
        "input_layer_1": "segment_ids",
        "input_layer_2": "padding_mask",
    }
    named.update({_numbered("dense", i): name for i, name in enumerate(dense)})
    by_name = {name: f"layers/{group}" for group, name in named.items()}
    paths = {
        "token_embedding/embeddings": f"{by_name['token_embedding']}/vars/0",
        "position_embedding/embeddings": f"{by_name['position_embedding']}/vars/0",
        "segment_embedding/embeddings": f"{by_name['segment_embedding']}/vars/0",
        "embeddings_layer_norm/gamma": f"{by_name['embeddings_layer_norm']}/vars/0",
        "embeddings_layer_norm/beta": f"{by_name['embeddings_layer_norm']}/vars/1",
    }
    for name in dense:
        paths[f"{name}/kernel"] = f"{by_name[name]}/vars/0"
        paths[f"{name}/bias"] = f"{by_name[name]}/vars/1"
    groups = {f"layers/{group}/vars": name for group, name in named.items()}
    for i, encoder in enumerate(encoders):
        base = f"layers/{_numbered('transformer_encoder', i)}"
        groups[f"{base}/vars"] = encoder
        for sub, name in _ENCODER_GROUPS.items():
            numbered = _numbered(name, i) if name in ("dropout", "softmax") else name
            groups[f"{base}/{sub}/vars"] = numbered
        for var, h5 in _ENCODER_VARS.items():
            paths[f"{encoder}/{var}"] = f"{base}/{h5}"
    groups["vars"] = root_name
    return Layout(paths, groups)


def mlm_head_layout(root_name: str) -> Layout:
    """The ``task.weights.h5`` layout of BertMaskedLM / AlbertMaskedLM (the head only)."""
    head = "layers/masked_lm_head"
    paths = {
        "mlm_head/output_bias": f"{head}/vars/0",
        "mlm_head/intermediate_dense/kernel": f"{head}/_intermediate_dense/vars/0",
        "mlm_head/intermediate_dense/bias": f"{head}/_intermediate_dense/vars/1",
        "mlm_head/intermediate_layer_norm/gamma": f"{head}/_intermediate_layer_norm/vars/0",
        "mlm_head/intermediate_layer_norm/beta": f"{head}/_intermediate_layer_norm/vars/1",
    }
    groups = {
        f"{head}/vars": "mlm_head",
        f"{head}/_intermediate_dense/vars": "intermediate_dense",
        f"{head}/_intermediate_layer_norm/vars": "intermediate_layer_norm",
        "optimizer/vars": "adam",
        "vars": root_name,
    }
    # the compiled task's optimizer (keras_hub MaskedLM: Adam(5e-5)), fresh: Keras saves
    # its iterations and learning rate with the task weights and warns when they are absent
    constants: dict[str, np.ndarray] = {
        "optimizer/vars/0": np.array(0, np.int64),
        "optimizer/vars/1": np.array(5e-5, np.float32),
    }
    return Layout(paths, groups, constants)
