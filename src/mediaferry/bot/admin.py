"""Admin commands: /health /pause /resume /clear /debug_on /debug_off /maintenance_*.

Every one checks the admin list; anyone else gets a short refusal.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from mediaferry.bot import texts
from mediaferry.bot.context import BotContext
from mediaferry.bot.intake import reply
from mediaferry.jobs.ytdlp_health import admin_lines, ytdlp_report

__all__ = ["handlers", "tool_versions"]

log = logging.getLogger(__name__)
Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]


def admin_only(func_: Handler) -> Handler:
    async def wrapper(update: Update, ctx: BotContext) -> None:
        user = update.effective_user
        if not ctx.services.settings.is_admin(user.id if user else None):
            log.info("admin command refused", extra={"user_id": user.id if user else None})
            await reply(update, texts.REFUSED_ADMIN)
            return
        await func_(update, ctx)

    wrapper.__name__ = func_.__name__
    return wrapper


async def _first_line(*cmd: str) -> str:
    exe = shutil.which(cmd[0])
    if exe is None:
        return "not found"
    try:
        proc = await asyncio.create_subprocess_exec(
            exe, *cmd[1:], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    except (OSError, TimeoutError):
        return "not runnable"
    lines = out.decode(errors="replace").strip().splitlines()
    return lines[0][:80] if lines else "?"


async def tool_versions(ffmpeg: str = "ffmpeg", aria2c: str = "aria2c") -> dict[str, str]:
    ff, aria = await asyncio.gather(
        _first_line(ffmpeg, "-version"), _first_line(aria2c, "--version")
    )
    # yt-dlp: see ytdlp_health.admin_lines (asked in a child, so never a stale version)
    return {"ffmpeg": ff, "aria2c": aria}


@admin_only
async def cmd_health(update: Update, ctx: BotContext) -> None:
    svc = ctx.services
    counts = await svc.jobs.counts()
    running = await svc.jobs.list(status="RUNNING", limit=1000)
    failed = await svc.jobs.list(status="FAILED", limit=200)
    per_source = Counter(j.source_type for j in running)
    errors = Counter(j.error_type or "UNKNOWN" for j in failed)
    workers = (await svc.jobs.worker_stats()).alive
    disk = await asyncio.to_thread(svc.disk.status)
    versions = await tool_versions(svc.settings.ffmpeg_path, svc.settings.aria2c_path)
    ytdlp = await ytdlp_report(svc.settings)
    paused = await svc.jobs.is_paused()
    maintenance = await svc.jobs.get_flag("maintenance")
    lines = [
        "<b>Health</b>",
        "Jobs: " + ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n) or "none",
        "Running per source: "
        + (", ".join(f"{s.lower()} {n}" for s, n in per_source.items()) or "none"),
        "Recent errors: " + (", ".join(f"{t} {n}" for t, n in errors.most_common(6)) or "none"),
        f"Workers: {workers}" + (" (paused)" if paused else ""),
        f"Maintenance: {'on' if maintenance else 'off'}",
        f"Disk free: {texts.human_size(disk.free_bytes)}" + (" (LOW)" if disk.is_low else ""),
        *(texts.esc(line) for line in admin_lines(ytdlp)),
        *(f"{name}: {texts.esc(v)}" for name, v in versions.items()),
    ]
    await reply(update, "\n".join(lines))


@admin_only
async def cmd_pause(update: Update, ctx: BotContext) -> None:
    await ctx.services.jobs.pause()
    await reply(update, "Paused: no new jobs will start until /resume.")


@admin_only
async def cmd_resume(update: Update, ctx: BotContext) -> None:
    await ctx.services.jobs.resume()
    await reply(update, "Resumed.")


@admin_only
async def cmd_clear(update: Update, ctx: BotContext) -> None:
    n = await ctx.services.jobs.clear_finished()
    await reply(update, f"Deleted {n} failed or cancelled job(s).")


def _arg_id(ctx: BotContext) -> int | None:
    args = list(ctx.args or [])
    try:
        return int(args[0].lstrip("#")) if len(args) == 1 else None
    except ValueError:
        return None


async def _set_debug(update: Update, ctx: BotContext, on: bool) -> None:
    word = "on" if on else "off"
    job_id = _arg_id(ctx)
    if job_id is None:
        await reply(update, f"Usage: /debug_{word} &lt;id&gt;")
        return
    await ctx.services.jobs.set_debug(job_id, on)
    await reply(update, f"Debug logging is {word} for job #{job_id}.")


@admin_only
async def cmd_debug_on(update: Update, ctx: BotContext) -> None:
    await _set_debug(update, ctx, True)


@admin_only
async def cmd_debug_off(update: Update, ctx: BotContext) -> None:
    await _set_debug(update, ctx, False)


@admin_only
async def cmd_maintenance_on(update: Update, ctx: BotContext) -> None:
    await ctx.services.jobs.set_flag("maintenance", True)
    log.warning("maintenance mode on")
    await reply(update, "Maintenance mode is on: new jobs are refused.")


@admin_only
async def cmd_maintenance_off(update: Update, ctx: BotContext) -> None:
    await ctx.services.jobs.set_flag("maintenance", False)
    log.warning("maintenance mode off")
    await reply(update, "Maintenance mode is off.")


ADMIN_COMMANDS: dict[str, Handler] = {
    "health": cmd_health,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "clear": cmd_clear,
    "debug_on": cmd_debug_on,
    "debug_off": cmd_debug_off,
    "maintenance_on": cmd_maintenance_on,
    "maintenance_off": cmd_maintenance_off,
}


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [CommandHandler(name, fn) for name, fn in ADMIN_COMMANDS.items()]
