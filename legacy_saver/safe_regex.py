"""User regexes that cannot hang: matched by RE2, in time linear in the name.

Used by the rules language (``converters.rules``, ``converters.pairing``) and by
``restore_variables(include=, exclude=)``. Those patterns are user input, and Python's
backtracking ``re`` takes exponential time on patterns such as ``^(a+)+$`` against a
long name that almost matches (catastrophic backtracking): ``convert`` hung. RE2
(``google-re2``) guarantees linear-time matching by construction, so no pattern can
hang and no timeout is needed. Its syntax is Python's for everything rules need —
groups, named groups ``(?P<name>...)``, alternation, classes, anchors,
``\\1``/``\\g<name>`` in the replacement — and it refuses what it cannot match
in linear time: lookarounds (``(?=``, ``(?!``, ``(?<=``) and backreferences
in the pattern (``\\1``). Those are refused when the pattern is compiled, with a
``PatternError`` saying so. One difference to know: ``$`` matches only at
the very end (Python's also matches before a final newline).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_PATTERN_CHARS", "PatternError", "SafeRegex"]

MAX_PATTERN_CHARS = 10_000
MAX_PROGRAM_BYTES = 64 << 20  # RE2's memory budget for one compiled pattern


class PatternError(ValueError):
    """A pattern is invalid, or uses what linear-time matching cannot do."""


def _options() -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print to stderr; the error is ours to raise
    options.max_mem = MAX_PROGRAM_BYTES
    return options


class SafeRegex:
    """A compiled pattern with what rules use: ``search``, ``fullmatch``, ``sub``."""

    def __init__(self, pattern: str) -> None:
        if len(pattern) > MAX_PATTERN_CHARS:
            raise PatternError(
                f"is {len(pattern)} characters long; at most {MAX_PATTERN_CHARS} are allowed"
            )
        try:
            re.compile(pattern)  # Python's diagnostics for plain syntax errors
        except re.error as exc:
            raise PatternError(f"is not a valid regex: {exc}") from None
        import re2

        try:
            self._regex = re2.compile(pattern, options=_options())
        except re2.error as exc:
            detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise PatternError(
                f"cannot be matched in linear time ({detail}): rules are matched by RE2, "
                "which has no lookarounds or backreferences; rewrite it without them"
            ) from None
        self.pattern = pattern

    def search(self, text: str) -> Any:
        """The first match in ``text`` (a match object with ``group``), or None."""
        return self._regex.search(text)

    def fullmatch(self, text: str) -> Any:
        """A match of the whole of ``text``, or None."""
        return self._regex.fullmatch(text)

    def sub(self, template: str, text: str, count: int = 0) -> str:
        """``text`` with matches replaced by ``template`` (``\\1``, ``\\g<name>``)."""
        return str(self._regex.sub(template, text, count=count))
