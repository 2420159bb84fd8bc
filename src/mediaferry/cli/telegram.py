"""``mediaferry tg …``: the Telegram user account and channel archiving (issue 10).

Bad input (an unknown or private chat, a wrong code or password, a revoked or corrupt
session, a bad ``--template`` or date) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from mediaferry.cli import _render as render
from mediaferry.cli._args import ChatArgCommand

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["register"]

tg_app = typer.Typer(
    help="Telegram over MTProto: the user account and channel archiving.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(tg_app, name="tg")


def _settings() -> Settings:
    from mediaferry.cli.app import _settings as load
    from mediaferry.cli.app import fail

    settings = load()
    if not settings.mtproto_enabled:
        fail(settings.mtproto_off_reason)
    return settings


def _run_tg(work: Any) -> Any:
    """Run ``work`` (a coroutine function); login and chat problems exit 2."""
    from mediaferry.cli.app import _run, fail
    from mediaferry.errors import AuthError, ConfigError, UrlRejected

    async def guarded() -> Any:
        try:
            return await work()
        except (AuthError, ConfigError, UrlRejected) as exc:
            fail(exc.message)

    return _run(guarded)


def _account(settings: Settings) -> Any:
    from mediaferry.jobs.telegram_account import TelegramAccount

    return TelegramAccount(settings)


def _day(value: str | None, option: str) -> date | None:
    from mediaferry.cli.app import fail

    if value is None:
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        fail(f"{option} must be a date like 2024-01-31, got {value[:40]!r}")


@tg_app.command("login")
def login() -> None:
    """Log the user account in (phone, code, 2FA password); nothing is echoed."""
    settings = _settings()

    def ask(prompt: str) -> str:
        if not sys.stdin.isatty():  # piped answers (scripts, tests): one per line
            render.err_console.print(f"{prompt}: ", end="")
            return sys.stdin.readline().rstrip("\n")
        answer: str = typer.prompt(prompt, hide_input=True, err=True)
        return answer

    async def go() -> Any:
        return await _account(settings).login(ask)

    account = _run_tg(go)
    who = f"@{account.username}" if account.username else (account.name or "the account")
    render.console.print(f"logged in as {who} (id {account.id})")


@tg_app.command("logout")
def logout() -> None:
    """Log the user account out and delete its session file."""
    settings = _settings()

    async def go() -> bool:
        return bool(await _account(settings).logout())

    render.console.print("logged out" if _run_tg(go) else "not logged in")


@tg_app.command("whoami")
def whoami(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Which Telegram account Mediaferry reads chats with."""
    settings = _settings()

    async def go() -> Any:
        return await _account(settings).whoami()

    account = _run_tg(go)
    if as_json:
        render.print_json(account.to_json())
        return
    name = f"@{account.username}" if account.username else (account.name or "")
    render.console.print(f"{name} (id {account.id})".strip())


@tg_app.command("chats")
def chats(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The account's channels, supergroups and groups (the id is what tg archive takes)."""
    settings = _settings()

    async def go() -> list[dict[str, Any]]:
        found = await _account(settings).chats()
        return [
            {
                "id": c.id,
                "kind": "supergroup" if c.supergroup else c.kind,
                "title": c.title,
                "username": c.username,
            }
            for c in found
        ]

    rows = _run_tg(go)
    if as_json:
        render.print_json(rows)
        return
    table = Table()
    for name in ("id", "kind", "title", "username"):
        table.add_column(name)
    for r in rows:
        handle = f"@{r['username']}" if r["username"] else ""
        table.add_row(str(r["id"]), r["kind"], r["title"] or "", handle)
    render.console.print(table)


@tg_app.command("archive", cls=ChatArgCommand)
def archive(
    chat: Annotated[str, typer.Argument(help="@name, t.me/name, -100<id> or the id.")],
    kind: Annotated[
        str, typer.Option(help="audio (music), video, voice, document or all (not photos).")
    ] = "all",
    limit: Annotated[int | None, typer.Option(help="At most this many messages.")] = None,
    since: Annotated[str | None, typer.Option(help="From this day on (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this day (YYYY-MM-DD).")] = None,
    search: Annotated[str | None, typer.Option(help="Only messages matching this text.")] = None,
    template: Annotated[
        str | None,
        typer.Option(help="Archive path, default {chat}/{performer} - {title}.{ext}."),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            min=1, max=16, help="Connections per file (kept on each job; default: settings)."
        ),
    ] = None,
    priority: Annotated[int, typer.Option(help="Higher runs first (-1000…1000).")] = 0,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait, with progress, until every job is done.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Archive a chat's media: one job per media message (run again: duplicates only)."""
    from mediaferry.cli.app import fail
    from mediaferry.errors import UrlRejected
    from mediaferry.jobs.tg_archive import ArchiveOptions, check_options

    options = ArchiveOptions(
        kind=kind.strip().lower(),
        limit=limit,
        since=_day(since, "--since"),
        until=_day(until, "--until"),
        search=(search or "").strip() or None,
        priority=priority,
        connections=parallel,
        **({"template": template} if template is not None else {}),
    )
    try:
        check_options(options)
    except UrlRejected as exc:
        fail(exc.message)
    settings = _settings()
    if parallel is not None:  # also for jobs queued before without one, run here (--wait)
        settings = settings.model_copy(update={"telegram_connections": parallel})

    async def go() -> int:
        from mediaferry.app import Services
        from mediaferry.cli.add import _summary, _wait
        from mediaferry.jobs.service import job_to_dict
        from mediaferry.jobs.states import JobStatus
        from mediaferry.jobs.tg_archive import archive_chat

        services = await Services.create(settings, start_bus=False)
        try:
            result = await archive_chat(services.jobs, services.telegram, chat, options)
            jobs = result.jobs
            if not as_json:
                render.console.print(
                    f"{result.chat.display}: {result.listed} media messages listed, "
                    f"{result.created} jobs queued, {result.duplicates} already known"
                )
                for r in result.refused:
                    render.err_console.print(f"[red]refused:[/red] {r['url']} — {r['error']}")
            if wait and jobs:
                jobs = await _wait(services, jobs, show=not as_json)
            if as_json:
                render.print_json(
                    {"jobs": [job_to_dict(j) for j in jobs], "refused": result.refused}
                )
            elif wait:
                for j in jobs:
                    _summary(j)
            if wait and any(j.status != JobStatus.COMPLETED for j in jobs):
                return 1
            return 0
        finally:
            await services.close()

    raise typer.Exit(_run_tg(go))
