"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Table

from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.migrate import _head, alembic_config
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


# --------------------------------------------------------------------------- upgrades
# A database made at every earlier revision, with rows in every table, upgrades to
# head with nothing lost. The revisions are read from the script directory and the
# tables from the database itself, so a new migration is covered without touching
# this file; ``SEED_VALUES`` only gives some columns realistic values.


def _revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [s.revision for s in reversed(list(script.walk_revisions()))]


OLD_REVISIONS = _revisions()[:-1]
ROWS_PER_TABLE = 3
SEED_VALUES: dict[tuple[str, str], Callable[[int], Any]] = {
    ("jobs", "status"): lambda i: ["PENDING", "COMPLETED", "FAILED"][i % 3],
    ("jobs", "source_type"): lambda i: "DIRECT",
    ("jobs", "job_type"): lambda i: ["video", "audio"][i % 2],
    ("jobs", "url"): lambda i: f"https://example.com/{i}.mp4",
    ("auth_profiles", "status"): lambda i: "ACTIVE",
}
_STAMP = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _is_internal(name: str) -> bool:
    # alembic's bookkeeping and SQLite's FTS5 table with its shadow tables (0002)
    return name == "alembic_version" or "_fts" in name


def _value(table: Table, column: Column[Any], i: int, parents: dict[str, list[Any]]) -> Any:
    override = SEED_VALUES.get((table.name, column.name))
    if override is not None:
        return override(i)
    for fk in column.foreign_keys:
        parent = parents[fk.column.table.name]
        return parent[i % len(parent)]
    kind = column.type
    n = 1000 * (list(table.columns).index(column) + 1) + i + 1
    if isinstance(kind, sa.Boolean):
        return i % 2 == 0
    if isinstance(kind, sa.Integer):  # Integer, BigInteger, SmallInteger
        return n
    if isinstance(kind, sa.Float | sa.Numeric):
        return n + 0.5
    if isinstance(kind, sa.DateTime):
        return _STAMP + timedelta(minutes=n)
    if isinstance(kind, sa.JSON):
        return {"seed": n, "text": f"{table.name}.{column.name}"}
    if isinstance(kind, sa.String):  # String, Text, Unicode
        text = f"{column.name[:12]}-{n}-é"
        length = getattr(kind, "length", None)
        return text[-length:] if length else f"{table.name}.{text}"
    raise AssertionError(f"no seed value for {table.name}.{column.name} ({kind!r})")


def _seed(connection: Any) -> dict[str, list[dict[str, Any]]]:
    """Rows in every table the schema has at this revision (parents first)."""
    meta = sa.MetaData()
    meta.reflect(connection)
    seeded: dict[str, list[dict[str, Any]]] = {}
    pk_values: dict[str, list[Any]] = {}
    for table in meta.sorted_tables:
        if _is_internal(table.name):
            continue
        rows = [
            {c.name: _value(table, c, i, pk_values) for c in table.columns}
            for i in range(ROWS_PER_TABLE)
        ]
        connection.execute(table.insert(), rows)
        seeded[table.name] = rows
        pks = list(table.primary_key.columns)
        if len(pks) == 1:
            pk_values[table.name] = [r[pks[0].name] for r in rows]
    return seeded


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(tzinfo=a.tzinfo or UTC) == b.replace(tzinfo=b.tzinfo or UTC)
    if isinstance(b, bool) and not isinstance(a, bool):
        return bool(a) == b
    return bool(a == b)


def _check_kept(connection: Any, seeded: dict[str, list[dict[str, Any]]]) -> list[str]:
    meta = sa.MetaData()
    meta.reflect(connection)
    lost: list[str] = []
    for name, rows in seeded.items():
        if name not in meta.tables:
            lost.append(f"table {name} is gone")
            continue
        table = meta.tables[name]
        found = [dict(r._mapping) for r in connection.execute(sa.select(table))]
        if len(found) != len(rows):
            lost.append(f"{name}: {len(rows)} rows seeded, {len(found)} after the upgrade")
        for row in rows:
            kept = [c for c in row if c in table.columns]
            if not any(all(_same(got[c], row[c]) for c in kept) for got in found):
                lost.append(f"{name}: row {row} changed or lost")
    return lost


def _orm_reads_everything(session: Any) -> None:
    for mapper in Base.registry.mappers:
        session.execute(sa.select(mapper.class_)).all()


@pytest.mark.parametrize("revision", OLD_REVISIONS)
async def test_upgrade_from_every_revision_keeps_every_row(
    settings: Settings, revision: str
) -> None:
    database = Database(settings.database_url)
    try:
        async with database.engine.connect() as conn:
            await conn.run_sync(_upgrade_to, revision)
            seeded = await conn.run_sync(_seed)
            await conn.commit()
        assert set(seeded) >= {"jobs", "job_events", "media_items"}
        await database.upgrade()
        async with database.engine.connect() as conn:
            version = (
                await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            ).scalar()
            assert version == _head()
            assert await conn.run_sync(_check_kept, seeded) == []
            await conn.rollback()
        async with database.session() as session:
            await session.run_sync(_orm_reads_everything)
    finally:
        await database.close()


def _upgrade_to(connection: Any, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def test_every_revision_is_covered() -> None:
    revisions = _revisions()
    assert revisions[0] == "0001"
    assert revisions[-1] == _head()
    assert len(set(revisions)) == len(revisions)
