"""Library full-text search on real SQLite (FTS5) and PostgreSQL (GIN + tsquery)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import delete, update

from mediaferry.db.engine import Database
from mediaferry.db.library import LibraryQueryError, parse_size, query_terms, search_library
from mediaferry.db.models import MediaItem

MB = 1000**2

ITEMS = [
    # title, performer, album, format, size, source, chat
    ("Quran Recitation Surah Al-Kahf", "Mishary Alafasy", "Quran", "mp3", 40 * MB, "YOUTUBE", 1),
    ("Quran Recitation Surah Yasin", "Abdul Basit", None, "m4a", 8 * MB, "ISLAMIC", 1),
    ("Lecture on Patience", "Omar Suleiman", "Lectures", "mp4", 300 * MB, "YOUTUBE", 2),
    ("Café del Mar — Sunset Mix", "Various", None, "m4a", 12 * MB, "DIRECT", 2),
    ("Big Buck Bunny", "Blender Foundation", None, "mp4", 150 * MB, "ARCHIVE_ORG", None),
    ('He said "NEAR" (really', "O'Brien", None, "mp3", 3 * MB, "DIRECT", None),
    ("تلاوة القرآن الكريم", "عبد الباسط", None, "mp3", 20 * MB, "ISLAMIC", None),
]


@pytest.fixture
async def library(db: Database) -> Database:
    async with db.session() as session:
        for title, performer, album, fmt, size, source, chat in ITEMS:
            session.add(
                MediaItem(
                    path=f"/archive/{title}.{fmt}",
                    title=title,
                    performer=performer,
                    album=album,
                    file_format=fmt,
                    size=size,
                    source_type=source,
                    chat_id=chat,
                )
            )
    return db


def titles(items: list[MediaItem]) -> set[str]:
    return {i.title or "" for i in items}


async def test_finds_by_title_words_in_any_order_and_case(library: Database) -> None:
    found = await search_library(library, "recitation QURAN")
    assert titles(found) == {"Quran Recitation Surah Al-Kahf", "Quran Recitation Surah Yasin"}
    assert titles(await search_library(library, "kahf")) == {"Quran Recitation Surah Al-Kahf"}


async def test_finds_by_performer_and_album(library: Database) -> None:
    assert titles(await search_library(library, "alafasy")) == {"Quran Recitation Surah Al-Kahf"}
    assert titles(await search_library(library, "lectures")) == {"Lecture on Patience"}


async def test_last_word_matches_as_prefix(library: Database) -> None:
    assert titles(await search_library(library, "big buck bun")) == {"Big Buck Bunny"}
    assert titles(await search_library(library, "pati")) == {"Lecture on Patience"}
    # only the last word is a prefix: "bun" in the middle must match a whole word
    assert await search_library(library, "bun bunny") == []


async def test_unicode_words(library: Database) -> None:
    assert titles(await search_library(library, "القرآن")) == {"تلاوة القرآن الكريم"}
    assert titles(await search_library(library, "café")) == {"Café del Mar — Sunset Mix"}


async def test_filters(library: Database) -> None:
    q = "quran"
    assert titles(await search_library(library, q, fmt="MP3")) == {"Quran Recitation Surah Al-Kahf"}
    assert titles(await search_library(library, q, min_size=parse_size("10MB"))) == {
        "Quran Recitation Surah Al-Kahf"
    }
    assert titles(await search_library(library, q, max_size=10 * MB)) == {
        "Quran Recitation Surah Yasin"
    }
    assert titles(await search_library(library, q, source="islamic")) == {
        "Quran Recitation Surah Yasin"
    }
    assert len(await search_library(library, q, chat_id=1)) == 2
    assert await search_library(library, q, chat_id=2) == []
    assert len(await search_library(library, q, limit=1)) == 1


@pytest.mark.parametrize(
    "query",
    [
        '"',
        'he said "NEAR',
        "NEAR(quran recitation)",
        "(((",
        "quran)",
        "-quran",
        "quran -",
        "*",
        "qu*ran",
        "title:quran",
        "^quran",
        "quran AND OR NOT",
        "' OR 1=1 --",
        "a & b | !c <-> d:*",
        "\\",
        "\x00quran",
        "🎵🎵🎵",
        "x" * 5000,
    ],
)
async def test_hostile_queries_never_raise(library: Database, query: str) -> None:
    await search_library(library, query)
    await search_library(library, query, fuzzy=True)


async def test_quotes_and_operators_are_just_words(library: Database) -> None:
    assert titles(await search_library(library, 'said "near" (really')) == {
        'He said "NEAR" (really'
    }
    assert titles(await search_library(library, "o'brien")) == {'He said "NEAR" (really'}


async def test_fuzzy_finds_typos(library: Database) -> None:
    assert await search_library(library, "qurann recitaton") == []
    found = await search_library(library, "qurann recitaton", fuzzy=True)
    assert titles(found[:2]) == {"Quran Recitation Surah Al-Kahf", "Quran Recitation Surah Yasin"}
    # a typo in the first letters: the full scan still finds it
    found = await search_library(library, "bgi buck buny", fuzzy=True)
    assert found and found[0].title == "Big Buck Bunny"
    # filters still apply
    found = await search_library(library, "qurann recitaton", fuzzy=True, fmt="m4a")
    assert titles(found) == {"Quran Recitation Surah Yasin"}


async def test_index_follows_updates_and_deletes(library: Database) -> None:
    async with library.session() as session:
        await session.execute(
            update(MediaItem).where(MediaItem.title == "Big Buck Bunny").values(title="Sintel")
        )
    assert await search_library(library, "bunny") == []
    assert titles(await search_library(library, "sintel")) == {"Sintel"}
    async with library.session() as session:
        await session.execute(delete(MediaItem).where(MediaItem.title == "Sintel"))
    assert await search_library(library, "sintel") == []


async def test_bad_requests_raise_a_clear_error(library: Database) -> None:
    for query in ("", "   "):
        with pytest.raises(LibraryQueryError, match="empty"):
            await search_library(library, query)
    with pytest.raises(LibraryQueryError, match="larger"):
        await search_library(library, "quran", min_size=10, max_size=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1234", 1234),
        ("10MB", 10_000_000),
        ("10 mb", 10_000_000),
        ("1.5GB", 1_500_000_000),
        ("500KB", 500_000),
        ("2MiB", 2 * 1024**2),
        ("2M", 2 * 1024**2),
        ("1KiB", 1024),
        ("3B", 3),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "ten MB", "10 XB", "-5MB", "1e9", "10MB5", "1..2KB"])
def test_parse_size_rejects_garbage(text: str) -> None:
    with pytest.raises(LibraryQueryError, match="not a size"):
        parse_size(text)


@hsettings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_query_terms_are_only_word_characters(query: str) -> None:
    for term in query_terms(query):
        assert term and all(ch not in term for ch in "\"'*()-:&|!^\\ \x00")
