"""Public name of the digest-manifest module: ``legacy_saver.bundle.digest``."""

from .bundle.digest import *  # noqa: F403
from .bundle.digest import __all__  # noqa: F401
