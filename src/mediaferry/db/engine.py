"""Database engine: SQLite (WAL, busy timeout, BEGIN IMMEDIATE) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from mediaferry.db._sqlite_inloop import DRIVER as INLOOP_DRIVER
from mediaferry.db._sqlite_inloop import begin_immediate

__all__ = ["Database"]

log = logging.getLogger(__name__)


def _sqlite_setup(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so that every transaction
        # starts with BEGIN IMMEDIATE: writers wait for the lock up front instead of
        # failing with "database is locked" when a read lock cannot be upgraded.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=5000")  # only for these set-up pragmas
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # From here on nothing may block the event loop: BEGIN IMMEDIATE waits for
        # the write lock asynchronously (``begin_immediate``).
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        begin_immediate(conn.connection.driver_connection)


class Database:
    """Owns the engine and the session factory; one per process."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.is_postgres = url.startswith("postgresql")
        if self.is_postgres:
            self.engine = create_async_engine(
                url, echo=echo, pool_size=pool_size, max_overflow=10, pool_pre_ping=True
            )
        else:
            sa_url = make_url(url)
            db_path = sa_url.database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(
                sa_url.set(drivername=f"sqlite+{INLOOP_DRIVER}"),
                echo=echo,
                connect_args={"timeout": 0, "check_same_thread": False},
                pool_size=pool_size,
                max_overflow=10,
                # Sessions always end their transaction (commit, or rollback on error,
                # and closing a connection rolls back what is open), so the pool's extra
                # rollback on every check-in is a wasted thread hop (~1 ms) per transaction.
                pool_reset_on_return=None,
            )
            _sqlite_setup(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in one short transaction, committed on success."""
        async with self.sessions() as session, session.begin():
            yield session

    async def upgrade(self) -> None:
        """Apply migrations up to head."""
        from mediaferry.db.migrate import upgrade

        await upgrade(self)

    async def close(self) -> None:
        await self.engine.dispose()
