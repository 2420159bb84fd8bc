"""Alembic migrations, applied programmatically (at start and by ``mediaferry db upgrade``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mediaferry.db.engine import Database

__all__ = ["alembic_config", "known_revisions", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade_sync(connection: Any) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


_REV = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([\w]+|None)['\"]?", re.MULTILINE)


def known_revisions() -> dict[str, str | None]:
    """Every revision this version knows, each with the one it follows."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found: dict[str, str] = {m.group(1): m.group(2) for m in _REV.finditer(text)}
        if "revision" in found:
            down = found.get("down_revision")
            revisions[found["revision"]] = None if down in (None, "None") else down
    return revisions


def _head() -> str | None:
    """The head revision, read from the version files without importing alembic."""
    revisions = known_revisions()
    parents = {d for d in revisions.values() if d}
    heads = [r for r in revisions if r not in parents]
    return heads[0] if len(heads) == 1 else None


def head_revision() -> str | None:
    """The revision a database at head has (None if the version files are ambiguous)."""
    return _head()


async def _current(db: Database) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        async with db.engine.connect() as conn:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
            await conn.rollback()
    except DBAPIError:
        return None
    return str(row[0]) if row else None


async def upgrade(db: Database) -> None:
    """Bring the schema to head; a cheap no-op when it is there already."""
    if await _current(db) == _head():
        return
    async with db.engine.connect() as conn:
        if db.is_postgres:
            # one migrator at a time across processes
            await conn.exec_driver_sql("SELECT pg_advisory_lock(7306120001)")
        try:
            await conn.run_sync(_upgrade_sync)
            await conn.commit()
        finally:
            if db.is_postgres:
                await conn.exec_driver_sql("SELECT pg_advisory_unlock(7306120001)")
                await conn.commit()
