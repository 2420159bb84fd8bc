"""Turning links into jobs: create or find the job, waiters, the ask keyboard."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageEntity, Update
from telegram import error as tg

from mediaferry.bot import texts
from mediaferry.bot.callbacks import ask_data
from mediaferry.bot.context import BotContext, BotRuntime
from mediaferry.db.models import Job
from mediaferry.errors import JobError, LimitExceeded, UrlRejected
from mediaferry.jobs.estimate import Estimate
from mediaferry.jobs.service import CreateResult
from mediaferry.jobs.states import ACTIVE_STATUSES, JobStatus
from mediaferry.plan import MediaPlan, SourceType

__all__ = ["PendingAsk", "Submitted", "extract_urls", "settle", "submit_url"]

log = logging.getLogger(__name__)

# also catches schemes we refuse, so they get a clear answer instead of silence
_LINK_RE = re.compile(
    r"(?:https?|ftp|file|javascript|data|magnet|vbscript):[^\s<>\"']+", re.IGNORECASE
)
_STREAM_SOURCES = {SourceType.DIRECT, SourceType.TORRENT, SourceType.TELEGRAM}
QUALITY_CHOICES = ("1080p", "720p", "480p", "360p")


@dataclass
class Submitted:
    """What happened to one link."""

    url: str
    outcome: str  # queued | duplicate | resent | refused
    job: Job | None = None
    reason: str | None = None


@dataclass
class PendingAsk:
    """A bare link waiting for the user's Video/Audio/quality choice."""

    token: str
    url: str
    user_id: int
    chat_id: int
    message_id: int
    keyboard_message_id: int = 0
    timer: asyncio.Task[None] | None = field(default=None, repr=False)
    plan: MediaPlan | None = field(default=None, repr=False)  # from the estimate


def extract_urls(message: Message) -> list[str]:
    """Links of a message or caption (entities first, then anything link-like), in order."""
    found: list[str] = []
    for ent, value in {
        **message.parse_entities([MessageEntity.URL, MessageEntity.TEXT_LINK]),
        **message.parse_caption_entities([MessageEntity.URL, MessageEntity.TEXT_LINK]),
    }.items():
        found.append(ent.url if ent.type == MessageEntity.TEXT_LINK and ent.url else value)
    text = message.text or message.caption or ""
    found.extend(m.group(0).rstrip(".,;!?)") for m in _LINK_RE.finditer(text))
    return links_in_order(found)


def links_in_order(urls: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for url in urls:
        url = url.strip()
        if url and url not in seen:
            seen.add(url)
            out.append(url)
    return out


async def refuse_if_maintenance(ctx: BotContext, update: Update) -> bool:
    user = update.effective_user
    if ctx.services.settings.is_admin(user.id if user else None):
        return False
    if await ctx.services.jobs.get_flag("maintenance"):
        await reply(update, texts.MAINTENANCE)
        return True
    return False


async def reply(update: Update, text: str, **kwargs: object) -> Message | None:
    message = update.effective_message
    if message is None:
        return None
    return await message.reply_text(
        text,
        parse_mode=texts.PARSE_MODE,
        do_quote=True,
        **kwargs,  # type: ignore[arg-type]
    )


async def submit_url(
    rt: BotRuntime,
    url: str,
    *,
    job_type: str,
    quality: str,
    user_id: int,
    chat_id: int,
    message_id: int,
    archive: bool = False,
    progress: bool = True,
    playlist_items: str | None = None,
    plan: MediaPlan | None = None,
) -> Submitted:
    """Create (or find) the job for one link and start its progress message.

    A completed duplicate with a stored file_id is re-sent by file_id at once; an
    in-flight duplicate from another chat makes that chat a waiter.
    """
    jobs = rt.services.jobs
    try:
        result = await jobs.create(
            url,
            job_type=job_type,
            quality=quality,
            user_id=user_id,
            chat_id=chat_id,
            message_id=message_id,
            archive=archive,
            origin="telegram",
            playlist_items=playlist_items,
            plan=plan,
        )
    except (UrlRejected, LimitExceeded) as exc:
        log.info("link refused: %s", exc.message, extra={"user_id": user_id, "chat_id": chat_id})
        return Submitted(url, "refused", reason=exc.message)
    return await settle(rt, url, result, user_id, chat_id, message_id, progress=progress)


async def settle(
    rt: BotRuntime,
    url: str,
    result: CreateResult,
    user_id: int,
    chat_id: int,
    message_id: int,
    *,
    progress: bool = True,
) -> Submitted:
    """What a chat gets for a job just created or found: its progress message, the
    finished media again by file_id, or a place among the waiters."""
    jobs = rt.services.jobs
    job = result.job
    if result.created:
        if progress:
            rt.tracker.open(job, message_id)
        return Submitted(url, "queued", job)
    if job.status == JobStatus.COMPLETED and job.telegram_file_id:
        try:
            await rt.deliverer.resend(job, chat_id, message_id)
        except JobError as exc:
            return Submitted(url, "refused", job, reason=exc.message)
        return Submitted(url, "resent", job)
    if job.status == JobStatus.COMPLETED and await _upload_existing(rt, job, chat_id, message_id):
        return Submitted(url, "resent", job)
    if job.status in ACTIVE_STATUSES and job.chat_id != chat_id:
        await add_waiter(rt, job, user_id, chat_id, message_id, announce=progress)
        # the job may have been delivered while we were adding ourselves
        fresh = await jobs.get(job.id)
        if fresh.status == JobStatus.COMPLETED and fresh.telegram_file_id:
            await rt.deliverer.send_to_waiters(fresh)
    return Submitted(url, "duplicate", job)


async def _upload_existing(rt: BotRuntime, job: Job, chat_id: int, message_id: int) -> bool:
    """A job done elsewhere (CLI, web) whose files are still on disk: upload them once."""
    processed = rt.services.jobs.stored_result(job)
    if processed is None:
        return False
    try:
        ids = await rt.deliverer.send_processed(job, processed, chat_id, message_id)
    except tg.TelegramError as exc:
        log.warning("upload of a finished job failed: %s", exc, extra={"job_id": job.id})
        return False
    await rt.services.jobs.record_telegram_delivery(job.id, ids)
    return True


async def add_waiter(
    rt: BotRuntime, job: Job, user_id: int, chat_id: int, message_id: int, *, announce: bool
) -> None:
    note_id: int | None = None
    if announce:
        try:
            note = await rt.tracker.bot.send_message(
                chat_id,
                texts.ALREADY_RUNNING.format(id=job.id),
                parse_mode=texts.PARSE_MODE,
                reply_to_message_id=message_id,
            )
            note_id = note.message_id
        except tg.TelegramError as exc:
            log.info("could not announce waiter: %s", exc, extra={"job_id": job.id})
    await rt.services.jobs.add_waiter(
        job.id, chat_id, user_id=user_id, message_id=message_id, progress_message_id=note_id
    )


def describe_outcome(sub: Submitted) -> str | None:
    """The reply for a single link, or None when the progress message says it all."""
    if sub.outcome == "refused":
        return f"⚠️ {texts.esc(sub.reason or 'refused')}"
    if sub.outcome == "duplicate" and sub.job is not None:
        return f"⏳ This link is already queued as job #{sub.job.id}."
    return None


# -- the ask keyboard ----------------------------------------------------------------------
def ask_markup(token: str, est: Estimate) -> InlineKeyboardMarkup:
    size, duration = est.size, est.duration
    video = "🎬 Video" + (f" (~{texts.human_size(size)})" if size else "")
    audio_size = duration * 128_000 / 8 if duration else None
    audio = "🎵 Audio" + (f" (~{texts.human_size(audio_size)})" if audio_size else "")
    rows = [[InlineKeyboardButton(video, callback_data=ask_data(token, "video", "best"))]]
    if est.qualities:
        buttons = [
            InlineKeyboardButton(
                q + (f" ~{texts.human_size(s)}" if s else ""),
                callback_data=ask_data(token, "video", q),
            )
            for q, s in list(est.qualities.items())[:6]
        ]
        rows.extend(buttons[i : i + 3] for i in range(0, len(buttons), 3))
    elif est.source not in _STREAM_SOURCES:
        rows.append(
            [
                InlineKeyboardButton(q, callback_data=ask_data(token, "video", q))
                for q in QUALITY_CHOICES
            ]
        )
    rows.append([InlineKeyboardButton(audio, callback_data=ask_data(token, "audio", "audio"))])
    return InlineKeyboardMarkup(rows)


async def ask(ctx: BotContext, update: Update, url: str) -> None:
    rt = ctx.runtime
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    pending = PendingAsk(secrets.token_hex(4), url, user.id, message.chat_id, message.message_id)
    # described once here; the job created from the choice keeps the plan (no 2nd extraction)
    est = await ctx.services.jobs.estimate(url)
    pending.plan = est.plan
    sent = await message.reply_text(
        texts.ASK, reply_markup=ask_markup(pending.token, est), do_quote=True
    )
    pending.keyboard_message_id = sent.message_id
    rt.pending[pending.token] = pending
    pending.timer = asyncio.create_task(_ask_timeout(rt, pending))


async def _ask_timeout(rt: BotRuntime, pending: PendingAsk) -> None:
    await asyncio.sleep(rt.services.settings.ask_timeout_s)
    if rt.pending.pop(pending.token, None) is None:
        return
    cs = await rt.services.chats.get(pending.chat_id)
    job_type = cs.default_job_type or "video"
    quality = "audio" if job_type == "audio" else cs.default_quality
    await choose(rt, pending, job_type, quality)


async def choose(rt: BotRuntime, pending: PendingAsk, job_type: str, quality: str) -> None:
    """Create the job for a pending link; the keyboard message becomes its progress."""
    cs = await rt.services.chats.get(pending.chat_id)
    sub = await submit_url(
        rt,
        pending.url,
        job_type=job_type,
        quality=quality,
        user_id=pending.user_id,
        chat_id=pending.chat_id,
        message_id=pending.message_id,
        archive=cs.archive_mode,
        progress=False,
        plan=pending.plan,
    )
    if sub.outcome == "queued" and sub.job is not None:
        await rt.tracker.adopt(sub.job, pending.keyboard_message_id, texts.QUEUED)
        return
    text = describe_outcome(sub)
    bot = rt.tracker.bot
    try:
        if text is None:  # re-sent from cache: the media replaces the keyboard
            await bot.delete_message(pending.chat_id, pending.keyboard_message_id)
        else:
            await bot.edit_message_text(
                text, pending.chat_id, pending.keyboard_message_id, parse_mode=texts.PARSE_MODE
            )
    except tg.TelegramError as exc:
        log.info("could not update the keyboard message: %s", exc)
