"""Optimizer state across the TF1 -> TF2 boundary.

TF1 optimizers keep per-variable *slots* named after the variable and the
optimizer (``dense/kernel/Adam`` is Adam's ``m``, ``dense/kernel/Adam_1`` its
``v``: the ``_N`` comes from graph name uniquification, in creation order) and
a few non-slot variables (``beta1_power``, ``beta2_power``; ``global_step`` is
the step counter). TF2 targets hold the same state in one of two layouts:

* slot layout (``tf.compat.v1`` optimizers, ``tf_keras.optimizers.legacy``):
  the object graph lists ``slot_variables`` (primary node, slot name, slot node);
* Keras 3 layout: lists parallel to ``optimizer._trainable_variables``
  (``_momentums``, ``_velocities``...) and an ``_iterations`` counter. Keras 3
  Adam has no beta powers: it computes bias correction from ``iterations + 1``,
  so ``iterations`` must equal the number of TF1 Adam steps. It comes from
  ``global_step``, else from ``beta1_power = beta_1 ** (steps + 1)``.

Slot *meanings* (``m``, ``v``, ``rms``, ``momentum``, ``mg``, ``accumulator``;
TF1 names are read by ``converters.names.classify_optimizer_names``) connect
the two. A Keras ``SGD`` momentum is ``-lr`` times TF1's, which a
byte copy cannot express: that pairing is refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

_BETA_POWER = re.compile(r"(?:^|/)beta(?P<which>[12])_power(?:_\d+)?$")
GLOBAL_STEP = "global_step"

# Keras 3 optimizer list attribute -> slot meaning, by optimizer class name.
_KERAS3_LISTS: dict[str, dict[str, str]] = {
    "Adam": {"_momentums": "m", "_velocities": "v"},
    "AdamW": {"_momentums": "m", "_velocities": "v"},
    "RMSprop": {"_velocities": "rms", "_momentums": "momentum", "_average_gradients": "mg"},
    "Adagrad": {"_accumulators": "accumulator"},
    "SGD": {"momentums": "keras_momentum"},
}
# Slot names in the slot layout whose meaning differs from the TF1 slot name.
_SLOT_ALIASES = {("SGD", "momentum"): "keras_momentum", ("Ftrl", "accumulator"): "accum"}
UNSUPPORTED_MEANINGS = {
    "keras_momentum": "Keras SGD keeps momentum as -lr * (TF1 accumulator); "
    "a byte copy cannot carry it across (use optimizer='drop')"
}


@dataclass(frozen=True)
class OptimizerInfo:
    """An optimizer in the target: its node, counter node and slots.

    ``slots`` maps a slot variable's node id to (primary variable node id,
    meaning). ``beta_1`` is Adam's first-moment decay, when known.
    """

    node: int
    kind: str
    iterations_node: int | None = None
    slots: dict[int, tuple[int, str]] = field(default_factory=dict)
    beta_1: float | None = None


def describe_optimizer(
    opt: Any, node_of: dict[int, int], proto: Any, variables: list[Any]
) -> OptimizerInfo | None:
    """Read the slot structure of a target optimizer (``None`` if it is not in the graph).

    ``node_of`` maps ``id(trackable)`` to its node id in ``proto``;
    ``variables`` are the target's saved trackables.
    """
    node = node_of.get(id(opt))
    if node is None:
        return None
    kind = type(opt).__name__
    iterations = node_of.get(id(getattr(opt, "_iterations", None)))
    slots: dict[int, tuple[int, str]] = {}
    for ref in proto.nodes[node].slot_variables:
        meaning = _SLOT_ALIASES.get((kind, ref.slot_name), ref.slot_name)
        slots[ref.slot_variable_node_id] = (ref.original_variable_node_id, meaning)
    primaries = _primaries(opt, variables) or []
    for attr, meaning in _KERAS3_LISTS.get(kind, {}).items():
        for primary, slot in zip(primaries, getattr(opt, attr, None) or (), strict=False):
            p, s = node_of.get(id(primary)), node_of.get(id(slot))
            if p is not None and s is not None:
                slots[s] = (p, meaning)
    return OptimizerInfo(node, kind, iterations, slots, _beta_1(opt))


def _primaries(opt: Any, variables: list[Any]) -> list[Any] | None:
    """The variables the optimizer's slot lists run parallel to, in list order.

    Keras 3 keeps them in ``_trainable_variables``; tf_keras (non-legacy)
    optimizers index them by ``_var_key(variable)`` in ``_index_dict``.
    """
    primaries = getattr(opt, "_trainable_variables", None)
    if primaries:
        return list(primaries)
    index, var_key = getattr(opt, "_index_dict", None), getattr(opt, "_var_key", None)
    if not index or var_key is None:
        return None
    ordered: list[Any] = [None] * len(index)
    for var in variables:
        try:
            position = index.get(var_key(var))
        except (AttributeError, TypeError):
            continue
        if position is not None and position < len(ordered):
            ordered[position] = var
    return ordered


def _beta_1(opt: Any) -> float | None:
    for value in (getattr(opt, "beta_1", None), getattr(opt, "_beta1", None)):
        if isinstance(value, int | float):
            return float(value)
    hyper = getattr(opt, "_hyper", {}).get("beta_1")
    try:
        return float(hyper) if hyper is not None else None
    except (TypeError, ValueError):
        return None


def is_beta_power(key: str) -> bool:
    return _BETA_POWER.search(key) is not None


def steps_from_beta_power(value: float, beta: float) -> int | None:
    """Adam steps taken, from a saved ``beta1_power`` (= beta ** (steps + 1))."""
    if not 0.0 < value < 1.0 or not 0.0 < beta < 1.0:
        return None
    return max(0, round(math.log(value) / math.log(beta)) - 1)
