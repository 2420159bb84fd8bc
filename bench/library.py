"""Library search benchmark: 100,000 generated items, 200 searches, p50/p95 per kind.

    .venv/bin/python -m bench.library [--items 100000] [--searches 200] [--no-postgres]

Runs on SQLite (FTS5) and, when reachable at 127.0.0.1:5432, PostgreSQL (GIN).
Target: p95 <= 50 ms for plain searches.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from mediaferry.db.engine import Database
from mediaferry.db.library import search_library
from mediaferry.db.models import MediaItem

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

COMMON = [
    "quran",
    "recitation",
    "surah",
    "lecture",
    "live",
    "session",
    "part",
    "episode",
    "official",
    "video",
    "audio",
    "full",
    "album",
    "remix",
    "mix",
    "night",
    "morning",
    "evening",
    "adhkar",
    "dua",
    "khutbah",
    "tafsir",
    "seerah",
    "history",
    "introduction",
    "lesson",
    "series",
    "interview",
    "podcast",
    "concert",
    "acoustic",
    "cover",
    "remastered",
    "documentary",
    "trailer",
    "highlights",
    "nasheed",
    "tilawat",
    "juz",
    "hadith",
    "fiqh",
    "ramadan",
]
SURAHS = [
    "Al-Fatiha",
    "Al-Baqarah",
    "Al-Imran",
    "An-Nisa",
    "Al-Kahf",
    "Maryam",
    "Ta-Ha",
    "Yasin",
    "Ar-Rahman",
    "Al-Waqiah",
    "Al-Mulk",
    "Al-Insan",
    "An-Naba",
    "Al-Ikhlas",
    "Al-Falaq",
    "An-Nas",
    "Yusuf",
    "Ibrahim",
    "Al-Hijr",
    "Luqman",
]
ARABIC = [
    "تلاوة",
    "القرآن",
    "الكريم",
    "سورة",
    "محاضرة",
    "درس",
    "تفسير",
    "الحديث",
    "الفقه",
    "السيرة",
    "النبوية",
    "رمضان",
]
FIRST = [
    "Omar",
    "Ahmed",
    "Mishary",
    "Abdul",
    "Yasir",
    "Nouman",
    "Maher",
    "Saad",
    "Sarah",
    "Fatima",
    "Yusuf",
    "Ali",
    "Hamza",
    "Bilal",
    "Adele",
    "Miles",
    "Nina",
    "John",
    "Aretha",
    "Johann",
    "Ludwig",
    "Frederic",
    "Amira",
    "Khalid",
    "Layla",
    "Tariq",
    "Zainab",
]
LAST = [
    "Suleiman",
    "Alafasy",
    "Basit",
    "Qadhi",
    "Khan",
    "Muaiqly",
    "Ghamdi",
    "Hassan",
    "Rahman",
    "Ali",
    "Davis",
    "Simone",
    "Coltrane",
    "Franklin",
    "Bach",
    "Beethoven",
    "Chopin",
    "Sudais",
    "Shuraim",
    "Minshawi",
    "Husary",
    "Ajmi",
    "Hussain",
]
FORMATS = [("mp3", 0.35), ("m4a", 0.3), ("mp4", 0.3), ("webm", 0.05)]
SOURCES = ["YOUTUBE", "ISLAMIC", "ARCHIVE_ORG", "DIRECT", "FACEBOOK", "TELEGRAM"]


def _syllable_words(rng: random.Random, n: int) -> list[str]:
    parts = [
        "ka",
        "ri",
        "mo",
        "ta",
        "la",
        "ne",
        "so",
        "vi",
        "du",
        "re",
        "an",
        "el",
        "or",
        "is",
        "um",
        "ba",
        "ze",
        "lu",
        "fa",
        "qi",
        "ha",
        "mi",
        "no",
        "ra",
        "sa",
    ]
    words = {"".join(rng.choices(parts, k=rng.randint(2, 4))) for _ in range(n * 2)}
    return sorted(words)[:n]


def generate(n: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[str]]:
    rng = random.Random(seed)
    rare = _syllable_words(rng, 5000)
    vocab = COMMON + SURAHS + rare
    weights = [40.0] * len(COMMON) + [20.0] * len(SURAHS) + [1.0] * len(rare)
    cum = list(itertools.accumulate(weights))
    performers = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(400)]
    albums = [None] * 5 + [
        " ".join(rng.choices(vocab, cum_weights=cum, k=2)).title() for _ in range(200)
    ]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        words = rng.choices(vocab, cum_weights=cum, k=rng.randint(2, 7))
        if rng.random() < 0.08:
            words += rng.sample(ARABIC, 2)
        title = " ".join(words).title()
        if rng.random() < 0.3:
            title += f" - Part {rng.randint(1, 40)}"
        fmt = rng.choices([f for f, _ in FORMATS], [w for _, w in FORMATS])[0]
        rows.append(
            {
                "path": f"/archive/{i}.{fmt}",
                "title": title,
                "performer": rng.choice(performers),
                "album": rng.choice(albums),
                "duration": round(rng.uniform(30, 7200), 1),
                "file_format": fmt,
                "size": int(rng.lognormvariate(16.5, 1.2)),
                "sha256": uuid.UUID(int=rng.getrandbits(128)).hex * 2,
                "source_type": rng.choice(SOURCES),
                "origin_url": f"https://example.org/watch?v={i}",
                "media_id": str(i),
                "chat_id": rng.choice([None, 1, 2, 3]),
                "created_at": start + timedelta(minutes=i),
            }
        )
    return rows, vocab


def typo(text: str, rng: random.Random) -> str:
    chars = list(text.lower())
    for _ in range(max(1, len(chars) // 8)):
        i = rng.randrange(1, max(2, len(chars)))
        op = rng.choice("dsi")
        if op == "d" and len(chars) > 3:
            del chars[min(i, len(chars) - 1)]
        elif op == "s" and i < len(chars):
            chars[i - 1], chars[i] = chars[i], chars[i - 1]
        else:
            chars.insert(i, rng.choice("aeiou"))
    return "".join(chars)


Search = Callable[[], Awaitable[list[MediaItem]]]


def workload(
    db: Database, rows: list[dict[str, Any]], vocab: list[str], total: int
) -> list[tuple[str, Search]]:
    rng = random.Random(11)
    per = total // 4
    jobs: list[tuple[str, Search]] = []

    def add(kind: str, query: str, **kw: Any) -> None:
        async def run() -> list[MediaItem]:
            return await search_library(db, query, **kw)

        jobs.append((kind, run))

    for _ in range(per):
        words = rng.sample(vocab[: len(COMMON) + len(SURAHS)], 1) + rng.sample(vocab, 1)
        add("terms", " ".join(words[: rng.randint(1, 2)]))
    for _ in range(per):
        word = rng.choice(vocab)
        add("prefix", f"{rng.choice(COMMON)} {word[: rng.randint(2, 4)]}")
    for _ in range(per):
        add(
            "filters",
            rng.choice(COMMON),
            fmt=rng.choice(["mp3", "m4a", "mp4"]),
            min_size=rng.choice([None, 1_000_000, 10_000_000]),
            source=rng.choice([None, *SOURCES]),
        )
    for _ in range(total - 3 * per):
        title = rng.choice(rows)["title"]
        add("fuzzy", typo(" ".join(title.split()[:3]), rng), fuzzy=True)
    rng.shuffle(jobs)
    return jobs


async def bench(name: str, url: str, rows: list[dict[str, Any]], vocab: list[str], n: int) -> None:
    db = Database(url)
    try:
        await db.upgrade()
        started = time.perf_counter()
        for i in range(0, len(rows), 5000):
            async with db.session() as session:
                await session.execute(insert(MediaItem), rows[i : i + 5000])
        if db.is_postgres:
            async with db.engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE media_items")
                await conn.commit()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        took = time.perf_counter() - started
        print(f"\n{name}: inserted {len(rows):,} items in {took:.1f}s (load {load})")
        for _kind, run in workload(db, rows, vocab, 8):  # warm caches
            await run()
        times: dict[str, list[float]] = {}
        hits: dict[str, list[int]] = {}
        for kind, run in workload(db, rows, vocab, n):
            t0 = time.perf_counter()
            found = await run()
            times.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
            hits.setdefault(kind, []).append(len(found))
        print(f"{'kind':<8} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'avg hits':>9}")
        for kind in ("terms", "prefix", "filters", "fuzzy"):
            ms = sorted(times[kind])
            p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
            print(
                f"{kind:<8} {len(ms):>4} {statistics.median(ms):>8.1f} {p95:>8.1f} "
                f"{ms[-1]:>8.1f} {statistics.mean(hits[kind]):>9.1f}"
            )
        plain = sorted(t for k in ("terms", "prefix", "filters") for t in times[k])
        p95 = plain[int(0.95 * len(plain))]
        verdict = "OK" if p95 <= 50 else "OVER TARGET"
        print(f"plain searches p95 {p95:.1f} ms (target <= 50 ms): {verdict}")
    finally:
        await db.close()


async def pg_database() -> str | None:
    try:
        import asyncpg

        conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN_DSN), 3)
    except Exception:
        return None
    name = f"mf_bench_{uuid.uuid4().hex[:8]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_pg(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows, vocab = generate(args.items)
    print(f"generated {len(rows):,} items in {time.perf_counter() - t0:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await bench("SQLite FTS5", url, rows, vocab, args.searches)
    if args.no_postgres:
        return
    name = await pg_database()
    if name is None:
        print("\nPostgreSQL: not reachable at 127.0.0.1:5432, skipped")
        return
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        await bench("PostgreSQL GIN", url, rows, vocab, args.searches)
    finally:
        await drop_pg(name)


if __name__ == "__main__":
    asyncio.run(main())
