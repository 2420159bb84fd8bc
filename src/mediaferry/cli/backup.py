"""``mediaferry db backup`` and ``mediaferry db restore``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def register(db_app: typer.Typer) -> None:
    db_app.command("backup")(backup)
    db_app.command("restore")(restore)


def backup(
    path: Annotated[Path, typer.Argument(help="Backup file, or a folder to write one into.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Back up the database while the service runs (SQLite online backup, or pg_dump).

    The archive folder is the other half of a backup: copy it with any file tool.
    """
    from mediaferry.cli import _render as render
    from mediaferry.cli.app import _run, _settings
    from mediaferry.jobs.backup import backup_database

    settings = _settings()
    info = _run(lambda: backup_database(settings, path, force=force))
    jobs = f", {info.jobs} jobs" if info.jobs is not None else ""
    render.console.print(
        f"backup written: {info.path} ({info.engine}, schema {info.revision}, "
        f"{info.size / 1e6:.1f} MB{jobs})",
        highlight=False,
        soft_wrap=True,
    )


def restore(
    path: Annotated[Path, typer.Argument(help="A file written by `mediaferry db backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that holds data.")
    ] = False,
) -> None:
    """Replace the database with a backup, then upgrade its schema. Stop the service first."""
    from mediaferry.cli import _render as render
    from mediaferry.cli.app import _run, _settings
    from mediaferry.jobs.backup import restore_database

    settings = _settings()
    info = _run(lambda: restore_database(settings, path, force=force))
    render.console.print(
        f"restored {info.path} ({info.engine}, schema {info.revision}); the database is up to date",
        highlight=False,
        soft_wrap=True,
    )
