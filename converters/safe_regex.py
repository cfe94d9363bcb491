"""Rule regexes that cannot hang (RE2): ``legacy_saver.safe_regex``, re-exported here, where
the rules language first used it."""

from legacy_saver.safe_regex import MAX_GROUP_DEPTH, MAX_PATTERN_CHARS, PatternError, SafeRegex

__all__ = ["MAX_GROUP_DEPTH", "MAX_PATTERN_CHARS", "PatternError", "SafeRegex"]
