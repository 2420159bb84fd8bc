"""Parsing and checking what a user asks of a follow: intervals, dates, title filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from mediaferry.errors import UrlRejected

__all__ = [
    "MAX_REGEX_LENGTH",
    "compile_filter",
    "parse_date",
    "parse_every",
    "title_matches",
]

MAX_REGEX_LENGTH = 300
MAX_TITLE_MATCHED = 500  # filters look at this much of a title: bounded work per entry

_EVERY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|w)?s?\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400}
_UNIT_S["w"] = 7 * 86400
# a quantified group whose body is itself quantified or has alternatives: (a+)+, (a|aa)*,
# (\w*)* ... the shapes that backtrack exponentially on a near-miss
_NESTED_RE = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*}]|\|)(?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d*,)")
_BACKREF_RE = re.compile(r"\\[1-9]|\(\?P=")


def parse_every(text: str | int | float, minimum: int) -> int:
    """``"6h"``, ``"30m"``, ``"1d"``, ``"90"`` (seconds) → seconds, at least ``minimum``."""
    if isinstance(text, int | float):
        seconds = int(text)
    else:
        found = _EVERY_RE.match(text)
        if not found:
            raise UrlRejected(f"invalid interval {text!r}; use e.g. 30m, 6h or 1d")
        unit = (found.group(2) or "s").lower()
        seconds = int(float(found.group(1)) * _UNIT_S[unit])
    if seconds < minimum:
        raise UrlRejected(f"checking every {seconds} s is too often; the minimum is {minimum} s")
    if seconds > 365 * 86400:
        raise UrlRejected("the interval is longer than a year")
    return seconds


def parse_date(text: str) -> datetime:
    """``YYYY-MM-DD`` → midnight UTC of that day."""
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        raise UrlRejected(f"invalid date {text!r}; use YYYY-MM-DD") from None
    return day.replace(tzinfo=UTC)


def compile_filter(pattern: str | None, what: str) -> re.Pattern[str] | None:
    """A title filter, refused when it does not compile or could take exponential time
    (nested quantifiers, backreferences) — it runs on text that sites control."""
    if pattern is None or pattern == "":
        return None
    if len(pattern) > MAX_REGEX_LENGTH:
        raise UrlRejected(f"the {what} filter is longer than {MAX_REGEX_LENGTH} characters")
    if _NESTED_RE.search(pattern) or _BACKREF_RE.search(pattern):
        raise UrlRejected(
            f"the {what} filter could take exponential time (nested repetition or a "
            "backreference); simplify it"
        )
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise UrlRejected(f"the {what} filter is not a valid regular expression: {exc}") from None


def title_matches(
    title: str | None, include: re.Pattern[str] | None, exclude: re.Pattern[str] | None
) -> bool:
    text = (title or "")[:MAX_TITLE_MATCHED]
    if include is not None and not include.search(text):
        return False
    return not (exclude is not None and exclude.search(text))
