"""User commands: /start /help /status /queue /job /cancel /retry /settings /archive_*."""

from __future__ import annotations

import logging
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from mediaferry.bot import texts
from mediaferry.bot.callbacks import EXPIRED, CancelJob, SetOption, answer, parse_callback, set_data
from mediaferry.bot.context import BotContext
from mediaferry.bot.intake import reply
from mediaferry.db.models import Job
from mediaferry.errors import InvalidTransition, JobNotFound, MediaferryError, user_message
from mediaferry.jobs.chats import ChatPrefs
from mediaferry.jobs.states import ACTIVE_STATUSES

__all__ = ["handlers", "unknown_command_handler"]

log = logging.getLogger(__name__)
SETTING_QUALITIES = ("best", "1080p", "720p", "480p", "360p")
SETTINGS_USAGE = (
    "Usage: /settings [type ask|video|audio] [quality best|1080p|720p|480p|360p] "
    "[archive on|off] [ask on|off]"
)


def _is_admin(update: Update, ctx: BotContext) -> bool:
    user = update.effective_user
    return ctx.services.settings.is_admin(user.id if user else None)


def job_line(job: Job) -> str:
    title = texts.esc((job.final_title or job.title or job.url)[:60])
    stage = f" · {job.stage.lower()}" if job.stage and job.status == "RUNNING" else ""
    return f"#{job.id} {job.status.lower()}{stage} — {title}"


async def cmd_start(update: Update, ctx: BotContext) -> None:
    await reply(update, f"{texts.START}\n\n{texts.HELP_USER}")


async def cmd_help(update: Update, ctx: BotContext) -> None:
    extra = texts.HELP_ADMIN if _is_admin(update, ctx) else ""
    await reply(update, texts.HELP_USER + extra)


async def cmd_status(update: Update, ctx: BotContext) -> None:
    assert update.effective_user is not None
    jobs = await ctx.services.jobs.list(user_id=update.effective_user.id, limit=10)
    if not jobs:
        await reply(update, "You have no jobs yet. Send me a link!")
        return
    await reply(update, "Your latest jobs:\n" + texts.bullet_list(job_line(j) for j in jobs))


async def cmd_queue(update: Update, ctx: BotContext) -> None:
    svc = ctx.services.jobs
    counts = await svc.counts()
    active = [s.value for s in ACTIVE_STATUSES]
    head = ", ".join(f"{counts.get(s, 0)} {s.lower()}" for s in active)
    user = update.effective_user
    uid = None if _is_admin(update, ctx) or user is None else user.id
    jobs = await svc.list(status=active, user_id=uid, limit=10)
    lines = [f"Queue: {head}"]
    if jobs:
        lines.append("Active jobs:" if uid is None else "Your active jobs:")
        lines.append(texts.bullet_list(job_line(j) for j in reversed(jobs)))
    await reply(update, "\n".join(lines))


def _job_id(ctx: BotContext) -> int | None:
    args = list(ctx.args or [])
    if len(args) != 1:
        return None
    try:
        return int(args[0].lstrip("#"))
    except ValueError:
        return None


async def _own_job(update: Update, ctx: BotContext, usage: str) -> Job | None:
    job_id = _job_id(ctx)
    if job_id is None:
        await reply(update, f"Usage: {usage}")
        return None
    user = update.effective_user
    try:
        job = await ctx.services.jobs.get(job_id)
    except JobNotFound:
        job = None
    if job is None or (not _is_admin(update, ctx) and job.user_id != (user and user.id)):
        await reply(update, f"No job #{job_id}.")
        return None
    return job


async def cmd_job(update: Update, ctx: BotContext) -> None:
    job = await _own_job(update, ctx, "/job &lt;id&gt;")
    if job is None:
        return
    lines = [
        f"<b>Job #{job.id}</b> — {texts.esc(job.status.lower())}",
        f"Link: {texts.esc(job.url)}",
        f"Type: {job.job_type}, quality {texts.esc(job.requested_quality)}",
    ]
    if title := job.final_title or job.title:
        lines.append(f"Title: {texts.esc(title)}")
    if job.stage:
        lines.append(f"Stage: {texts.STAGE_NAMES.get(job.stage, job.stage)}")
    if job.bytes_total:
        lines.append(
            f"Size: {texts.human_size(job.bytes_done)} / {texts.human_size(job.bytes_total)}"
        )
    lines.append(f"Attempts: {job.attempts}/{job.max_attempts}")
    if job.error_type:
        lines.append(
            f"Error: {texts.esc(job.error_type)} — {texts.esc(user_message(job.error_type))}"
        )
        if job.error_message:
            lines.append(f"Details: {texts.esc(job.error_message[:300])}")
    events = (await ctx.services.jobs.events(job.id))[-6:]
    if events:
        lines.append("Last events:")
        lines.extend(f"• {e.created_at:%H:%M:%S} {texts.esc(e.event_type)}" for e in events)
    await reply(update, "\n".join(lines))


async def cmd_cancel(update: Update, ctx: BotContext) -> None:
    job = await _own_job(update, ctx, "/cancel &lt;id&gt;")
    if job is None:
        return
    try:
        await ctx.services.jobs.cancel(job.id, user_id=job.user_id, admin=True)
    except (InvalidTransition, JobNotFound) as exc:
        await reply(update, texts.esc(exc.message))
        return
    await reply(update, f"Cancelling job #{job.id}.")


async def cmd_retry(update: Update, ctx: BotContext) -> None:
    job = await _own_job(update, ctx, "/retry &lt;id&gt;")
    if job is None:
        return
    try:
        await ctx.services.jobs.retry(job.id)
    except (InvalidTransition, JobNotFound) as exc:
        await reply(update, texts.esc(exc.message))
        return
    await reply(update, f"Job #{job.id} is queued again.")


async def on_cancel_button(update: Update, ctx: BotContext) -> None:
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    cb = parse_callback(query.data)
    if not isinstance(cb, CancelJob):
        await answer(query, EXPIRED)
        return
    try:
        job = await ctx.services.jobs.get(cb.job_id)
    except JobNotFound:
        job = None
    # a Cancel button lives in the chat of its job: any other id was not on this button
    if job is None or job.chat_id is None or job.chat_id != _chat_of(query):
        await answer(query, EXPIRED)
        return
    try:
        await ctx.services.jobs.cancel(job.id, user_id=user.id, admin=_is_admin(update, ctx))
    except JobNotFound:
        await answer(query, texts.NOT_YOURS, alert=True)
        return
    except MediaferryError as exc:
        await answer(query, exc.message)
        return
    await answer(query, "Cancelling…")


async def on_unknown_button(update: Update, ctx: BotContext) -> None:
    """Callback data no handler claims (forged, or from an older version): answered."""
    if update.callback_query is not None:
        await answer(update.callback_query, EXPIRED)


def _chat_of(query: CallbackQuery) -> int | None:
    return query.message.chat.id if query.message is not None else None


# -- settings ------------------------------------------------------------------------------
def settings_text(cs: ChatPrefs) -> str:
    kind = cs.default_job_type or ("ask" if cs.ask else "video")
    return (
        "<b>Settings of this chat</b>\n"
        f"Type: {kind}\nQuality: {texts.esc(cs.default_quality)}\n"
        f"Archive: {'on' if cs.archive_mode else 'off'}"
    )


def settings_markup(cs: ChatPrefs) -> InlineKeyboardMarkup:
    def mark(label: str, on: bool) -> str:
        return f"• {label}" if on else label

    kind = cs.default_job_type or ("ask" if cs.ask else "video")
    types = [
        InlineKeyboardButton(mark(t.title(), kind == t), callback_data=set_data("type", t))
        for t in ("ask", "video", "audio")
    ]
    quals = [
        InlineKeyboardButton(mark(q, cs.default_quality == q), callback_data=set_data("quality", q))
        for q in SETTING_QUALITIES
    ]
    arch = InlineKeyboardButton(
        f"Archive: {'on' if cs.archive_mode else 'off'}",
        callback_data=set_data("archive", "off" if cs.archive_mode else "on"),
    )
    return InlineKeyboardMarkup([types, quals, [arch]])


async def apply_setting(ctx: BotContext, chat_id: int, key: str, value: str) -> str | None:
    """Change one setting; returns an error message for a bad value."""
    chats = ctx.services.chats
    if key == "type" and value in ("ask", "video", "audio"):
        job_type = None if value == "ask" else value
        await chats.update(chat_id, default_job_type=job_type, ask=value == "ask")
    elif key == "quality" and value in SETTING_QUALITIES:
        await chats.update(chat_id, default_quality=value)
    elif key in ("archive", "ask") and value in ("on", "off"):
        field = "archive_mode" if key == "archive" else "ask"
        await chats.update(chat_id, **{field: value == "on"})
    else:
        return SETTINGS_USAGE
    return None


async def cmd_settings(update: Update, ctx: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    args = [a.lower() for a in ctx.args or []]
    if args:
        if len(args) != 2:
            await reply(update, texts.esc(SETTINGS_USAGE))
            return
        error = await apply_setting(ctx, message.chat_id, args[0], args[1])
        if error:
            await reply(update, texts.esc(error))
            return
    cs = await ctx.services.chats.get(message.chat_id)
    await reply(update, settings_text(cs), reply_markup=settings_markup(cs))


async def on_settings_button(update: Update, ctx: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    cb = parse_callback(query.data)
    chat_id = _chat_of(query)
    if not isinstance(cb, SetOption) or chat_id is None:
        await answer(query, EXPIRED)
        return
    error = await apply_setting(ctx, chat_id, cb.key, cb.value)
    await answer(query, error or "Saved.")
    cs = await ctx.services.chats.get(chat_id)
    await query.edit_message_text(
        settings_text(cs), parse_mode=texts.PARSE_MODE, reply_markup=settings_markup(cs)
    )


async def cmd_archive_on(update: Update, ctx: BotContext) -> None:
    assert update.effective_chat is not None
    await ctx.services.chats.update(update.effective_chat.id, archive_mode=True)
    await reply(update, "Archive mode is on: downloads from this chat are kept in the archive.")


async def cmd_archive_off(update: Update, ctx: BotContext) -> None:
    assert update.effective_chat is not None
    await ctx.services.chats.update(update.effective_chat.id, archive_mode=False)
    await reply(update, "Archive mode is off.")


async def unknown_command(update: Update, ctx: BotContext) -> None:
    await reply(update, texts.UNKNOWN_COMMAND)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CommandHandler("start", cmd_start),
        CommandHandler("help", cmd_help),
        CommandHandler("status", cmd_status),
        CommandHandler("queue", cmd_queue),
        CommandHandler("job", cmd_job),
        CommandHandler("cancel", cmd_cancel),
        CommandHandler("retry", cmd_retry),
        CommandHandler("settings", cmd_settings),
        CommandHandler("archive_on", cmd_archive_on),
        CommandHandler("archive_off", cmd_archive_off),
        CallbackQueryHandler(on_cancel_button, pattern=r"^cancel:"),
        CallbackQueryHandler(on_settings_button, pattern=r"^set:"),
    ]


def unknown_command_handler() -> BaseHandler[Update, BotContext, Any]:
    return MessageHandler(filters.COMMAND, unknown_command)


def unknown_button_handler() -> BaseHandler[Update, BotContext, Any]:
    """Registered last: every callback no other handler claimed."""
    return CallbackQueryHandler(on_unknown_button)
