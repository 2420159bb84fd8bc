"""Files sent or forwarded to the bot (issue 10): audio, video, voice, video notes,
GIFs and documents (a video sent as a file too).

* with the caption ``/archive``, in a chat with ``/archive_on``, or answered with
  ``/archive``: the file becomes a job that keeps it in the library (byte for byte); the
  chat gets a confirmation, not the file back;
* ``/audio`` in reply to a video (one the user sent or forwarded, or one the bot sent):
  a job that sends its sound track back as tagged audio;
* anything else gets a short answer saying what can be done with it, never silence.

Stickers and photos are not taken (a clear answer says so). The jobs are ordinary
jobs of the engine (``/status``, ``/job``, ``/cancel``, ``/retry``, the web page), with
progress messages like a link's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from telegram import Message, MessageOrigin, Update
from telegram.ext import BaseHandler, CommandHandler, MessageHandler, filters

from mediaferry.bot import texts
from mediaferry.bot.context import BotContext
from mediaferry.bot.intake import (
    extract_urls,
    refuse_if_maintenance,
    reply,
    settle,
)
from mediaferry.bot.submit import on_links
from mediaferry.errors import LimitExceeded, UrlRejected
from mediaferry.jobs import bot_files
from mediaferry.jobs.states import JobStatus
from mediaferry.plan import BotFile

__all__ = ["bot_file_of", "cmd_audio_reply", "handlers"]

log = logging.getLogger(__name__)

# the message fields that hold a file we take, most specific first (an animation is
# also a document on the Bot API)
_FILE_FIELDS = ("animation", "video", "video_note", "audio", "voice", "document")


def _origin_name(origin: MessageOrigin | None) -> str | None:
    """Who a forwarded message came from: a channel's or chat's title, a name."""
    if origin is None:
        return None
    data = origin.to_dict()
    for key in ("chat", "sender_chat"):
        chat = data.get(key)
        if isinstance(chat, dict) and chat.get("title"):
            return str(chat["title"])
    user = data.get("sender_user")
    if isinstance(user, dict):
        name = " ".join(str(user[k]) for k in ("first_name", "last_name") if user.get(k))
        return name or None
    hidden = data.get("sender_user_name")
    return str(hidden) if hidden else None


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value > 0 else None


def bot_file_of(message: Message) -> BotFile | None:
    """The file ``message`` holds, as plain data; None if it holds none we take."""
    for kind in _FILE_FIELDS:
        media = getattr(message, kind, None)
        if media is None:
            continue
        data = media.to_dict()  # plain values (durations as seconds, not timedeltas)
        origin = message.forward_origin
        when = origin.date if origin is not None else message.date
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        size = data.get("file_size")
        width = data.get("width") or (data.get("length") if kind == "video_note" else None)
        return BotFile(
            chat_id=message.chat_id,
            message_id=message.message_id,
            kind=kind,
            file_id=str(data["file_id"]),
            file_unique_id=str(data["file_unique_id"]),
            size=int(size) if isinstance(size, int) else None,
            mime=data.get("mime_type") or ("video/mp4" if kind == "video_note" else None),
            file_name=data.get("file_name"),
            duration=_number(data.get("duration")),
            width=_number(width),
            height=_number(data.get("height") or width),
            title=data.get("title") or None,
            performer=data.get("performer") or None,
            caption=message.caption or "",
            origin=_origin_name(origin),
            date=when.astimezone(UTC).isoformat() if isinstance(when, datetime) else None,
        )
    return None


async def _archive(update: Update, ctx: BotContext, file: BotFile, reply_to: int) -> None:
    """The archive job of ``file``, or the answer why not / that it is there already."""
    user = update.effective_user
    assert user is not None
    services = ctx.services
    try:
        result = await bot_files.archive_job(
            services.jobs, services.settings, file, user_id=user.id
        )
    except (UrlRejected, LimitExceeded) as exc:
        await reply(update, f"⚠️ {texts.esc(exc.message)}")
        return
    job = result.job
    if result.created:
        ctx.runtime.tracker.open(job, reply_to)
        return
    log.info("file already archived or on its way", extra={"job_id": job.id})
    if job.status == JobStatus.COMPLETED:
        await reply(update, texts.ALREADY_ARCHIVED.format(id=job.id))
    else:
        await reply(update, texts.ALREADY_ARCHIVING.format(id=job.id))


async def on_file(update: Update, ctx: BotContext) -> None:
    """A file sent or forwarded to the bot."""
    message = update.effective_message
    if message is None or update.effective_user is None:
        return
    if message.sticker is not None:
        await reply(update, texts.STICKER)
        return
    if message.photo:
        if extract_urls(message):  # a picture with links under it: the links
            await on_links(update, ctx)
        else:
            await reply(update, texts.PHOTO)
        return
    file = bot_file_of(message)
    if file is None:
        return
    reason = bot_files.refusal(ctx.services.settings, file)
    if reason is not None:
        await reply(update, f"⚠️ {texts.esc(reason)}")
        return
    # an album's caption is on one of its messages only: what it asks holds for all
    # (decided before the first await, so in the order Telegram sent the messages)
    group, seen = message.media_group_id, False
    archive = bot_files.wants_archive(message.caption)
    if group is not None:
        seen = group in ctx.runtime.albums
        archive = ctx.runtime.remember_album(group, archive)
    cs = await ctx.services.chats.get(message.chat_id)
    if archive or cs.archive_mode:
        if await refuse_if_maintenance(ctx, update):
            return
        await _archive(update, ctx, file, message.message_id)
        return
    if not seen:  # one answer per album, not one per item
        await reply(update, texts.FILE_HINT_VIDEO if file.is_video else texts.FILE_HINT)


async def cmd_archive(update: Update, ctx: BotContext) -> None:
    """``/archive`` in reply to a file: keep that file in the library."""
    message = update.effective_message
    replied = message.reply_to_message if message is not None else None
    file = bot_file_of(replied) if replied is not None else None
    if file is None:
        await reply(update, texts.ARCHIVE_USAGE)
        return
    if await refuse_if_maintenance(ctx, update):
        return
    await _archive(update, ctx, file, replied.message_id if replied else file.message_id)


async def cmd_audio_reply(update: Update, ctx: BotContext, replied: Message) -> None:
    """``/audio`` in reply to a video: its sound track, sent back as tagged audio."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    file = bot_file_of(replied)
    if file is None:
        await reply(update, texts.AUDIO_NOT_VIDEO)
        return
    if await refuse_if_maintenance(ctx, update):
        return
    services = ctx.services
    cs = await services.chats.get(message.chat_id)
    try:
        result = await bot_files.audio_job(
            services.jobs, services.settings, file, user_id=user.id,
            message_id=message.message_id, archive=cs.archive_mode,
        )  # fmt: skip
    except (UrlRejected, LimitExceeded) as exc:
        await reply(update, f"⚠️ {texts.esc(exc.message)}")
        return
    sub = await settle(ctx.runtime, file.url, result, user.id, message.chat_id, message.message_id)
    if sub.outcome == "duplicate" and sub.job is not None:
        await reply(update, texts.AUDIO_ALREADY.format(id=sub.job.id))
    elif sub.outcome == "refused":
        await reply(update, f"⚠️ {texts.esc(sub.reason or 'refused')}")


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    """Before the link handlers: a file's caption is not a message of links."""
    txt = filters.Document.FileExtension("txt") | filters.Document.MimeType("text/plain")
    archive_caption = filters.CaptionRegex(bot_files.ARCHIVE_CAPTION)
    media = (
        filters.AUDIO
        | filters.VIDEO
        | filters.VOICE
        | filters.VIDEO_NOTE
        | filters.ANIMATION
        | filters.Sticker.ALL
        | filters.PHOTO
        | (filters.Document.ALL & ~(txt & ~archive_caption))  # a .txt is a list of links
    )
    return [
        CommandHandler("archive", cmd_archive),
        MessageHandler(media, on_file),
    ]
