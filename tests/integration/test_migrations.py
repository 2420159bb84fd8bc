"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mediaferry.db.engine import Database
from mediaferry.db.migrate import _head
from mediaferry.db.models import Base


def _diff(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection)
    diffs = compare_metadata(context, Base.metadata)
    # the library's full-text index (0002) is not part of the ORM models
    return [
        d
        for d in diffs
        if not (isinstance(d, tuple) and "fts" in str(getattr(d[1], "name", "")))
        and not (isinstance(d, tuple) and d[0] == "remove_index" and "fts" in str(d[1].name))
    ]


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    async with db.engine.connect() as conn:
        diffs = await conn.run_sync(_diff)
    assert diffs == []


async def test_upgrade_is_idempotent_and_at_head(db: Database) -> None:
    await db.upgrade()
    async with db.engine.connect() as conn:
        version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar()
    assert version == _head()
