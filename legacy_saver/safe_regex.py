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

Patterns are parsed before they are compiled, and parsing recurses once per
nested group: more than ``MAX_GROUP_DEPTH`` nested groups are refused (a
``PatternError``, not a ``RecursionError``). A replacement template is checked
against its pattern once (``check_template``): a reference to a group the
pattern does not have (``\\2`` with one group, ``\\g<nope>``) or a bad escape is
a ``PatternError`` when a rule is made, not an ``IndexError`` when a name matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_GROUP_DEPTH", "MAX_PATTERN_CHARS", "PatternError", "SafeRegex"]

MAX_PATTERN_CHARS = 10_000
MAX_GROUP_DEPTH = 100  # nested groups; real rules nest a handful, Python's parser ~500
# the pieces of a replacement template RE2's Python wrapper treats as group references
_OCTAL = re.compile(r"\\[0-7]{3}")
_GROUP_REF = re.compile(r"\\(?:(?P<number>[1-9][0-9]?)|g<(?P<name>\w+)>)")
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
        depth = group_depth(pattern)
        if depth > MAX_GROUP_DEPTH:
            raise PatternError(f"nests {depth} groups; at most {MAX_GROUP_DEPTH} are allowed")
        try:
            python = re.compile(pattern)  # Python's diagnostics for plain syntax errors
        except re.error as exc:
            raise PatternError(f"is not a valid regex: {exc}") from None
        except RecursionError:  # nesting the depth count above did not see
            raise PatternError("nests groups too deeply to parse") from None
        self.groups = python.groups
        self.groupindex = dict(python.groupindex)
        self._templates: dict[str, tuple[str | _Ref, ...]] = {}
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

    def check_template(self, template: str) -> None:
        """Refuse a replacement ``template`` that ``sub`` could not expand: a group
        reference the pattern lacks, or a bad escape (``PatternError``)."""
        self._template(template)

    def _template(self, template: str) -> tuple[str | _Ref, ...]:
        """``template`` as literal text (escapes decoded) and group references, with
        the syntax of RE2's ``sub`` (``\\1``-``\\99``, ``\\g<N>``, ``\\g<name>``; a
        three-digit octal escape is text). Cached: a rule expands one template per name."""
        cached = self._templates.get(template)
        if cached is not None:
            return cached
        pieces: list[str | _Ref] = []
        raw, at = [], 0
        while (slash := template.find("\\", at)) != -1:
            raw.append(template[at:slash])
            ref = None if _OCTAL.match(template, slash) else _GROUP_REF.match(template, slash)
            if ref is None:  # an escape such as \n or \\, decoded with the literal text
                raw.append(template[slash : slash + 2])
                at = slash + 2
                continue
            pieces.append(_decode("".join(raw), template))
            raw = []
            pieces.append(self._group(ref.group("number") or ref.group("name"), ref.group(0)))
            at = ref.end()
        raw.append(template[at:])
        pieces.append(_decode("".join(raw), template))
        self._templates[template] = out = tuple(p for p in pieces if p != "")
        return out

    def _group(self, group: str, spelled: str) -> _Ref:
        if group.isdigit():
            if int(group) > self.groups:
                raise PatternError(f"replacement refers to group {spelled}, but the pattern "
                                   f"has {self.groups} group(s)")  # fmt: skip
            return _Ref(int(group))
        if group not in self.groupindex:
            known = ", ".join(sorted(self.groupindex)) or "none"
            raise PatternError(f"replacement refers to group {spelled}, which the pattern "
                               f"does not name (named groups: {known})")  # fmt: skip
        return _Ref(self.groupindex[group])

    def sub(self, template: str, text: str, count: int = 0) -> str:
        """``text`` with matches replaced by ``template`` (``\\1``, ``\\g<name>``); a
        template ``check_template`` refuses raises ``PatternError``. The expansion is
        ours: RE2's Python wrapper decodes the template's text as Latin-1, so ``日本``
        in a replacement came out as mojibake."""
        pieces = self._template(template)
        out, at = [], 0
        for n, m in enumerate(self._regex.finditer(text)):
            if count and n >= count:
                break
            out.append(text[at : m.start()])
            out.extend(p if isinstance(p, str) else (m.group(p.index) or "") for p in pieces)
            at = m.end()
        out.append(text[at:])
        return "".join(out)


@dataclass(frozen=True)
class _Ref:
    """A group reference in a replacement template."""

    index: int


def _decode(raw: str, template: str) -> str:
    """Template text with its escapes decoded (``\\n``, ``\\\\``, ``\\x41``), other
    characters kept as they are (any Unicode)."""
    try:
        return raw.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as exc:
        raise PatternError(f"replacement {template!r} has a bad escape: {exc.reason}") from None


def group_depth(pattern: str) -> int:
    """How deeply groups nest in ``pattern`` (escapes and character classes skipped)."""
    depth = deepest = 0
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1
            i += pattern[i : i + 1] == "^"
            i += pattern[i : i + 1] == "]"  # a ] first in a class is literal
            continue
        elif c == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif c == ")":
            depth = max(depth - 1, 0)
        i += 1
    return deepest
