"""The library: full-text search over archived media (DESIGN.md §3, §9).

SQLite uses the FTS5 table ``media_items_fts``; PostgreSQL the GIN index on
:data:`PG_DOCUMENT` (both made by migration 0002). User input never reaches the
full-text syntax as-is: it is split into words, and every word is quoted, so quotes,
``*``, ``-``, ``NEAR`` or unbalanced parentheses are only ever text. The last word
also matches as a prefix. ``fuzzy=True`` ranks candidates with rapidfuzz so typos
still find items.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process, utils
from sqlalchemy import ColumnElement, column, func, or_, select, table, text

from mediaferry.db.models import MediaItem

if TYPE_CHECKING:
    from mediaferry.db.engine import Database

__all__ = [
    "PG_DOCUMENT",
    "LibraryQueryError",
    "parse_size",
    "query_terms",
    "search_library",
]

# Must stay identical to the expression indexed by migration 0002.
PG_DOCUMENT = (
    "to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(performer, '')"
    " || ' ' || coalesce(album, ''))"
)

MAX_TERMS = 16
MAX_LIMIT = 1000
FUZZY_CUTOFF = 70.0
FUZZY_CANDIDATES = 5000
_FTS = table("media_items_fts", column("rowid"), column("rank"))


class LibraryQueryError(ValueError):
    """The search request cannot be understood (an empty query, a bad size...)."""


# ---------------------------------------------------------------- sizes

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "k": 1024,
    "m": 1024**2,
    "g": 1024**3,
    "t": 1024**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def parse_size(value: str | int) -> int:
    """Bytes from ``"10MB"`` (KB/MB/GB/TB are powers of 1000), ``"1.5GiB"`` or
    ``"10M"`` (KiB/MiB/GiB/TiB and K/M/G/T are powers of 1024) or plain ``"1234"``.

    Raises :class:`LibraryQueryError` for anything else.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise LibraryQueryError(f"a size cannot be negative: {value}")
        return value
    match = _SIZE.match(str(value))
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise LibraryQueryError(
            f"{str(value)[:40]!r} is not a size; use e.g. 500KB, 10MB, 1.5GB, 2GiB or bytes"
        )
    return int(float(match.group(1)) * _UNITS[unit])


# ---------------------------------------------------------------- query parsing


def _is_word_char(ch: str) -> bool:
    # letters, marks (Arabic harakat, combining accents) and digits, as FTS5's
    # unicode61 tokenizer and PostgreSQL's parser see words
    return unicodedata.category(ch)[0] in "LMN"


def query_terms(query: str) -> list[str]:
    """The words of ``query``, lower-cased, at most :data:`MAX_TERMS`."""
    terms: list[str] = []
    word: list[str] = []
    for ch in unicodedata.normalize("NFKC", query):
        if _is_word_char(ch):
            word.append(ch)
        elif word:
            terms.append("".join(word).lower())
            word = []
    if word:
        terms.append("".join(word).lower())
    return terms[:MAX_TERMS]


def _fts5_match(terms: Sequence[str], *, any_term: bool = False) -> str:
    """An FTS5 query: every term quoted; all terms (or any) must match; the last
    term (with ``any_term``: every term) also matches as a prefix."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    for i in range(0 if any_term else len(quoted) - 1, len(quoted)):
        quoted[i] += "*"
    return (" OR " if any_term else " ").join(quoted)


def _pg_tsquery(terms: Sequence[str], *, any_term: bool = False) -> str:
    """The same for PostgreSQL's ``to_tsquery``."""
    quoted = ["'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms]
    for i in range(0 if any_term else len(quoted) - 1, len(quoted)):
        quoted[i] += ":*"
    return (" | " if any_term else " & ").join(quoted)


# ---------------------------------------------------------------- search


def _filters(
    fmt: str | None,
    min_size: int | None,
    max_size: int | None,
    source: str | None,
    chat_id: int | None,
    channel_ids: Sequence[int] | None = None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if fmt:
        where.append(func.lower(MediaItem.file_format) == fmt.lower().lstrip("."))
    if min_size is not None:
        where.append(MediaItem.size >= min_size)
    if max_size is not None:
        where.append(MediaItem.size <= max_size)
    if source:
        where.append(func.upper(MediaItem.source_type) == source.upper())
    # the bot chat an item was asked from, and/or the Telegram chats it was archived
    # from (issue 10); both given (a bare id, which may be either): one of them
    by_chat = MediaItem.chat_id == chat_id if chat_id is not None else None
    by_channel = (
        MediaItem.channel_id.in_(list(channel_ids) or [0]) if channel_ids is not None else None
    )
    if by_chat is not None and by_channel is not None:
        where.append(or_(by_chat, by_channel))
    elif by_chat is not None:
        where.append(by_chat)
    elif by_channel is not None:
        where.append(by_channel)
    return where


def _match_stmt(
    db: Database,
    terms: Sequence[str],
    where: list[ColumnElement[bool]],
    limit: int,
    *,
    any_term: bool = False,
) -> Any:
    if db.is_postgres:
        tsq = _pg_tsquery(terms, any_term=any_term)
        matches = text(f"{PG_DOCUMENT} @@ to_tsquery('simple', :tsq)").bindparams(tsq=tsq)
        # Newest first: ts_rank would rebuild every match's tsvector (the index is on
        # an expression), ~3x the time of the search itself on 100k items.
        return select(MediaItem).where(matches, *where).order_by(MediaItem.id.desc()).limit(limit)
    fts = _fts5_match(terms, any_term=any_term)
    matches = text("media_items_fts MATCH :fts").bindparams(fts=fts)
    if not where:  # rank and cut inside FTS5 before touching media_items
        best = (
            select(_FTS.c.rowid, _FTS.c.rank)
            .where(matches)
            .order_by(_FTS.c.rank)
            .limit(limit)
            .subquery()
        )
        return (
            select(MediaItem)
            .join(best, best.c.rowid == MediaItem.id)
            .order_by(best.c.rank, MediaItem.id.desc())
        )
    return (
        select(MediaItem)
        .join(_FTS, _FTS.c.rowid == MediaItem.id)
        .where(matches, *where)
        .order_by(_FTS.c.rank, MediaItem.id.desc())
        .limit(limit)
    )


async def telegram_chat_ids(db: Database, name: str) -> list[int]:
    """Ids of the archived Telegram chats called ``name`` (@username, username, title,
    or the id itself), for ``search --chat``."""
    from mediaferry.db.models import TelegramChannel

    value = name.strip()
    ids: set[int] = set()
    if value.startswith("-100") and value[4:].isdigit():
        ids.add(int(value[4:]))
    elif value.isdigit():
        ids.add(int(value))
    handle = value.lstrip("@").lower()
    async with db.session() as session:
        rows = await session.scalars(
            select(TelegramChannel.id).where(
                or_(
                    func.lower(TelegramChannel.username) == handle,
                    func.lower(TelegramChannel.title) == value.lower(),
                )
            )
        )
        ids.update(int(r) for r in rows.all())
    return sorted(ids)


async def search_library(
    db: Database,
    query: str,
    *,
    fuzzy: bool = False,
    fmt: str | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    source: str | None = None,
    chat_id: int | None = None,
    limit: int = 50,
    channel_ids: Sequence[int] | None = None,
) -> list[MediaItem]:
    """Library items matching every word of ``query`` (the last word also as a
    prefix), best first (SQLite: bm25; PostgreSQL: newest), filtered by format,
    size in bytes, source and chat.

    With ``fuzzy`` items are ranked by similarity, so misspelt words still match.
    Raises :class:`LibraryQueryError` for a blank query or bad bounds.
    """
    if not query or not query.strip():
        raise LibraryQueryError("the search query is empty")
    if min_size is not None and max_size is not None and min_size > max_size:
        raise LibraryQueryError("--min-size is larger than --max-size")
    limit = max(1, min(int(limit), MAX_LIMIT))
    terms = query_terms(query)
    if not terms:
        return []  # only punctuation or symbols: nothing can match
    where = _filters(fmt, min_size, max_size, source, chat_id, channel_ids)
    if fuzzy:
        return await _fuzzy(db, query, terms, where, limit)
    async with db.session() as session:
        rows = await session.scalars(_match_stmt(db, terms, where, limit))
        return list(rows.all())


def _document(item: MediaItem | Sequence[Any]) -> str:
    if isinstance(item, MediaItem):
        parts = (item.title, item.performer, item.album)
    else:
        parts = (item[1], item[2], item[3])
    return " ".join(p for p in parts if p)


async def _fuzzy(
    db: Database,
    query: str,
    terms: list[str],
    where: list[ColumnElement[bool]],
    limit: int,
) -> list[MediaItem]:
    """Rank candidates by similarity: first items sharing a word's first letters
    (a cheap full-text pre-filter), else every item that passes the filters."""
    needle = utils.default_process(query)
    stems = sorted({t[: max(3, len(t) - 2)] if len(t) > 3 else t for t in terms})
    async with db.session() as session:
        stmt = _match_stmt(db, stems, where, FUZZY_CANDIDATES, any_term=True)
        candidates = {item.id: item for item in (await session.scalars(stmt)).all()}
        ranked = _rank(needle, {i: _document(it) for i, it in candidates.items()}, limit)
        if not ranked:
            cols = (MediaItem.id, MediaItem.title, MediaItem.performer, MediaItem.album)
            rows = (await session.execute(select(*cols).where(*where))).all()
            # every item: rank in a thread so the bot and workers keep running meanwhile
            ranked = await asyncio.to_thread(
                _rank, needle, {int(r[0]): _document(r) for r in rows}, limit
            )
            missing = [i for i in ranked if i not in candidates]
            if missing:
                found = await session.scalars(select(MediaItem).where(MediaItem.id.in_(missing)))
                candidates.update({item.id: item for item in found.all()})
    return [candidates[i] for i in ranked if i in candidates]


def _rank(needle: str, choices: dict[int, str], limit: int) -> list[int]:
    if not needle or not choices:
        return []
    found = process.extract(
        needle,
        choices,
        scorer=fuzz.WRatio,  # includes token_set/token_sort ratios
        processor=utils.default_process,
        score_cutoff=FUZZY_CUTOFF,
        limit=limit,
    )
    found.sort(key=lambda hit: (-hit[1], -int(hit[2])))
    return [int(hit[2]) for hit in found]
