"""The database as a command outside the running service opens it.

One place decides how a short-lived command (``auth``, ``search``, ``cleanup``,
``doctor``, ``db upgrade``, the job commands) gets its database: migrated to this
version's head first, closed when done. Interfaces use this and the core services;
they never build a :class:`~mediaferry.db.engine.Database` themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from mediaferry.db.engine import Database

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["migrated_database"]


@asynccontextmanager
async def migrated_database(settings: Settings, *, pool_size: int = 2) -> AsyncIterator[Database]:
    """The database of ``settings`` at head (migrated if it is not; Alembic only then)."""
    db = Database(settings.database_url, pool_size=pool_size)
    try:
        if not await db.at_head():
            await db.upgrade()
        yield db
    finally:
        await db.close()
