"""yt-dlp's extractor URL patterns as a table, used offline for detection and media ids.

Importing yt-dlp's extractor list (≈1,800 classes) costs ≈0.4 s per process and
compiling every pattern another ≈0.5 s, more than ``mediaferry add`` may take in
total. So the list is read once per installed yt-dlp into a plain table — each
extractor's key, class name, ``_VALID_URL`` patterns, the text a URL must contain
before a pattern can match (:mod:`._literals`) and, for the few extractors with
their own ``suitable``, what it adds — and kept as JSON under
``DATA_DIR/cache/`` (rebuilt when yt-dlp's files change). Detection then reads the
table with the standard library and compiles only the patterns whose required text
is in the URL; the answer is the one yt-dlp gives when every extractor is asked in
order (a test compares them). The Generic extractor, which claims every URL, is
left out.

The table's rows and file are :mod:`._extractor_table`; building it from yt-dlp
(with the rules of extractors that have their own ``suitable``) is
:mod:`._extractor_rules`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from mediaferry.sources._extractor_table import ASK, Entry, Rule, dump, load, ytdlp_fingerprint
from mediaferry.sources._literals import may_match

__all__ = ["CACHE_NAME", "extractor_key_for", "load_table", "temp_id_for"]

CACHE_NAME = "ytdlp-url-table.json"


@dataclass(frozen=True, slots=True)
class Table:
    entries: tuple[Entry, ...]
    by_class: dict[str, Entry]


_LOCK = threading.RLock()
_TABLE: Table | None = None


def load_table(cache_dir: Path | None = None) -> Table:
    """The table of this process: from ``cache_dir`` when it matches the installed
    yt-dlp, else built from yt-dlp and written there (best effort)."""
    global _TABLE
    if _TABLE is not None:
        return _TABLE
    with _LOCK:
        if _TABLE is not None:
            return _TABLE
        fingerprint = ytdlp_fingerprint()
        path = cache_dir / CACHE_NAME if cache_dir is not None else None
        entries = None
        if path is not None and fingerprint is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                entries = load(path.read_text(encoding="utf-8"), fingerprint)
        if entries is None:
            # imported here: ast, inspect and yt-dlp only when the table is built
            from mediaferry.sources._extractor_rules import build_table

            entries = build_table() if fingerprint is not None else ()
            if path is not None and fingerprint is not None:
                _write(path, dump(entries, fingerprint))
        _TABLE = Table(entries, {e.cls: e for e in entries})
        return _TABLE


def _write(path: Path, text: str) -> None:
    """Atomically (a reader never sees half a file). Only into an existing data
    folder (detection makes no data folder of its own); a folder that cannot be
    written only costs the next process the build."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _reset() -> None:
    """Forget the table of this process (tests)."""
    global _TABLE
    with _LOCK:
        _TABLE = None
    extractor_key_for.cache_clear()
    _compiled.cache_clear()


# -- matching ---------------------------------------------------------------------
@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _match(entry: Entry, url: str) -> re.Match[str] | None:
    if not may_match(entry.need, url):
        return None
    for pattern in entry.patterns:
        found = _compiled(pattern).match(url)
        if found:
            return found
    return None


def _ytdlp_class(key: str) -> Any:
    from yt_dlp.extractor import get_info_extractor

    return get_info_extractor(key)


def _suitable(table: Table, entry: Entry, url: str, depth: int = 0) -> bool:
    if entry.rule == ASK or depth > 10:
        try:
            return bool(_ytdlp_class(entry.key).suitable(url))
        except Exception:  # yt-dlp's own suitable failing: not this extractor
            return False
    if _match(entry, url) is None:
        return False
    rule = entry.rule
    if isinstance(rule, Rule):
        if rule.query:
            query = parse_qs(urlparse(url).query)
            if any(query.get(name, [None])[0] for name in rule.query):
                return False
        if any(_match(table.by_class[name], url) for name in rule.unlike):
            return False
        return not any(
            _suitable(table, table.by_class[name], url, depth + 1) for name in rule.exclude
        )
    return True


def _entry_for(url: str, cache_dir: Path | None) -> Entry | None:
    if not url.startswith(("http://", "https://")):
        return None
    table = load_table(cache_dir)
    lowered = url.lower() if url.isascii() else None
    for entry in table.entries:
        # may_match inline (the hot loop: ~1,750 entries per URL, most fail here)
        if lowered is not None and entry.need is not None and not entry.need.met_by(lowered):
            continue
        try:
            if _suitable(table, entry, url):
                return entry
        except re.error:
            continue
    return None


@lru_cache(maxsize=4096)
def extractor_key_for(url: str, cache_dir: Path | None = None) -> str | None:
    """The key (e.g. ``"Youtube"``) of the first extractor that claims ``url``."""
    entry = _entry_for(url, cache_dir)
    return entry.key if entry is not None else None


def temp_id_for(url: str, cache_dir: Path | None = None) -> tuple[str, str] | None:
    """``(extractor key, media id)`` from the URL alone, or None."""
    entry = _entry_for(url, cache_dir)
    if entry is None:
        return None
    try:
        if entry.own_id or entry.rule == ASK:
            media_id = _ytdlp_class(entry.key).get_temp_id(url)
        else:
            found = _match(entry, url)
            media_id = found.group("id") if found is not None else None
    except Exception:  # IndexError (no "id" group) and the like: no id
        return None
    if not media_id:
        return None
    return entry.key, str(media_id)
