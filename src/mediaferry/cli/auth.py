"""``mediaferry auth …``: cookie profiles per source (jobs/auth.py).

Never prints cookie contents: only ids, sources, status and counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from mediaferry.cli import _render as render

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.db.models import AuthProfile
    from mediaferry.jobs.auth import AuthProfiles

__all__ = ["auth_app", "profile_to_dict", "register"]

T = TypeVar("T")
auth_app = typer.Typer(help="Cookie profiles per source (for sites that need a login).",
                       no_args_is_help=True)  # fmt: skip


def profile_to_dict(p: AuthProfile) -> dict[str, Any]:
    """A profile as plain JSON-ready data (never the cookies)."""
    return {
        "id": p.id,
        "source": p.source_type,
        "status": p.status,
        "priority": p.priority,
        "failures": p.failure_count,
        "last_success_at": p.last_success_at.isoformat() if p.last_success_at else None,
        "last_failure_at": p.last_failure_at.isoformat() if p.last_failure_at else None,
    }


def _with_profiles(settings: Settings, work: Callable[[AuthProfiles], Awaitable[T]]) -> T:
    """Run ``work`` against the registry; a bad profile is one line and exit code 2."""
    from mediaferry.cli.app import EXIT_FAILED, fail
    from mediaferry.errors import AuthProfileError, MediaferryError
    from mediaferry.jobs.auth import AuthProfiles
    from mediaferry.jobs.database import migrated_database

    async def go() -> T:
        async with migrated_database(settings) as db:
            return await work(AuthProfiles(db, settings))

    try:
        return asyncio.run(go())
    except AuthProfileError as exc:
        fail(exc.message)
    except MediaferryError as exc:
        fail(exc.message, EXIT_FAILED)


def _when(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "-"


def profiles_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("id", "source", "status", "priority", "failures", "last success", "last failure"):
        table.add_column(name)
    for r in rows:
        table.add_row(
            r["id"], r["source"].lower(), r["status"].lower(), str(r["priority"]),
            str(r["failures"]), _when(r["last_success_at"]), _when(r["last_failure_at"]),
        )  # fmt: skip
    return table


@auth_app.command("add")
def add(
    profile_id: Annotated[str, typer.Argument(metavar="ID", help="Profile id: a-z 0-9 _ -.")],
    source: Annotated[str, typer.Option(help="Source type: youtube, facebook, direct…")],
    cookies: Annotated[Path, typer.Option(help="A Netscape cookies.txt file (copied).")],
    priority: Annotated[int, typer.Option(help="Higher is tried first.")] = 0,
) -> None:
    """Register a cookie file for a source (the file is copied, mode 0600)."""
    from mediaferry.cli.app import _settings

    settings = _settings()
    p = _with_profiles(
        settings, lambda reg: reg.add(profile_id, source, cookies, priority=priority)
    )
    render.console.print(f"auth profile {p.id} added for {p.source_type.lower()}")


@auth_app.command("list")
def list_profiles(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List profiles: id, source, status, failures, last success and failure."""
    from mediaferry.cli.app import _settings

    settings = _settings()

    async def go(reg: AuthProfiles) -> list[dict[str, Any]]:
        return [profile_to_dict(p) for p in await reg.list(source)]

    rows = _with_profiles(settings, go)
    if as_json:
        render.print_json(rows)
    elif rows:
        render.console.print(profiles_table(rows))
    else:
        render.console.print("no auth profiles")


def _status(profile_id: str, enable: bool) -> None:
    from mediaferry.cli.app import _settings

    settings = _settings()
    p = _with_profiles(
        settings, lambda reg: reg.enable(profile_id) if enable else reg.disable(profile_id)
    )
    render.console.print(f"auth profile {p.id} is now {p.status.lower()}")


@auth_app.command("disable")
def disable(profile_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Stop using a profile."""
    _status(profile_id, enable=False)


@auth_app.command("enable")
def enable(profile_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Use a profile again (also a degraded one); its failure count is reset."""
    _status(profile_id, enable=True)


@auth_app.command("remove")
def remove(profile_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Delete a profile and its copy of the cookie file."""
    from mediaferry.cli.app import _settings

    settings = _settings()
    _with_profiles(settings, lambda reg: reg.remove(profile_id))
    render.console.print(f"auth profile {profile_id} removed")


def register(app: typer.Typer) -> None:
    """Add ``auth`` to the ``mediaferry`` command."""
    app.add_typer(auth_app, name="auth")
