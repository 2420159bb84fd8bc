"""The table of yt-dlp's extractor URL patterns (see :mod:`._extractors`): its rows and
their JSON form. Standard library only."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediaferry.sources._literals import Need

__all__ = [
    "ASK",
    "DEFAULT_METHODS",
    "TABLE_FORMAT",
    "Entry",
    "Rule",
    "dump",
    "load",
    "ytdlp_fingerprint",
]

TABLE_FORMAT = 1  # bump when the file's layout or the rules' reading changes
# yt-dlp's own methods: a match of ``_VALID_URL`` (a pattern or several)
DEFAULT_METHODS = frozenset(
    f"{base}.{name}"
    for base in ("LazyLoadExtractor", "InfoExtractor")
    for name in ("suitable", "_match_valid_url", "get_temp_id", "_match_id")
)
ASK = "ask"  # a rule this module cannot read: yt-dlp answers for the extractor


@dataclass(frozen=True, slots=True)
class Rule:
    """What an extractor's own ``suitable`` adds to its pattern: it declines URLs
    that one of ``exclude`` (class names) claims, that the pattern of one of
    ``unlike`` matches, or that carry one of the ``query`` parameters."""

    exclude: tuple[str, ...] = ()
    query: tuple[str, ...] = ()
    unlike: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Entry:
    key: str  # yt-dlp's ie_key, e.g. "Youtube"
    cls: str  # class name, e.g. "YoutubeIE" (what rules refer to)
    patterns: tuple[str, ...]  # () for ``_VALID_URL = False``: never matches by itself
    need: Need | None  # what a URL must contain to match; None: always try
    rule: Rule | str | None  # None: plain pattern match; ASK: yt-dlp decides
    own_id: bool  # its ``get_temp_id`` is its own: yt-dlp computes the id


# -- fingerprint of the installed yt-dlp (without importing it) -------------------
def ytdlp_fingerprint() -> dict[str, Any] | None:
    """Where yt-dlp is installed and the size/mtime of its version and extractor
    list files; None when it is not installed."""
    spec = importlib.util.find_spec("yt_dlp")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    files = {}
    for rel in ("version.py", "extractor/lazy_extractors.py", "extractor/_extractors.py"):
        try:
            st = (root / rel).stat()
        except OSError:
            continue
        files[rel] = [st.st_size, st.st_mtime_ns]
    return {"format": TABLE_FORMAT, "root": str(root), "files": files}


def _need_to_json(need: Need | None) -> Any:
    if need is None:
        return None
    return [list(need.literals), [[_need_to_json(n) for n in alts] for alts in need.choices]]


def _need_from_json(data: Any) -> Need | None:
    if data is None:
        return None
    literals, choices = data
    return Need(
        tuple(literals),
        tuple(tuple(_need_from_json(n) for n in alts) for alts in choices),  # type: ignore[misc]
    )


def _rule_to_json(rule: Rule | str | None) -> Any:
    if isinstance(rule, Rule):
        return [list(rule.exclude), list(rule.query), list(rule.unlike)]
    return rule


def _rule_from_json(data: Any) -> Rule | str | None:
    if isinstance(data, list):
        return Rule(tuple(data[0]), tuple(data[1]), tuple(data[2]))
    return ASK if data == ASK else None


def dump(entries: tuple[Entry, ...], fingerprint: dict[str, Any]) -> str:
    rows = [
        [e.key, e.cls, list(e.patterns), _need_to_json(e.need), _rule_to_json(e.rule), e.own_id]
        for e in entries
    ]
    return json.dumps({"fingerprint": fingerprint, "entries": rows}, separators=(",", ":"))


def load(text: str, fingerprint: dict[str, Any]) -> tuple[Entry, ...] | None:
    try:
        data = json.loads(text)
        if data.get("fingerprint") != fingerprint:
            return None
        return tuple(
            Entry(k, c, tuple(p), _need_from_json(n), _rule_from_json(r), bool(i))
            for k, c, p, n, r, i in data["entries"]
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # a damaged or foreign file: rebuilt
