"""Public name of the state-file module: ``legacy_saver.bundle.state`` (see its docstring)."""

from .bundle.state import *  # noqa: F403
from .bundle.state import __all__  # noqa: F401
