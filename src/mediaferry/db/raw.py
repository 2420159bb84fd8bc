"""Short transactions in plain SQL for the job engine's hot path.

An ORM session costs ~0.4 ms per transaction on this class of machine and SQLite
answers a short statement in ~10 µs, so the statements a job goes through on every
run (create, claim, status changes, stage and progress writes) are written once as
SQL that both SQLite and PostgreSQL accept and run straight on the driver:

- SQLite: ``sqlite3`` on the event loop (see :mod:`mediaferry.db._sqlite_inloop`);
  a transaction never suspends between ``BEGIN IMMEDIATE`` and ``COMMIT``.
- PostgreSQL: an ``asyncpg`` pool beside SQLAlchemy's.

Parameters are written ``:name`` (turned into ``$n`` for asyncpg). Values are stored
exactly as SQLAlchemy stores them, so the ORM reads what this module writes:
datetimes as UTC (``YYYY-MM-DD HH:MM:SS.ffffff`` text on SQLite), JSON as text.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Row", "RowReader", "Tx", "pg_sql", "sqlite_begin", "tx_of"]

Row = tuple[Any, ...]
LOCK_WAIT_S = 30.0
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def _sqlite_datetime(value: datetime) -> str:
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    # SQLAlchemy's SQLite DATETIME text: "YYYY-MM-DD HH:MM:SS.ffffff", in UTC
    return value.isoformat(" ", "microseconds")[:26]


_SQLITE_CONVERT: dict[type, Any] = {
    datetime: _sqlite_datetime,
    dict: json.dumps,
    list: json.dumps,
}


def _sqlite_params(params: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Parameters as sqlite3 takes them; copies only when something needs converting."""
    if not params:
        return {}
    out: dict[str, Any] | None = None
    for key, value in params.items():
        convert = _SQLITE_CONVERT.get(type(value))
        if convert is not None:
            if out is None:
                out = dict(params)
            out[key] = convert(value)
    return params if out is None else out


def _pg_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


_PG_SQL: dict[str, tuple[str, tuple[str, ...]]] = {}


def pg_sql(sql: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` parameters → asyncpg's ``$n`` (cached per statement)."""
    cached = _PG_SQL.get(sql)
    if cached is None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        cached = (_PARAM.sub(number, sql), tuple(names))
        _PG_SQL[sql] = cached
    return cached


class Tx:
    """One open transaction: ``one``/``all`` return rows as tuples, ``run`` a rowcount."""

    is_postgres = False

    async def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        raise NotImplementedError

    async def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        raise NotImplementedError

    async def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        raise NotImplementedError

    async def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        raise NotImplementedError


class SqliteTx(Tx):
    """Calls ``sqlite3`` directly: nothing here suspends, so nothing else runs mid-way."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        row: Row | None = self.conn.execute(sql, _sqlite_params(params)).fetchone()
        return row

    async def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return self.conn.execute(sql, _sqlite_params(params)).fetchall()

    async def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self.conn.execute(sql, _sqlite_params(params)).rowcount

    async def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.conn.executemany(sql, [_sqlite_params(r) for r in rows])


class PgTx(Tx):
    """An asyncpg connection inside ``connection.transaction()``."""

    is_postgres = True

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @staticmethod
    def _args(names: tuple[str, ...], params: Mapping[str, Any] | None) -> list[Any]:
        values = params or {}
        return [_pg_value(values[n]) for n in names]

    async def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        text, names = pg_sql(sql)
        row = await self.conn.fetchrow(text, *self._args(names, params))
        return tuple(row) if row is not None else None

    async def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        text, names = pg_sql(sql)
        return [tuple(r) for r in await self.conn.fetch(text, *self._args(names, params))]

    async def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        text, names = pg_sql(sql)
        status = await self.conn.execute(text, *self._args(names, params))
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        text, names = pg_sql(sql)
        await self.conn.executemany(text, [self._args(names, r) for r in rows])


class SessionTx(Tx):
    """The transaction of an ORM session on PostgreSQL (statements go through it)."""

    is_postgres = True

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _exec(self, sql: str, params: Mapping[str, Any] | None) -> Any:
        from sqlalchemy import text

        values = {k: _pg_value(v) for k, v in (params or {}).items()}
        return await self.session.execute(text(sql), values)

    async def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        row = (await self._exec(sql, params)).first()
        return tuple(row) if row is not None else None

    async def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return [tuple(r) for r in (await self._exec(sql, params)).all()]

    async def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return int((await self._exec(sql, params)).rowcount or 0)

    async def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            await self._exec(sql, row)


async def tx_of(target: Tx | AsyncSession) -> Tx:
    """``target`` itself if it is a :class:`Tx`, else one sharing the ORM session's
    transaction."""
    if isinstance(target, Tx):
        return target
    conn = await target.connection()
    if conn.dialect.name == "sqlite":
        raw = await conn.get_raw_connection()
        return SqliteTx(raw.driver_connection)  # type: ignore[arg-type]
    return SessionTx(target)


def _locked(exc: sqlite3.OperationalError) -> bool:
    return exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


async def sqlite_begin(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, sleeping (not blocking the loop) while another holds the lock."""
    deadline = time.monotonic() + LOCK_WAIT_S
    delay = 0.0005
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.02)


def _parse_sqlite_dt(value: Any) -> Any:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


def _parse_json(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        return json.loads(value)
    return value


def _parse_bool(value: Any) -> Any:
    return None if value is None else bool(value)


def _parse_pg_dt(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class RowReader:
    """Turns raw rows of a table (all its columns, in order) into keyword dicts with
    the Python values the ORM would have produced. ``columns`` are (name, kind) pairs
    as :data:`mediaferry.db.columns.JOB_COLUMNS` lists them."""

    def __init__(self, columns: Sequence[tuple[str, str]]) -> None:
        self.names = tuple(name for name, _ in columns)
        self.select_list = ", ".join(self.names)
        self._sqlite: list[tuple[int, Any]] = []
        self._pg: list[tuple[int, Any]] = []
        for i, (_, kind) in enumerate(columns):
            if kind == "datetime":
                self._sqlite.append((i, _parse_sqlite_dt))
                self._pg.append((i, _parse_pg_dt))
            elif kind == "json":
                self._sqlite.append((i, _parse_json))
                self._pg.append((i, _parse_json))
            elif kind == "bool":
                self._sqlite.append((i, _parse_bool))

    def values(self, row: Iterable[Any], *, postgres: bool) -> dict[str, Any]:
        values = list(row)
        for i, parse in self._pg if postgres else self._sqlite:
            values[i] = parse(values[i])
        return dict(zip(self.names, values, strict=True))
