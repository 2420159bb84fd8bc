"""The ``mediaferry`` command line (Typer + Rich)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from mediaferry import __version__
from mediaferry.cli import _render as render
from mediaferry.cli import auth as auth_cli  # auth profiles
from mediaferry.cli import backup as backup_cli
from mediaferry.cli import follow as follow_cli
from mediaferry.cli import library as library_cli
from mediaferry.cli import telegram as telegram_cli
from mediaferry.cli.main import resume_gc
from mediaferry.config import Settings, load_settings
from mediaferry.errors import (
    BackupRefused,
    ConfigError,
    InvalidTransition,
    JobNotFound,
    LimitExceeded,
    MediaferryError,
    UrlRejected,
)
from mediaferry.logging import configure_logging

__all__ = ["app", "main", "resume_gc"]

T = TypeVar("T")
app = typer.Typer(
    name="mediaferry",
    help="Mediaferry: download media from links, deliver it to Telegram, keep an archive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
library_cli.register(app)  # search, cleanup (issue 4)
auth_cli.register(app)  # auth add/list/disable/enable/remove (auth profiles)
follow_cli.register(app)  # follow add/list/show/pause/resume/remove/check (issue 11)
backup_cli.register(db_app)  # db backup / db restore (issue 14)
telegram_cli.register(app)  # tg login/logout/whoami/chats/archive (issue 10)

EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    render.err_console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _settings(service: bool = False) -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(exc.message)
    if service:
        configure_logging(settings.log_level, settings.log_format)
    else:
        level = "WARNING" if settings.log_level == "INFO" else settings.log_level
        configure_logging(level, settings.log_format, stream=sys.stderr)
    return settings


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def wrapper() -> T:
        return await coro_fn()

    try:
        return asyncio.run(wrapper())
    except (
        UrlRejected,
        LimitExceeded,
        JobNotFound,
        InvalidTransition,
        ConfigError,
        BackupRefused,
    ) as exc:
        fail(exc.message)
    except MediaferryError as exc:
        fail(exc.message, EXIT_FAILED)


@asynccontextmanager
async def _job_service(settings: Settings) -> AsyncIterator[Any]:
    """The job service alone: what commands that only read or flag jobs need."""
    from mediaferry.jobs.database import migrated_database
    from mediaferry.jobs.service import JobService

    async with migrated_database(settings) as db:
        yield JobService(db, settings)


# --------------------------------------------------------------------------- service


@app.command()
def run(
    no_workers: Annotated[bool, typer.Option("--no-workers", help="Do not run workers.")] = False,
) -> None:
    """Run everything in one process: workers, and the bot and web when configured."""
    from mediaferry.cli.service import run_service

    settings = _settings(service=True)
    try:
        asyncio.run(run_service(settings, workers=not no_workers, bot=True, web=True))
    except ConfigError as exc:  # found while starting (e.g. a notification URL)
        fail(exc.message)


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Jobs at once.", min=1)] = None,
) -> None:
    """Run workers only, as a separate process sharing the database."""
    from mediaferry.cli.service import run_service

    settings = _settings(service=True)
    try:
        asyncio.run(
            run_service(settings, workers=True, bot=False, web=False, concurrency=concurrency)
        )
    except ConfigError as exc:
        fail(exc.message)


# --------------------------------------------------------------------------- jobs


@app.command()
def add(
    urls: Annotated[list[str], typer.Argument(help="One or more links.")],
    audio: Annotated[bool, typer.Option("--audio", help="Audio only.")] = False,
    video: Annotated[bool, typer.Option("--video", help="Video (default).")] = False,
    quality: Annotated[str, typer.Option(help="best, 1080p, 720p, … or audio_128.")] = "best",
    priority: Annotated[int, typer.Option(help="Higher runs first (-1000…1000).")] = 0,
    items: Annotated[
        str | None, typer.Option("--items", help="Playlist entries, e.g. 1-10 or 5,7,9.")
    ] = None,
    archive: Annotated[
        bool, typer.Option("--archive", help="Keep the result in the library.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait, with progress, for the result.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Queue downloads (and with --wait, see them through)."""
    if audio and video:
        fail("choose --audio or --video, not both")
    settings = _settings()
    from mediaferry.cli.add import add_jobs

    code = _run(
        lambda: add_jobs(
            settings,
            urls,
            job_type="audio" if audio else "video",
            quality=quality,
            priority=priority,
            archive=archive,
            items=items,
            wait=wait,
            as_json=as_json,
        )
    )
    raise typer.Exit(code)


@app.command()
def jobs(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List jobs, newest first."""
    from mediaferry.jobs.service import job_to_dict
    from mediaferry.jobs.states import JobStatus

    if status and status.upper() not in JobStatus.__members__:
        fail(f"unknown status {status!r}; use one of {', '.join(JobStatus)}")
    settings = _settings()

    async def go() -> list[dict[str, Any]]:
        async with _job_service(settings) as svc:
            found = await svc.list(status=status, limit=limit)
            return [job_to_dict(j) for j in found]

    rows = _run(go)
    if as_json:
        render.print_json(rows)
    elif rows:
        render.console.print(render.jobs_table(rows))
    else:
        render.console.print("no jobs")


def _job_id(value: str) -> int:
    if not value.isdigit():
        fail(f"{value!r} is not a job id (a number)")
    return int(value)


@app.command()
def job(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one job with its event timeline."""
    from mediaferry.jobs.service import job_to_dict

    jid = _job_id(job_id)
    settings = _settings()

    async def go() -> dict[str, Any]:
        async with _job_service(settings) as svc:
            found = await svc.get(jid)
            return job_to_dict(found, await svc.events(jid))

    data = _run(go)
    if as_json:
        render.print_json(data)
    else:
        render.job_detail(data)


def _control(job_id: str, action: str) -> None:
    from mediaferry.jobs.service import job_to_dict

    jid = _job_id(job_id)
    settings = _settings()

    async def go() -> dict[str, Any]:
        async with _job_service(settings) as svc:
            fn = svc.cancel if action == "cancel" else svc.retry
            return job_to_dict(await fn(jid))

    data = _run(go)
    verb = "cancel requested for" if data["status"] == "RUNNING" else f"{action}: now"
    render.console.print(f"job #{jid} {verb} {data['status'].lower()}")


@app.command()
def cancel(job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Cancel a job (running jobs stop within seconds; temp files are removed)."""
    _control(job_id, "cancel")


@app.command()
def retry(job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Retry a failed job."""
    _control(job_id, "retry")


def _flag(paused: bool) -> None:
    settings = _settings()

    async def go() -> None:
        async with _job_service(settings) as svc:
            await (svc.pause() if paused else svc.resume())

    _run(go)
    render.console.print("paused: running jobs finish, no new ones start" if paused else "resumed")


@app.command()
def pause() -> None:
    """Pause all workers (running jobs finish; no new job starts)."""
    _flag(True)


@app.command()
def resume() -> None:
    """Resume workers after a pause."""
    _flag(False)


@app.command()
def doctor() -> None:
    """Check the external tools and the database; say what is missing and how to install it."""
    from mediaferry.cli.doctor import run_doctor

    settings = _settings()
    ok = asyncio.run(run_doctor(settings))
    raise typer.Exit(0 if ok else EXIT_FAILED)


@app.command()
def update() -> None:
    """Upgrade yt-dlp (with its extras) in Mediaferry's environment; print old → new.

    Running jobs keep their version; the next job uses the new one, no restart needed.
    """
    from mediaferry.jobs.ytdlp_refresh import update_now

    settings = _settings()
    result = _run(lambda: update_now(settings))
    render.console.print(result.describe(), highlight=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    settings = _settings()

    async def go() -> None:
        from mediaferry.jobs.database import migrated_database

        async with migrated_database(settings):
            pass

    _run(go)
    render.console.print("database is up to date")


@app.command()
def version() -> None:
    """Print the version."""
    render.console.print(__version__)


def main() -> None:
    """The ``mediaferry`` command. Once it has run (each command closes what it
    opened), the process exits without the interpreter tearing down its thousands of
    modules and classes one by one: that alone took 0.2-0.3 s after every command."""
    code: int | str | None = 0
    # start-up builds ~100,000 long-lived objects; collecting while importing them is
    # wasted (~0.1 s). Long-running commands (add --wait, run, worker) freeze what they
    # built and turn the collector back on (``resume_gc``); short ones end first.
    gc.disable()
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: nothing more can be said
        code = code or 1
    os._exit(code or 0)
