"""Resolving a ``RuleSet`` against one source and one target into exact renames.

Two things a regex cannot say:

* **Pairing by order** (``[[pair]]``). Keras numbers automatically named
  layers from a per-process counter (``conv2d_94`` in the second model a
  process builds), so no regex over target names names "the 5th convolution".
  A pairing takes the source scopes in order and the target layers of one
  class in creation order, and pairs them one to one.
* **Exponential moving averages.** ``tf.train.ExponentialMovingAverage``
  keeps a shadow ``<var>/ExponentialMovingAverage`` beside each averaged
  variable; serving weights are often the shadows. With ``ema=True`` each
  shadow takes its variable's place (same target, same transform) and the raw
  variable is dropped; without it the shadows are dropped, and say so.

The result is the same ``RuleSet`` with ``exact`` renames added, which every
planner applies like any rule (first, by dict lookup). Pure: names in, rules out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .rules import Pairing, Rule, RuleError, RuleSet, apply_rules, exact_rule
from .safe_regex import SafeRegex

EMA_SUFFIX = "ExponentialMovingAverage"
_SNAKE_1 = re.compile(r"(.)([A-Z][a-z]+)")
_SNAKE_2 = re.compile(r"([a-z])([A-Z])")


@dataclass(frozen=True)
class TargetLayer:
    """A target layer as pairing sees it: its name, its class, its position in
    the model's layer order, and the names of its variables (``kernel``...)."""

    name: str
    class_name: str
    position: int
    variables: tuple[str, ...] = ()


def snake_case(class_name: str) -> str:
    """Keras's default layer name for a class: ``Conv2D`` -> ``conv2d``,
    ``BatchNormalization`` -> ``batch_normalization``."""
    return _SNAKE_2.sub(r"\1_\2", _SNAKE_1.sub(r"\1_\2", class_name)).lower()


def creation_index(layer: TargetLayer) -> int | None:
    """The per-class counter in an automatic Keras name (``conv2d`` 0,
    ``conv2d_7`` 7); None for a name the user chose."""
    m = re.fullmatch(re.escape(snake_case(layer.class_name)) + r"(?:_(\d+))?", layer.name)
    if m is None:
        return None
    return int(m.group(1) or 0)


def source_scopes(pair: Pairing, keys: Iterable[str]) -> list[str]:
    """The source scopes ``pair`` takes, in its order."""
    regex = SafeRegex(pair.source)  # linear time: rules are user input
    found: set[str] = set()
    for key in keys:
        for suffix in pair.variables:
            if key.endswith("/" + suffix):
                scope = key[: -len(suffix) - 1]
                if regex.fullmatch(scope):
                    found.add(scope)
    if pair.order == "name":
        return sorted(found)
    if pair.order == "natural":
        return sorted(found, key=natural_key)
    groups = [SafeRegex(f"^(?:{g})") for g in pair.order]  # linear time, like every rule

    def group_of(scope: str) -> int:
        for i, g in enumerate(groups):
            if g.search(scope):
                return i
        raise RuleError(
            f"pair {pair.label!r}: source scope {scope!r} matches none of its 'order' regexes"
        )

    return sorted(found, key=lambda s: (group_of(s), natural_key(s)))


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key comparing runs of digits as numbers: ``a_2`` < ``a_10``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name) if p)


def target_layers(pair: Pairing, layers: Sequence[TargetLayer]) -> list[TargetLayer]:
    """The target layers ``pair`` takes, in its target order."""
    name = SafeRegex(pair.target_name) if pair.target_name else None
    chosen = [
        layer
        for layer in layers
        if layer.class_name == pair.target_class and (name is None or name.fullmatch(layer.name))
    ]
    if pair.target_order == "model":
        return sorted(chosen, key=lambda layer: layer.position)
    counters = {}
    for layer in chosen:
        index = creation_index(layer)
        if index is None:
            raise RuleError(
                f"pair {pair.label!r}: layer {layer.name!r} ({layer.class_name}) has a name "
                "chosen by hand, so its creation order is unknown; select the layers with "
                'target_name, or use target_order = "model"'
            )
        counters[layer.name] = index
    return sorted(chosen, key=lambda layer: counters[layer.name])


def expand_pairs(
    pairs: Iterable[Pairing], keys: Sequence[str], layers: Sequence[TargetLayer]
) -> dict[str, Rule]:
    """Source key -> exact rename rule, for every key a pairing takes."""
    out: dict[str, Rule] = {}
    present = set(keys)
    for pair in pairs:
        scopes = source_scopes(pair, keys)
        mates = target_layers(pair, layers)
        if len(scopes) != len(mates):
            raise RuleError(
                f"pair {pair.label!r}: {len(scopes)} source scopes but {len(mates)} target "
                f"{pair.target_class} layers (first scopes: {scopes[:2]}, first layers: "
                f"{[m.name for m in mates[:2]]})"
            )
        for scope, layer in zip(scopes, mates, strict=True):
            for suffix, var in pair.variables.items():
                key = f"{scope}/{suffix}"
                if key in present:
                    label = f"{pair.label}: {scope} -> {layer.name}"
                    out[key] = exact_rule(key, f"{layer.name}/{var}", name=label)
    return out


def ema_renames(
    keys: Sequence[str], rules: RuleSet, *, ema: bool, suffix: str = EMA_SUFFIX
) -> dict[str, Rule]:
    """Exact rules for EMA shadows (and, with ``ema``, their raw variables)."""
    present = set(keys)
    out: dict[str, Rule] = {}
    for shadow in keys:
        var, sep, last = shadow.rpartition("/")
        if not sep or last != suffix or var not in present:
            continue
        if not ema:
            out[shadow] = exact_rule(shadow, None, name=f"{suffix} shadow (use it with ema=True)")
            continue
        new, rule = apply_rules(var, rules)
        if new is None:  # the variable itself is dropped: so is its shadow
            out[shadow] = exact_rule(shadow, None, name=f"{suffix} shadow of a dropped variable")
            continue
        transform = rule.transform if rule is not None else None
        out[shadow] = exact_rule(shadow, new, transform, name=f"{suffix} shadow of {var}")
        out[var] = exact_rule(var, None, name=f"replaced by its {suffix} shadow (ema=True)")
    return out


def resolve(
    rules: RuleSet | Sequence[Rule] | None,
    keys: Sequence[str],
    layers: Sequence[TargetLayer] = (),
    *,
    ema: bool = False,
) -> RuleSet:
    """``rules`` with its pairings and the EMA choice turned into exact renames."""
    base = rules if isinstance(rules, RuleSet) else RuleSet(rules or ())
    paired = base.with_exact(expand_pairs(base.pairs, keys, layers)) if base.pairs else base
    return paired.with_exact(ema_renames(keys, paired, ema=ema))


def layers_of(model: Any) -> list[TargetLayer]:
    """Every layer of a Keras ``model`` (nested models included), as pairing
    sees it. Duck-typed: reads ``layers``, ``name`` and ``weights``' paths."""
    out: list[TargetLayer] = []

    def walk(m: Any) -> None:
        for layer in getattr(m, "layers", ()):
            names = tuple(str(v.path).rsplit("/", 1)[-1] for v in getattr(layer, "weights", ()))
            out.append(TargetLayer(layer.name, type(layer).__name__, len(out), names))
            if getattr(layer, "layers", None) and layer is not m:
                walk(layer)

    walk(model)
    return out


def has_ema_shadows(keys: Iterable[str], suffix: str = EMA_SUFFIX) -> bool:
    return any(k.rsplit("/", 1)[-1] == suffix for k in keys)
