"""Names on both sides: TF2 object-graph keys and TF1 optimizer-slot names.

TF2 keys (``tensorflow/python/checkpoint``): an object path of *escaped* local
names joined by ``/`` (escaping ``.`` as ``..`` and ``/`` as ``.S``), then
``/.ATTRIBUTES/VARIABLE_VALUE`` for a variable, or for an optimizer slot
``<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot>/.ATTRIBUTES/VARIABLE_VALUE``.

TF1 names optimizer state by suffix: ``tf.compat.v1.train`` optimizers create
slot ``<var>/<OptimizerName>`` then ``<var>/<OptimizerName>_1`` (Adam: m, v),
plus non-slot ``beta1_power``/``beta2_power``; Keras OptimizerV2 used from an
Estimator names slots ``[scope/]<Optimizer>/<var>/<slot>`` and hyperparameters
``[scope/]<Optimizer>/<hyper>``. Slots may live under an extra scope
(tensor2tensor writes ``training/<var>/Adam``), so the variable is found by
dropping leading scopes until a stored name matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ESCAPE_CHAR = "."  # trackable/base.py: object-graph local names escape "." and "/"
ATTRIBUTES = ".ATTRIBUTES"
OPTIMIZER_SLOT = ".OPTIMIZER_SLOT"
VARIABLE_VALUE = "VARIABLE_VALUE"

# TF1 suffix -> TF2 slot names in creation order (tf.compat.v1.train optimizers).
TF1_SLOTS: dict[str, tuple[str, ...]] = {
    "Adam": ("m", "v"),
    "Momentum": ("momentum",),
    "RMSProp": ("rms", "momentum"),  # centered adds "mg" second: rms, mg, momentum
    "Adagrad": ("accumulator",),
    "ProximalAdagrad": ("accumulator",),
    "AdagradDA": ("gradient_accumulator", "gradient_squared_accumulator"),
    "Ftrl": ("accum", "linear"),
    "Adadelta": ("accum", "accum_update"),
}
TF1_NON_SLOTS = re.compile(r"^(beta1_power|beta2_power)(_\d+)?$")
KERAS_V2_OPTIMIZERS = ("Adam", "Adagrad", "Ftrl", "SGD", "RMSprop", "Adadelta", "Adamax", "Nadam")
KERAS_V2_HYPERS = frozenset(
    "iter learning_rate decay beta_1 beta_2 epsilon momentum rho beta learning_rate_power "
    "l1_regularization_strength l2_regularization_strength initial_accumulator_value "
    "l2_shrinkage_regularization_strength".split()
)
_TF1_SUFFIX = re.compile(r"^(?P<var>.+)/(?P<opt>" + "|".join(TF1_SLOTS) + r")(?:_(?P<n>\d+))?$")
_KERAS_V2 = re.compile(
    r"^(?P<scope>(?:.+/)?)(?P<opt>" + "|".join(KERAS_V2_OPTIMIZERS) + r")/(?P<rest>.+)$"
)


def escape_local_name(name: str) -> str:
    return name.replace(".", "..").replace("/", ".S")


def unescape_local_name(name: str) -> str:
    out, i = [], 0
    while i < len(name):
        if name[i] == "." and i + 1 < len(name) and name[i + 1] in ".S":
            out.append("." if name[i + 1] == "." else "/")
            i += 2
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def object_path(path: Iterable[str]) -> str:
    return "/".join(escape_local_name(p) for p in path)


def variable_key(path: Iterable[str], attribute: str = VARIABLE_VALUE) -> str:
    """``a/b/c/.ATTRIBUTES/VARIABLE_VALUE`` for the object path ``(a, b, c)``."""
    return f"{object_path(path)}/{ATTRIBUTES}/{attribute}"


def slot_key(variable: Iterable[str], optimizer: Iterable[str], slot_name: str) -> str:
    return (f"{object_path(variable)}/{OPTIMIZER_SLOT}/{object_path(optimizer)}/"
            f"{escape_local_name(slot_name)}/{ATTRIBUTES}/{VARIABLE_VALUE}")  # fmt: skip


@dataclass(frozen=True)
class OptimizerName:
    """What a TF1 name says about optimizer state.

    ``kind`` is ``"slot"`` (``variable`` + ``slot_name``) or ``"non_slot"``
    (``local`` is its name under the optimizer). ``group`` names the
    optimizer instance (``Adam``, ``training/Adagrad``).
    """

    kind: str
    group: str
    tf1_name: str
    variable: str | None = None
    slot_name: str | None = None
    local: str | None = None


def _find_variable(candidate: str, stored: set[str]) -> str | None:
    parts = candidate.split("/")
    for i in range(len(parts)):
        name = "/".join(parts[i:])
        if name in stored:
            return name
    return None


def classify_optimizer_names(names: Iterable[str]) -> dict[str, OptimizerName]:
    """Recognize optimizer state among ``names`` (the other names are absent
    from the result). A slot is recognized only when its variable is stored."""
    names = list(names)
    stored = set(names)
    found: dict[str, OptimizerName] = {}
    for name in names:
        info = _tf1_slot(name, stored) or _keras_v2(name, stored)
        if info is None and TF1_NON_SLOTS.match(name.rsplit("/", 1)[-1]):
            info = OptimizerName("non_slot", "Adam", name, local=name.rsplit("/", 1)[-1])
        if info is not None:
            found[name] = info
    slot_vars = {i.variable for i in found.values() if i.kind == "slot"}
    return {k: v for k, v in found.items() if k not in slot_vars}


def _tf1_slot(name: str, stored: set[str]) -> OptimizerName | None:
    m = _TF1_SUFFIX.match(name)
    if m is None:
        return None
    var = _find_variable(m["var"], stored)
    if var is None:
        return None
    opt, index = m["opt"], int(m["n"] or 0)
    slots = TF1_SLOTS[opt]
    if opt == "RMSProp" and f"{m['var']}/RMSProp_2" in stored:
        slots = ("rms", "mg", "momentum")
    if index >= len(slots):
        return None
    return OptimizerName("slot", opt, name, variable=var, slot_name=slots[index])


def _keras_v2(name: str, stored: set[str]) -> OptimizerName | None:
    m = _KERAS_V2.match(name)
    if m is None:
        return None
    group = f"{m['scope']}{m['opt']}"
    rest = m["rest"]
    if "/" not in rest:
        if rest not in KERAS_V2_HYPERS:
            return None
        return OptimizerName("non_slot", group, name, local=rest)
    var_part, slot = rest.rsplit("/", 1)
    var = var_part if var_part in stored else None
    if var is None:
        return None
    return OptimizerName("slot", group, name, variable=var, slot_name=slot)


def tf1_slot_suffix(slot_name: str, sibling_slots: Iterable[str]) -> str:
    """The TF1 suffix (``Adam_1``) for TF2 slot ``slot_name`` of a variable
    whose slots are ``sibling_slots``; unknown slots keep their own name."""
    siblings = set(sibling_slots)
    if "rms" in siblings:
        order = ("rms", "mg", "momentum") if "mg" in siblings else ("rms", "momentum")
        return _suffix("RMSProp", order.index(slot_name)) if slot_name in order else slot_name
    if "linear" in siblings and slot_name in ("accum", "accumulator", "linear"):
        return "Ftrl_1" if slot_name == "linear" else "Ftrl"
    if "accum_update" in siblings:
        return {"accum": "Adadelta", "accum_update": "Adadelta_1"}.get(slot_name, slot_name)
    table = {"m": "Adam", "v": "Adam_1", "momentum": "Momentum", "accumulator": "Adagrad",
             "gradient_accumulator": "AdagradDA",
             "gradient_squared_accumulator": "AdagradDA_1"}  # fmt: skip
    return table.get(slot_name, slot_name)


def _suffix(opt: str, index: int) -> str:
    return opt if index == 0 else f"{opt}_{index}"
