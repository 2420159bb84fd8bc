"""Database fixtures: a fresh SQLite file or a fresh PostgreSQL database per test.

Tests that use the schema (the ``db``, ``services``, ``pool`` and ``make_web`` fixtures,
the bot harness) start from a copy of a database migrated once per session, the same
migrations to head: a PostgreSQL ``CREATE DATABASE … TEMPLATE`` and a SQLite file copy
instead of running every migration again per test. ``db_url`` alone stays empty (the
migration tests need that).
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mediaferry.config import Settings, load_settings
from mediaferry.db.engine import Database

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_available() -> str | None:
    async def probe() -> str | None:
        import asyncpg

        try:
            conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN_DSN), 3)
        except Exception as exc:
            return f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(exc).__name__})"
        await conn.close()
        return None

    return asyncio.run(probe())


_PG_REASON: list[str | None] = []


def pg_skip_reason() -> str | None:
    if not _PG_REASON:
        _PG_REASON.append(_pg_available())
    return _PG_REASON[0]


def create_pg_database(template: str | None = None) -> str:
    """Create an empty database (or a copy of ``template``); returns its SQLAlchemy URL."""
    name = f"mf_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""

    async def go() -> None:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"{copy}')
        finally:
            await conn.close()

    asyncio.run(go())
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]

    async def go() -> None:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(go())


# -- databases migrated once per session ------------------------------------------------
_TEMPLATES: dict[str, str] = {}  # "sqlite": file path, "postgres": database name
# fixtures that upgrade the database they are given before anything else
_MIGRATING_FIXTURES = frozenset({"db", "services", "pool", "make_web"})


def _migrate(url: str) -> None:
    async def go() -> None:
        database = Database(url)
        try:
            await database.upgrade()
        finally:
            await database.close()

    # async fixtures call this while their event loop runs: migrate in a thread of its own
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


def _sqlite_template() -> Path:
    if "sqlite" not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="mf-db-template-"))
        atexit.register(shutil.rmtree, folder, True)
        _migrate(f"sqlite+aiosqlite:///{folder / 'migrated.db'}")
        _TEMPLATES["sqlite"] = str(folder / "migrated.db")
    return Path(_TEMPLATES["sqlite"])


def _pg_template() -> str:
    if "postgres" not in _TEMPLATES:
        url = create_pg_database()
        atexit.register(drop_pg_database, url)
        _migrate(url)  # closes its connections: a template must have none
        _TEMPLATES["postgres"] = url.rsplit("/", 1)[1]
    return _TEMPLATES["postgres"]


def migrated(url: str) -> str:
    """``url``, whose SQLite file (when it does not exist yet) is made a copy of the
    database migrated once per session; the caller's upgrade then finds it at head."""
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            src, dst = sqlite3.connect(_sqlite_template()), sqlite3.connect(path)
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL: SQLite file, or (skipped if unreachable) PostgreSQL.
    Empty, unless the test also asks for a fixture that migrates it (then a copy of the
    session's migrated database)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'mf.db'}"
        return
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    wants_schema = not _MIGRATING_FIXTURES.isdisjoint(request.fixturenames)
    url = create_pg_database(_pg_template() if wants_schema else None)
    try:
        yield url
    finally:
        drop_pg_database(url)


def make_settings(tmp_path: Path, db_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": db_url,
        "allow_private_networks": True,
        "min_free_gb": 0,
        "poll_s": 0.5,
        "heartbeat_s": 0.5,
        "stale_after_s": 3,
        "retry_base_s": 0.05,
        "retry_max_s": 0.2,
        "progress_interval_s": 0.1,
        "shutdown_grace_s": 0.5,
        "log_level": "DEBUG",
    }
    base.update(overrides)
    return load_settings(**base)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(migrated(settings.database_url))
    await database.upgrade()
    try:
        yield database
    finally:
        await database.close()
