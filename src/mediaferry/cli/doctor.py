"""``mediaferry doctor``: is everything Mediaferry needs installed and reachable?"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass

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
    from mediaferry.db.engine import Database

    db = Database(settings.database_url)
    try:
        await db.upgrade()
        kind = "PostgreSQL" if db.is_postgres else "SQLite"
        return Check("database", True, f"{kind} reachable, schema up to date")
    except Exception as exc:
        return Check(
            "database", False, f"{type(exc).__name__}: {exc}"[:120], "check MEDIAFERRY_DATABASE_URL"
        )
    finally:
        await db.close()


def _ytdlp() -> Check:
    try:
        from yt_dlp.version import __version__ as v
    except ImportError:
        return Check("yt-dlp", False, "not installed", "pip install -U yt-dlp")
    return Check("yt-dlp", True, str(v), "pip install -U yt-dlp")


async def run_doctor(settings: Settings) -> bool:
    apt = "sudo apt-get install -y"
    checks = [
        await _tool("ffmpeg", ["ffmpeg", "-version"], f"{apt} ffmpeg"),
        await _tool("ffprobe", ["ffprobe", "-version"], f"{apt} ffmpeg"),
        await _tool("aria2c", ["aria2c", "--version"], f"{apt} aria2"),
        _ytdlp(),
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
    ]
    table = Table(title="mediaferry doctor")
    for col in ("check", "status", "detail", "how to fix"):
        table.add_column(col)
    for c in checks:
        mark = (
            "[green]ok[/green]"
            if c.ok
            else ("[red]missing[/red]" if c.required else "[yellow]optional[/yellow]")
        )
        table.add_row(c.name, mark, c.detail, "" if c.ok else c.fix)
    console.print(table)
    return all(c.ok for c in checks if c.required)
