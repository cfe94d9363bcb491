"""The presets by name: ``list_presets``, ``get``, ``detect``, ``register``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .base import Match, Preset, PresetError, Shapes

_PRESETS: dict[str, Preset] = {}
_LOADED = False
# Modules that define presets; each calls register() when imported. Cheap:
# none imports Keras or TensorFlow at module level.
PRESET_MODULES = ("slim_vgg", "slim_inception", "slim_resnet", "slim_mobilenet", "text_registry")


def register(preset: Preset) -> Preset:
    """Add ``preset`` under ``preset.name`` (a second preset with the same name is an error)."""
    if preset.name in _PRESETS and _PRESETS[preset.name] is not preset:
        raise PresetError(f"a preset named {preset.name!r} is already registered")
    _PRESETS[preset.name] = preset
    return preset


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    import importlib

    for module in PRESET_MODULES:
        importlib.import_module(f"{__package__}.{module}")
    _LOADED = True


def list_presets() -> list[Preset]:
    """Every registered preset, by name."""
    _load()
    return [_PRESETS[name] for name in sorted(_PRESETS)]


def get(name: str) -> Preset:
    """The preset called ``name`` (``PresetError`` naming the known ones if none)."""
    _load()
    try:
        return _PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(_PRESETS))
        raise PresetError(f"no preset named {name!r}; known presets: {known}") from None


@dataclass(frozen=True)
class Detection:
    """What ``detect`` found: the fitting ``preset`` and the ``options`` the
    checkpoint fixes, or ``preset is None`` and ``reason`` saying why none fits;
    ``matches`` holds every preset's verdict."""

    preset: Preset | None
    options: Mapping[str, object]
    reason: str
    matches: tuple[Match, ...]

    def require(self, where: str) -> Preset:
        if self.preset is None:
            raise PresetError(f"{where}: {self.reason}")
        return self.preset


def detect_shapes(shapes: Shapes) -> Detection:
    """The preset a checkpoint with these ``{name: shape}`` fits (pure)."""
    matches = tuple(p.match(shapes) for p in list_presets())
    fits = [m for m in matches if m.fits]
    if len(fits) == 1:
        return Detection(get(fits[0].preset), fits[0].options, "", matches)
    if len(fits) > 1:
        names = ", ".join(m.preset for m in fits)
        return Detection(None, {}, f"it fits several presets ({names}); pass one by name", matches)
    claimed = [m.reason for m in matches if m.claimed]
    if claimed:
        return Detection(None, {}, "it fits no preset: " + "; ".join(claimed), matches)
    scopes = sorted({k.split("/", 1)[0] for k in shapes})
    shown = ", ".join(scopes[:5]) + (", ..." if len(scopes) > 5 else "")
    return Detection(
        None,
        {},
        f"it fits no preset: its top-level scopes ({shown}) are no known family's",
        matches,
    )


def detect(reader: object) -> Detection:
    """The preset the checkpoint ``reader`` (a ``CheckpointReader``) fits."""
    keys = reader.keys()  # type: ignore[attr-defined]
    return detect_shapes({k: tuple(reader.shape(k)) for k in keys})  # type: ignore[attr-defined]
