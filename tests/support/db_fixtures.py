"""Database fixtures: a fresh SQLite file or a fresh PostgreSQL database per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
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


def create_pg_database() -> str:
    """Create an empty database; returns its SQLAlchemy URL."""
    name = f"mf_test_{uuid.uuid4().hex[:12]}"

    async def go() -> None:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL: SQLite file, or (skipped if unreachable) PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'mf.db'}"
        return
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    url = create_pg_database()
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
    database = Database(settings.database_url)
    await database.upgrade()
    try:
        yield database
    finally:
        await database.close()
