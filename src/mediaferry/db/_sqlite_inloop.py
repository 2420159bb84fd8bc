"""SQLite for the async engine without a thread per connection.

SQLAlchemy's aiosqlite driver runs every call of every statement on a helper thread
and wakes the event loop for each result: three or four thread hops per statement,
which capped the job queue near 60 jobs/s. SQLite answers a short statement in tens
of microseconds, so this dialect calls the standard ``sqlite3`` module directly on
the event loop and tells SQLAlchemy it is async (its greenlet bridge then has nothing
to wait for). The one call that can wait is taking the write lock: every transaction
starts with ``BEGIN IMMEDIATE`` under ``busy_timeout=0`` and, when another
connection holds the lock, sleeps asynchronously and tries again, so the loop is
never blocked by a writer in another process or in another task of this one
(``mediaferry.db.raw.sqlite_begin``, used by the engine's ``begin`` hook too).

Selected by the usual ``sqlite+aiosqlite://`` URL (see :mod:`mediaferry.db.engine`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util.concurrency import await_

__all__ = ["DRIVER"]

DRIVER = "mediaferry_inloop"


async def _ready() -> None:
    return None


class InLoopCursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:  # what AsyncConnection expects of a cursor
        return None


class InLoopConnection(sqlite3.Connection):
    def cursor(self, factory: Any = InLoopCursor) -> Any:
        return super().cursor(factory)


class InLoopExecutionContext(SQLiteExecutionContext):
    def pre_exec(self) -> None:
        # AsyncConnection.execute insists that the driver awaited something; awaiting
        # a finished coroutine satisfies it without a trip through the event loop.
        await_(_ready())
        super().pre_exec()  # type: ignore[no-untyped-call]


class InLoopSQLiteDialect(SQLiteDialect_pysqlite):
    driver = DRIVER
    supports_statement_cache = True
    is_async = True
    supports_server_side_cursors = False
    execution_ctx_cls = InLoopExecutionContext

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        cparams.setdefault("factory", InLoopConnection)
        return super().connect(*cargs, **cparams)

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool


registry.register(f"sqlite.{DRIVER}", __name__, "InLoopSQLiteDialect")
