"""Plain ``sqlite3`` reads for commands that must start fast (``mediaferry jobs --json``).

Importing SQLAlchemy, the ORM models and Alembic costs several times what such a
command does in total, so a SQLite database whose schema is already at head is read
here with the standard library alone. Rows come back as the ORM gives them: aware UTC
datetimes, JSON decoded, booleans as ``bool``. Anything else (PostgreSQL, a missing or
older database) gives ``None`` from :func:`open_sqlite_at_head` and the caller takes
the full path, which also migrates.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mediaferry.db.migrate import head_revision

__all__ = ["ReadOnlyDb", "open_sqlite_at_head", "sqlite_path"]

SQLITE_PREFIX = "sqlite+aiosqlite:///"
_DATETIMES = frozenset(
    {"not_before", "heartbeat_at", "created_at", "updated_at", "started_at", "finished_at"}
)
_JSON = frozenset({"meta", "data"})
_BOOLS = frozenset({"archive", "cancel_requested"})


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite+aiosqlite:///`` URL (None for anything else)."""
    if not database_url.startswith(SQLITE_PREFIX):
        return None
    rest = database_url[len(SQLITE_PREFIX) :].split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


def _value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DATETIMES:
        found = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return found if found.tzinfo else found.replace(tzinfo=UTC)
    if name in _JSON:
        return json.loads(value) if isinstance(value, str | bytes) else value
    if name in _BOOLS:
        return bool(value)
    return value


class ReadOnlyDb:
    """Reads of the ``jobs`` and ``job_events`` tables; rows as attribute objects."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _rows(self, sql: str, params: Sequence[Any]) -> list[SimpleNamespace]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [
            SimpleNamespace(**{n: _value(n, v) for n, v in zip(names, row, strict=True)})
            for row in cur.fetchall()
        ]

    def jobs(self, *, status: str | None = None, limit: int = 50) -> list[SimpleNamespace]:
        """Newest first, as :meth:`JobService.list` orders them."""
        limit = max(1, min(limit, 1000))
        if status:
            sql = "SELECT * FROM jobs WHERE status = ? ORDER BY id DESC LIMIT ?"
            return self._rows(sql, (status.upper(), limit))
        return self._rows("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,))

    def job(self, job_id: int) -> SimpleNamespace | None:
        found = self._rows("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return found[0] if found else None

    def events(self, job_id: int, limit: int = 500) -> list[SimpleNamespace]:
        """A job's events in order, as :meth:`JobService.events` returns them."""
        sql = "SELECT * FROM job_events WHERE job_id = ? ORDER BY id LIMIT ?"
        return self._rows(sql, (job_id, limit))

    def close(self) -> None:
        self.conn.close()


def open_sqlite_at_head(database_url: str) -> ReadOnlyDb | None:
    """A reader for an existing SQLite database already at the head revision, else None."""
    path = sqlite_path(database_url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(path, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        row = None
    if row is None or row[0] != head_revision():
        conn.close()
        return None
    return ReadOnlyDb(conn)
