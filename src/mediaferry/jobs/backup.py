"""Backing up and restoring the service's database (``mediaferry db backup|restore``).

The policy lives here: a backup is never written into the archive or the temp folder
(the folders the service itself fills); :mod:`mediaferry.db.backup` does the work
(SQLite's online backup API, ``pg_dump``/``pg_restore``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediaferry.db.backup import BackupInfo, create_backup, restore_backup

if TYPE_CHECKING:
    from pathlib import Path

    from mediaferry.config import Settings

__all__ = ["BackupInfo", "backup_database", "restore_database"]


async def backup_database(settings: Settings, dest: Path, *, force: bool = False) -> BackupInfo:
    """Write a backup of the database to ``dest`` (a file, or a folder to put one in)
    while the service runs. Raises ``BackupRefused`` for a place it must not go."""
    keep_out = {"archive": settings.archive_dir, "temp folder": settings.tmp_dir}
    return await create_backup(settings.database_url, dest, keep_out=keep_out, force=force)


async def restore_database(settings: Settings, source: Path, *, force: bool = False) -> BackupInfo:
    """Replace the database with the backup at ``source`` and upgrade its schema
    (stop the service first). Raises ``BackupRefused`` when it must not."""
    return await restore_backup(settings.database_url, source, force=force)
