"""Substrings a URL must contain before a regular expression can match it.

Compiling yt-dlp's ≈1,800 extractor patterns costs about half a second per process;
scanning their source text for the literal text they require costs a few
milliseconds. A pattern whose required text is not in a URL cannot match it, so
only the patterns that pass this cheap test are ever compiled.

The scan is conservative: it may require *less* than the pattern does, never more.
Literal runs end at anything that is not a plain character; optional parts,
look-arounds and syntax it does not model require nothing; an alternation requires
one of its branches. Text is compared in ASCII lower case, which also covers
``(?i)`` patterns (so a non-ASCII URL must always go to the real regular
expression, see :func:`may_match`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Need", "may_match", "required_text"]

# (?x) ignores whitespace and allows comments: text is not what it seems (a
# pattern-wide (?x) is undone first, see _plain)
_OPAQUE = re.compile(r"\(\?[a-zA-Z]*x")
_GLOBAL_VERBOSE = re.compile(r"\(\?[aiLmsu]*x[aiLmsux]*\)")
# what (?x) ignores: whitespace and comments, but not inside escapes or classes
_VERBOSE_NOISE = re.compile(r"(\\.|\[\^?\]?(?:[^\]\\]|\\.)*\])|\s+|#[^\n]*", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Need:
    """All of ``literals`` and, for each entry of ``choices``, one of its needs."""

    literals: tuple[str, ...] = ()
    choices: tuple[tuple[Need, ...], ...] = ()

    def met_by(self, text: str) -> bool:
        # plain loops: asked of every extractor for every URL (generators cost 4x)
        for lit in self.literals:
            if lit not in text:
                return False
        for alternatives in self.choices:
            for need in alternatives:
                if need.met_by(text):
                    break
            else:
                return False
        return True


class _GiveUp(Exception):
    """The pattern uses syntax the scanner does not model."""


_TOKEN = re.compile(
    r"""
    (?P<esc>\\.)
  | (?P<cls>\[\^?\]?(?:[^\]\\]|\\.)*\])
  | (?P<bad>[\[\\])                               # an unterminated class or escape
  | (?P<group>\((?:\?P<\w+>|\?[aiLmsu]*(?:-[imsx]+)?:|(?!\?)))  # must match here
  | (?P<other>\(\?)                               # look-arounds, flags, conditionals
  | (?P<close>\))
  | (?P<alt>\|)
  | (?P<quant>(?:[*+?]|\{(?P<min>\d*)(?:,\d*)?\})[?+]?)
  | (?P<any>[.^$])
  | (?P<run>[^\\\[()|*+?{.^$]+)
  | (?P<char>.)                                   # a "{" that is no quantifier
    """,
    re.VERBOSE | re.DOTALL,
)
# escapes of letters and digits that stand for one character class or position
_SINGLE_ESCAPES = frozenset("dDwWsSbBAZntrfva")
_Token = tuple[str, str, bool]  # kind, text, and for quantifiers: may it be zero times


def _tokens(pattern: str) -> list[_Token]:
    out: list[_Token] = []
    for m in _TOKEN.finditer(pattern):
        kind = m.lastgroup or "char"
        if kind == "bad":
            raise _GiveUp
        optional = kind == "quant" and (m.group()[0] in "*?" or m.group("min") in ("", "0"))
        out.append((kind, m.group(), optional))
    return out


class _Branch:
    """Collects the need of one alternative while its tokens are read."""

    def __init__(self) -> None:
        self.literals: list[str] = []
        self.choices: list[tuple[Need, ...]] = []
        self.run: list[str] = []

    def end_run(self) -> None:
        if len(self.run) > 1:
            self.literals.append("".join(self.run).lower())
        self.run.clear()

    def need(self) -> Need:
        self.end_run()
        return Need(tuple(self.literals), tuple(self.choices))


def _parse(tokens: list[_Token], i: int) -> tuple[Need, int]:
    """The need of the (sub-)pattern starting at token ``i``, and the index of the
    token that ended it (a ``)`` or the end)."""
    branches: list[Need] = []
    branch = _Branch()
    while i < len(tokens) and tokens[i][0] != "close":
        kind, text, _ = tokens[i]
        i += 1
        if kind == "alt":
            branches.append(branch.need())
            branch = _Branch()
            continue
        if kind == "quant":
            raise _GiveUp  # a quantifier with nothing before it
        group: Need | None = None
        if kind in ("group", "other"):
            try:
                group, i = _parse(tokens, i)
            except _GiveUp:
                group, i = None, _close(tokens, i)
            if i >= len(tokens):
                raise _GiveUp  # unbalanced
            i += 1
            group = group if kind == "group" else None
        optional = repeated = False
        if i < len(tokens) and tokens[i][0] == "quant":
            optional, repeated = tokens[i][2], True
            i += 1
        literal = ""
        if kind in ("run", "char"):
            literal = text
        elif kind == "esc":
            if text[1].isalnum():
                if text[1] not in _SINGLE_ESCAPES:
                    raise _GiveUp  # \x.. \u.... \N{…} octal, back-references
            else:
                literal = text[1]
        if repeated and literal:
            branch.run.extend(literal[:-1])  # the quantifier binds the last character
            literal = literal[-1]
        if literal and not optional:
            for c in literal:
                if c.isascii():
                    branch.run.append(c)
                else:
                    branch.end_run()  # (?i) may fold it to an ASCII letter
            if repeated:
                branch.end_run()
            continue
        branch.end_run()
        if group is not None and not optional:
            branch.literals.extend(group.literals)
            branch.choices.extend(group.choices)
    branches.append(branch.need())
    if len(branches) == 1:
        return branches[0], i
    return Need(choices=(tuple(branches),)), i


def _close(tokens: list[_Token], i: int) -> int:
    """Index of the ``)`` that closes the group whose content starts at ``i``."""
    depth = 0
    while i < len(tokens):
        kind = tokens[i][0]
        if kind in ("group", "other"):
            depth += 1
        elif kind == "close":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise _GiveUp


def _plain(pattern: str) -> str:
    """``pattern`` with a pattern-wide ``(?x)`` undone: unescaped whitespace outside
    character classes and ``#`` comments removed (what ``re`` ignores)."""
    flags = _GLOBAL_VERBOSE.match(pattern)
    if flags is None:
        return pattern
    return _VERBOSE_NOISE.sub(lambda m: m.group(1) or "", pattern[flags.end() :])


def required_text(patterns: object) -> Need | None:
    """What a string must contain (lower-cased) for one of ``patterns`` (a pattern
    string, or a tuple or list of them) to match it with ``re.match``; None when the
    scanner cannot tell."""
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, tuple | list) or not patterns:
        return None
    needs: list[Need] = []
    for pattern in patterns:
        if not isinstance(pattern, str) or "(?#" in pattern:
            return None
        plain = _plain(pattern)
        if _OPAQUE.search(plain):
            return None
        try:
            tokens = _tokens(plain)
            need, end = _parse(tokens, 0)
        except _GiveUp:
            return None
        if end != len(tokens):
            return None  # an unbalanced ")"
        needs.append(need)
    return needs[0] if len(needs) == 1 else Need(choices=(tuple(needs),))


def may_match(need: Need | None, url: str) -> bool:
    """False only when a pattern with this need cannot match ``url``."""
    if need is None or not url.isascii():
        return True
    return need.met_by(url.lower())
