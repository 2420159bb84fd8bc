"""Alembic migrations, applied programmatically (at start and by ``mediaferry db upgrade``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from mediaferry.db.engine import Database

__all__ = ["alembic_config", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade_sync(connection: Any) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def upgrade(db: Database) -> None:
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
