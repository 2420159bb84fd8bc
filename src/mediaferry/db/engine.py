"""Database engine: SQLite (WAL, busy timeout, BEGIN IMMEDIATE) or PostgreSQL (asyncpg).

Plain-SQL transactions (:meth:`Database.tx`) on SQLite need only the standard library;
SQLAlchemy's engine and sessions are made the first time the ORM is used, so a
process that only creates a job (``mediaferry add``) never imports SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediaferry.db.migrate import head_revision
from mediaferry.db.raw import PgTx, SqliteTx, Tx, sqlite_begin
from mediaferry.errors import DatabaseUnavailable

if TYPE_CHECKING:
    import asyncpg
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

__all__ = ["Database", "unavailable"]

log = logging.getLogger(__name__)

# asyncpg's classes for "the server is gone or going" (checked by name: importing
# asyncpg costs start-up time in processes that only use SQLite)
_PG_DOWN = frozenset(
    {
        "PostgresConnectionError",  # refused, lost, "cannot connect now" (starting up)
        "ConnectionDoesNotExistError",
        "InterfaceError",  # "connection is closed"
        "OperatorInterventionError",  # admin shutdown, crash shutdown
        # a pooled connection left mid-operation when the server went away ("cannot
        # switch to state …; another operation is in progress")
        "InternalClientError",
    }
)
_SQLITE_FULL = ("database or disk is full", "disk i/o error")


def unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The database boundary's reading of a driver error: a :class:`DatabaseUnavailable`
    when the database is unreachable (refused, lost, shutting down) or its disk is full,
    else None (a real query error, left as it is)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DatabaseUnavailable):
            return current
        if isinstance(current, sqlite3.OperationalError):
            text = str(current).lower()
            if any(marker in text for marker in _SQLITE_FULL):
                return DatabaseUnavailable(f"The database could not be written: {current}")
            return None
        if isinstance(current, ConnectionError | TimeoutError):
            return DatabaseUnavailable(f"The database could not be reached: {current}")
        for cls in type(current).__mro__:
            if cls.__module__.startswith("asyncpg") and cls.__name__ in _PG_DOWN:
                return DatabaseUnavailable(f"The database could not be reached: {current}")
        if getattr(current, "connection_invalidated", False):
            return DatabaseUnavailable("The database connection was lost.")
        current = getattr(current, "orig", None) or current.__cause__
    return None


def _translated(exc: BaseException) -> BaseException:
    down = unavailable(exc)
    if down is None or down is exc:
        return exc
    down.__cause__ = exc
    return down


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
    from sqlalchemy import event  # with the engine (see the module docstring)
    from sqlalchemy.util.concurrency import await_

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _prepare_sqlite(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # inside SQLAlchemy's greenlet: await the same lock wait the plain-SQL path uses
        await_(sqlite_begin(conn.connection.driver_connection))


def _sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL, as SQLAlchemy's ``make_url`` reads it
    (SQLAlchemy is asked only for URLs with options or escapes)."""
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        rest = url[len(prefix) :] if url.startswith(prefix) else None
        if rest is not None and not any(c in rest for c in "?%#"):
            return rest or None
    from sqlalchemy.engine import make_url

    return make_url(url).database


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
        try:
            conn = self.conn = free.pop() if free else self.db._sqlite_connect()
        except sqlite3.Error as exc:
            raise _translated(exc) from exc
        try:
            await sqlite_begin(conn)
        except BaseException as exc:
            conn.close()
            raise _translated(exc) from exc
        return SqliteTx(conn)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn = self.conn
        assert conn is not None
        try:
            if exc_type is None:
                conn.commit()
            else:
                conn.rollback()
        except BaseException as error:
            conn.close()
            raise _translated(error) from error
        free = self.db._sqlite_free
        if len(free) < self.db._pool_size:
            free.append(conn)
        else:
            conn.close()
        if exc is not None:
            down = _translated(exc)
            if down is not exc:
                raise down


class Database:
    """Owns the engine and the session factory; one per process."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.is_postgres = url.startswith("postgresql")
        self._echo = echo
        self._pool_size = pool_size
        self._sqlite_path = None if self.is_postgres else _sqlite_file(url)
        if self._sqlite_path and self._sqlite_path != ":memory:":
            Path(self._sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        self._sqlite_free: list[sqlite3.Connection] = []
        self._pg_pool: asyncpg.Pool | None = None
        self._pg_pool_lock: asyncio.Lock | None = None

    @cached_property
    def engine(self) -> AsyncEngine:
        """SQLAlchemy's engine, made (and SQLAlchemy imported) on first use."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.ext.asyncio import create_async_engine

        from mediaferry.db._sqlite_inloop import DRIVER as INLOOP_DRIVER

        if self.is_postgres:
            return create_async_engine(
                self.url,
                echo=self._echo,
                pool_size=self._pool_size,
                max_overflow=10,
                pool_pre_ping=True,
            )
        engine = create_async_engine(
            make_url(self.url).set(drivername=f"sqlite+{INLOOP_DRIVER}"),
            echo=self._echo,
            connect_args={"timeout": 0, "check_same_thread": False},
            pool_size=self._pool_size,
            max_overflow=10,
            # Sessions always end their transaction (commit, or rollback on error,
            # and closing a connection rolls back what is open), so the pool's extra
            # rollback on every check-in is a wasted thread hop (~1 ms) per transaction.
            pool_reset_on_return=None,
        )
        _sqlite_setup(engine)
        return engine

    @cached_property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        from sqlalchemy.ext.asyncio import async_sessionmaker

        return async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in one short transaction, committed on success.

        A lost or unreachable database raises :class:`DatabaseUnavailable`."""
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except Exception as exc:
            down = _translated(exc)
            if down is exc:
                raise
            raise down from exc

    def tx(self) -> AbstractAsyncContextManager[Tx]:
        """A short transaction in plain SQL (:mod:`mediaferry.db.raw`), committed on success."""
        if self.is_postgres:
            return self._pg_tx()
        return _SqliteTransaction(self)

    @asynccontextmanager
    async def _pg_tx(self) -> AsyncIterator[Tx]:
        try:
            pool = self._pg_pool or await self._open_pg_pool()
            async with pool.acquire() as conn, conn.transaction():
                yield PgTx(conn)
        except Exception as exc:
            down = _translated(exc)
            if down is exc:
                raise
            raise down from exc

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
                from sqlalchemy.engine import make_url

                dsn = (
                    make_url(self.url)
                    .set(drivername="postgresql")
                    .render_as_string(hide_password=False)
                )
                self._pg_pool = await asyncpg.create_pool(dsn, min_size=0, max_size=self._pool_size)
        return self._pg_pool

    async def at_head(self) -> bool:
        """Is the schema at this version's head? Plain SQL, no Alembic; False for a
        database still to be made or migrated (or one that cannot be read)."""
        try:
            async with self.tx() as tx:
                row = await tx.one("SELECT version_num FROM alembic_version")
        except DatabaseUnavailable:
            raise
        except Exception:  # no such table (a new database): the caller upgrades
            return False
        return row is not None and row[0] == head_revision()

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
        if "engine" in self.__dict__:  # made only if the ORM was used
            await self.engine.dispose()
