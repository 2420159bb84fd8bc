"""Database engine: SQLite (WAL, busy timeout, BEGIN IMMEDIATE) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util.concurrency import await_

from mediaferry.db._sqlite_inloop import DRIVER as INLOOP_DRIVER
from mediaferry.db.raw import PgTx, SqliteTx, Tx, sqlite_begin

if TYPE_CHECKING:
    import asyncpg

__all__ = ["Database"]

log = logging.getLogger(__name__)


def _prepare_sqlite(conn: sqlite3.Connection) -> None:
    """Settings every SQLite connection of this process gets (ORM and plain SQL alike).

    The driver's own transaction handling is off: every transaction starts with
    ``BEGIN IMMEDIATE`` (:func:`~mediaferry.db.raw.sqlite_begin`), so writers wait for
    the lock up front instead of failing when a read lock cannot be upgraded.
    """
    conn.isolation_level = None
    conn.execute("PRAGMA busy_timeout=5000")  # only for these set-up pragmas
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    # from here on nothing may block the event loop: the write lock is awaited
    conn.execute("PRAGMA busy_timeout=0")


def _sqlite_setup(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _prepare_sqlite(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # inside SQLAlchemy's greenlet: await the same lock wait the plain-SQL path uses
        await_(sqlite_begin(conn.connection.driver_connection))


class _SqliteTransaction:
    """``async with db.tx()`` on SQLite: a pooled ``sqlite3`` connection, BEGIN IMMEDIATE
    (awaited while another connection writes), COMMIT or ROLLBACK. A plain class, not a
    generator, because it runs three times for every job."""

    __slots__ = ("conn", "db")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: sqlite3.Connection | None = None

    async def __aenter__(self) -> Tx:
        free = self.db._sqlite_free
        conn = self.conn = free.pop() if free else self.db._sqlite_connect()
        try:
            await sqlite_begin(conn)
        except BaseException:
            conn.close()
            raise
        return SqliteTx(conn)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn = self.conn
        assert conn is not None
        try:
            if exc_type is None:
                conn.commit()
            else:
                conn.rollback()
        except BaseException:
            conn.close()
            raise
        free = self.db._sqlite_free
        if len(free) < self.db._pool_size:
            free.append(conn)
        else:
            conn.close()


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
        self._pool_size = pool_size
        self._sqlite_path = None if self.is_postgres else make_url(url).database
        self._sqlite_free: list[sqlite3.Connection] = []
        self._pg_pool: asyncpg.Pool | None = None
        self._pg_pool_lock: asyncio.Lock | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in one short transaction, committed on success."""
        async with self.sessions() as session, session.begin():
            yield session

    def tx(self) -> AbstractAsyncContextManager[Tx]:
        """A short transaction in plain SQL (:mod:`mediaferry.db.raw`), committed on success."""
        if self.is_postgres:
            return self._pg_tx()
        return _SqliteTransaction(self)

    @asynccontextmanager
    async def _pg_tx(self) -> AsyncIterator[Tx]:
        pool = self._pg_pool or await self._open_pg_pool()
        async with pool.acquire() as conn, conn.transaction():
            yield PgTx(conn)

    def _sqlite_connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._sqlite_path or ":memory:", check_same_thread=False)
        _prepare_sqlite(conn)
        return conn

    async def _open_pg_pool(self) -> asyncpg.Pool:
        import asyncpg

        if self._pg_pool_lock is None:
            self._pg_pool_lock = asyncio.Lock()
        async with self._pg_pool_lock:
            if self._pg_pool is None:
                dsn = (
                    make_url(self.url)
                    .set(drivername="postgresql")
                    .render_as_string(hide_password=False)
                )
                self._pg_pool = await asyncpg.create_pool(dsn, min_size=0, max_size=self._pool_size)
        return self._pg_pool

    async def upgrade(self) -> None:
        """Apply migrations up to head."""
        from mediaferry.db.migrate import upgrade

        await upgrade(self)

    async def close(self) -> None:
        while self._sqlite_free:
            self._sqlite_free.pop().close()
        if self._pg_pool is not None:
            pool, self._pg_pool = self._pg_pool, None
            await pool.close()
        await self.engine.dispose()
