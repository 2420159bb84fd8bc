"""``mediaferry doctor``: is everything Mediaferry needs installed and reachable?"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table

from mediaferry.cli._render import console
from mediaferry.config import Settings

__all__ = ["run_doctor"]


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True
    warn: bool = False  # works, but something needs attention


async def _version(cmd: list[str]) -> str | None:
    exe = shutil.which(cmd[0]) if not cmd[0].startswith("/") else cmd[0]
    if not exe:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            exe,
            *cmd[1:],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    except (OSError, TimeoutError):
        return None
    # the first line that names a version (wrappers may print warnings first)
    lines = (out + err).decode(errors="replace").strip().splitlines()
    found = next((ln for ln in lines if re.search(r"\d+\.\d+", ln) and ":" not in ln[:40]), None)
    line = found or (lines[0] if lines else "?")
    return line.split(" Copyright")[0].strip()[:80]


async def _tool(name: str, cmd: list[str], fix: str, required: bool = True) -> Check:
    version = await _version(cmd)
    return Check(name, version is not None, version or "not found", fix, required)


async def _database(settings: Settings) -> Check:
    from mediaferry.jobs.database import migrated_database

    try:
        async with migrated_database(settings) as db:
            kind = "PostgreSQL" if db.is_postgres else "SQLite"
        return Check("database", True, f"{kind} reachable, schema up to date")
    except Exception as exc:
        return Check(
            "database", False, f"{type(exc).__name__}: {exc}"[:120], "check MEDIAFERRY_DATABASE_URL"
        )


async def _ytdlp(settings: Settings) -> list[Check]:
    """yt-dlp as jobs run it: version and age, JS runtime, EJS solver, impersonation."""
    from mediaferry.jobs.ytdlp_health import MAX_AGE_DAYS, ytdlp_report

    r = await ytdlp_report(settings, selftest=True, fresh=True)
    update = "mediaferry update"
    if not r.installed:
        return [Check("yt-dlp", False, r.error or "does not run", update)]
    age = f", {r.age_days} days old" if r.age_days is not None else ""
    stale = r.age_days is not None and r.age_days > MAX_AGE_DAYS
    solver = f"yt-dlp-ejs {r.ejs_version}" if r.ejs_version else "yt-dlp-ejs not installed"
    return [
        Check(
            "yt-dlp",
            True,
            f"{r.version}{age}" + (f" (over {MAX_AGE_DAYS})" if stale else ""),
            update,
            warn=stale,
        ),
        Check(
            "JS runtime",
            r.js_runtime is not None,
            f"{r.js_runtime} ({r.js_runtime_path})" if r.js_runtime else "none found",
            "pip install deno (in Mediaferry's environment), or set MEDIAFERRY_YTDLP_JS_RUNTIME",
        ),
        Check(
            "EJS solver",
            r.ejs_available,
            f"{solver}; providers: {r.challenge_providers or 'none'}",
            "pip install -U 'yt-dlp[default]'",
        ),
        Check(
            "JS challenge",
            bool(r.selftest_ok),
            r.selftest or "not run",
            "see the EJS solver and JS runtime rows",
        ),
        Check(
            "impersonation",
            r.impersonation is not None,
            r.impersonation or "unavailable",
            "pip install -U 'yt-dlp[curl-cffi]'",
            required=False,
        ),
    ]


def _mtproto(settings: Settings) -> Check:
    """Telegram over MTProto: on with API id + hash (never shows the hash or session)."""
    if not settings.mtproto_enabled:
        return Check("telegram MTProto", False, "off", settings.mtproto_off_reason, required=False)
    where = settings.telegram_mtproto_server or "Telegram's data centres"
    session = settings.data_dir / "telegram" / "user.session"
    account = (
        "string session set"
        if settings.telegram_user_session is not None
        else ("session file present" if session.is_file() else "no user login (tg login)")
    )
    return Check("telegram MTProto", True, f"on ({where}); {account}", required=False)


async def run_doctor(settings: Settings) -> bool:
    apt = "sudo apt-get install -y"
    checks = [
        await _tool("ffmpeg", ["ffmpeg", "-version"], f"{apt} ffmpeg"),
        await _tool("ffprobe", ["ffprobe", "-version"], f"{apt} ffmpeg"),
        await _tool("aria2c", ["aria2c", "--version"], f"{apt} aria2"),
        *await _ytdlp(settings),
        await _tool(
            "chromium",
            [settings.chromium_path, "--version"],
            f"{apt} chromium (only for pages that need a browser)",
            required=False,
        ),
        await _database(settings),
        Check(
            "telegram token",
            settings.telegram_token is not None,
            "set" if settings.telegram_token else "not set: the bot will not start",
            "set MEDIAFERRY_TELEGRAM_TOKEN",
            required=False,
        ),
        _mtproto(settings),  # issue 10
    ]
    table = Table(title="mediaferry doctor")
    for col in ("check", "status", "detail", "how to fix"):
        table.add_column(col)
    for c in checks:
        if c.ok:
            mark = "[yellow]warn[/yellow]" if c.warn else "[green]ok[/green]"
        else:
            mark = "[red]missing[/red]" if c.required else "[yellow]optional[/yellow]"
        fix = c.fix if c.warn or not c.ok else ""
        table.add_row(c.name, mark, escape(c.detail), escape(fix))
    console.print(table)
    return all(c.ok for c in checks if c.required)
