"""What ``model.save_weights("x.weights.h5")`` would write, without writing it.

Keras 3 (``keras/src/saving/saving_lib.py``) walks the model: each saveable
it meets (the model, its layers in ``model.layers`` order, their sublayers,
seed generators...) gets an HDF5 group ``<path>/vars`` whose datasets ``"0"``,
``"1"``... are the saveable's own variables (trainable first, then the
others), and, when the saveable has a ``name``, that group's attribute
``name``. ``<path>`` is built from attribute names and, inside a list, the
snake-cased class name with a per-list counter (``layers/conv2d_5``), never
from ``layer.name`` (which depends on a per-process counter). The walk is
the same on every backend, so one file loads on TensorFlow, JAX and PyTorch.

Rather than re-implement that walk, ``keras_layout`` runs Keras's own
``saving_lib._save_state`` against a store that records what it is given and
writes nothing (the private function this module depends on, checked by
``tests/test_outputs_keras.py`` against a real ``save_weights`` on every
release we support).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LayoutVariable:
    """One dataset: ``<group>/vars/<key>``, and the variable it holds."""

    key: str
    shape: tuple[int, ...]
    dtype: str
    path: str  # the Keras variable's path, e.g. "conv2d_5/kernel"
    read: Callable[[], Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class LayoutGroup:
    """One saveable's group. ``eager`` groups exist even without variables
    (Keras creates a group at once when it has metadata to store)."""

    path: str
    metadata: tuple[tuple[str, str], ...]
    variables: tuple[LayoutVariable, ...]

    @property
    def vars_path(self) -> str:
        return f"{self.path}/vars" if self.path else "vars"

    @property
    def eager(self) -> bool:
        return bool(self.metadata)

    def dataset(self, key: str) -> str:
        return f"{self.vars_path}/{key}"


@dataclass(frozen=True)
class KerasLayout:
    """Every group ``save_weights`` would create, in the order it creates them."""

    groups: tuple[LayoutGroup, ...]

    def datasets(self) -> list[tuple[str, LayoutVariable]]:
        return [(g.dataset(v.key), v) for g in self.groups for v in g.variables]


def keras_layout(model: Any) -> KerasLayout:
    """The ``.weights.h5`` layout of ``model`` (a built Keras 3 model)."""
    import keras
    from keras.src.saving import saving_lib

    if not getattr(model, "built", False):
        raise ValueError("the target model is not built: call it once or give it an Input")

    groups: list[tuple[str, dict[str, str], list[LayoutVariable]]] = []

    class _Recorder(saving_lib.H5IOStore):  # type: ignore[misc]
        def __init__(self) -> None:  # no file: only record
            self.mode = "w"

        def __bool__(self) -> bool:
            return True

        def make(self, path: str, metadata: dict[str, str] | None = None) -> _Recorder:
            groups.append((path, dict(metadata or {}), []))
            return self

        def __setitem__(self, key: str, value: Any) -> None:
            groups[-1][2].append(_variable(key, value, keras))

        def close(self) -> None:
            pass

    saving_lib._save_state(
        model,
        weights_store=_Recorder(),
        assets_store=None,
        inner_path="",
        visited_saveables=set(),
    )
    return KerasLayout(
        tuple(
            LayoutGroup(path, tuple((k, str(v)) for k, v in meta.items()), tuple(variables))
            for path, meta, variables in groups
            if meta or variables
        )
    )


def _variable(key: str, value: Any, keras: Any) -> LayoutVariable:
    shape = tuple(int(d) for d in value.shape)
    dtype = keras.backend.standardize_dtype(value.dtype)
    path = getattr(value, "path", None) or key
    return LayoutVariable(
        str(key), shape, dtype, str(path), read=lambda: keras.ops.convert_to_numpy(value)
    )
