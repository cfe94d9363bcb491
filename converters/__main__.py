"""``python -m converters``: the ``legacy-ckpt`` command line."""

import sys

from .cli import main

sys.exit(main())
