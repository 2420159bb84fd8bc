"""Submitting handlers: links in messages, .txt files of links, /video /audio /get,
and the Video/Audio/quality keyboard."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from mediaferry.bot import texts
from mediaferry.bot.callbacks import EXPIRED, AskChoice, answer, parse_callback
from mediaferry.bot.context import BotContext
from mediaferry.bot.intake import (
    ask,
    choose,
    describe_outcome,
    extract_urls,
    links_in_order,
    refuse_if_maintenance,
    reply,
    submit_url,
)

__all__ = ["TXT_MAX_BYTES", "handlers"]

log = logging.getLogger(__name__)
TXT_MAX_BYTES = 1024 * 1024


async def _submit_many(
    ctx: BotContext,
    update: Update,
    urls: list[str],
    job_type: str | None,
    quality: str | None,
    *,
    batch: bool = False,
    playlist_items: str | None = None,
) -> None:
    """Several links (a message or a .txt file): one job each, one summary reply."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    limit = ctx.services.settings.max_links_per_message
    if len(urls) > limit:
        log.info("too many links: %d", len(urls), extra={"user_id": user.id})
        await reply(update, texts.TOO_MANY_LINKS.format(n=len(urls), limit=limit))
        return
    cs = await ctx.services.chats.get(message.chat_id)
    jtype = job_type or cs.default_job_type or "video"
    qual = quality or ("audio" if jtype == "audio" else cs.default_quality)
    single = len(urls) == 1 and not batch
    counts = {"queued": 0, "duplicate": 0, "resent": 0}
    refused: dict[str, str] = {}
    for url in urls:
        sub = await submit_url(
            ctx.runtime,
            url,
            job_type=jtype,
            quality=qual,
            user_id=user.id,
            chat_id=message.chat_id,
            message_id=message.message_id,
            archive=cs.archive_mode,
            progress=single,
            playlist_items=playlist_items,
        )
        if sub.outcome == "refused":
            refused[url] = sub.reason or "refused"
        else:
            counts[sub.outcome] += 1
        if single and (text := describe_outcome(sub)):
            await reply(update, text)
    if not single:
        dupes = counts["duplicate"] + counts["resent"]
        await reply(update, texts.summary(counts["queued"], dupes, refused))


async def on_links(update: Update, ctx: BotContext) -> None:
    message = update.effective_message
    if message is None or update.effective_user is None:
        return
    urls = extract_urls(message)
    if not urls:
        if message.chat.type == "private":
            await reply(update, texts.NO_LINKS)
        return
    if await refuse_if_maintenance(ctx, update):
        return
    cs = await ctx.services.chats.get(message.chat_id)
    if len(urls) == 1 and cs.ask and cs.default_job_type is None:
        await ask(ctx, update, urls[0])
        return
    await _submit_many(ctx, update, urls, None, None)


async def on_txt(update: Update, ctx: BotContext) -> None:
    message = update.effective_message
    if message is None or message.document is None:
        return
    doc = message.document
    if doc.file_size is not None and doc.file_size > TXT_MAX_BYTES:
        await reply(
            update,
            texts.TXT_TOO_BIG.format(
                size=texts.human_size(doc.file_size), limit=texts.human_size(TXT_MAX_BYTES)
            ),
        )
        return
    if await refuse_if_maintenance(ctx, update):
        return
    file = await ctx.bot.get_file(doc.file_id)
    data = bytes(await file.download_as_bytearray())
    if len(data) > TXT_MAX_BYTES:
        await reply(update, texts.TXT_BINARY)
        return
    text = _as_text(data)
    if text is None:
        await reply(update, texts.TXT_BINARY)
        return
    urls = links_in_order([line.strip() for line in text.splitlines() if line.strip()])
    urls = [u for u in urls if not u.startswith("#")]
    if not urls:
        await reply(update, texts.TXT_EMPTY)
        return
    await _submit_many(ctx, update, urls, None, None, batch=True)


def _as_text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    bad = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t")
    return None if bad else text


async def _command_submit(
    update: Update,
    ctx: BotContext,
    job_type: str,
    quality: str | None,
    playlist_items: str | None = None,
) -> None:
    if await refuse_if_maintenance(ctx, update):
        return
    urls = list(ctx.args or [])[:1]
    await _submit_many(ctx, update, urls, job_type, quality, playlist_items=playlist_items)


async def cmd_video(update: Update, ctx: BotContext) -> None:
    args = list(ctx.args or [])
    if not 1 <= len(args) <= 2:
        await reply(update, "Usage: /video &lt;link&gt; [playlist entries, e.g. 1-10]")
        return
    await _command_submit(update, ctx, "video", None, args[1] if len(args) == 2 else None)


async def cmd_audio(update: Update, ctx: BotContext) -> None:
    args = list(ctx.args or [])
    message = update.effective_message
    replied = message.reply_to_message if message is not None else None
    if not args and replied is not None:  # /audio in reply to a video (issue 10)
        from mediaferry.bot.files import cmd_audio_reply

        await cmd_audio_reply(update, ctx, replied)
        return
    if not 1 <= len(args) <= 2:
        await reply(
            update,
            "Usage: /audio &lt;link&gt; [playlist entries, e.g. 1-10], or reply /audio to a video",
        )
        return
    await _command_submit(update, ctx, "audio", "audio", args[1] if len(args) == 2 else None)


async def cmd_get(update: Update, ctx: BotContext) -> None:
    args = list(ctx.args or [])
    if len(args) not in (2, 3):
        await reply(
            update,
            "Usage: /get &lt;link&gt; &lt;quality&gt; [entries] (e.g. 720p, audio; 1-10)",
        )
        return
    quality = args[1].lower()
    job_type = "audio" if quality.startswith("audio") else "video"
    await _command_submit(update, ctx, job_type, quality, args[2] if len(args) == 3 else None)


async def on_ask_button(update: Update, ctx: BotContext) -> None:
    query = update.callback_query
    if query is None or update.effective_user is None:
        return
    cb = parse_callback(query.data)
    pending = ctx.runtime.pending.get(cb.token) if isinstance(cb, AskChoice) else None
    if pending is None or not isinstance(cb, AskChoice):
        await answer(query, EXPIRED)
        return
    if pending.user_id != update.effective_user.id:
        await answer(query, texts.NOT_YOURS, alert=True)
        return
    ctx.runtime.pending.pop(cb.token, None)
    if pending.timer is not None:
        pending.timer.cancel()
    await answer(query)
    await choose(ctx.runtime, pending, cb.job_type, cb.quality)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    txt = filters.Document.FileExtension("txt") | filters.Document.MimeType("text/plain")
    return [
        CommandHandler("video", cmd_video),
        CommandHandler("audio", cmd_audio),
        CommandHandler("get", cmd_get),
        CallbackQueryHandler(on_ask_button, pattern=r"^ask:"),
        MessageHandler(txt, on_txt),
        MessageHandler((filters.TEXT | filters.CAPTION) & ~filters.COMMAND, on_links),
    ]
