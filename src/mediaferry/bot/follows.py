"""``/follow``, ``/following``, ``/unfollow``: new entries of a playlist, channel or feed
delivered into the chat that asked, through the follow service."""

from __future__ import annotations

import re
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from mediaferry.bot import texts
from mediaferry.bot.callbacks import EXPIRED, FollowAction, answer, follow_data, parse_callback
from mediaferry.bot.context import BotContext
from mediaferry.bot.intake import reply
from mediaferry.errors import JobError, JobNotFound, LimitExceeded, UrlRejected

__all__ = ["handlers", "parse_follow_args"]

USAGE = (
    "Usage: /follow &lt;link&gt; [audio|video] [every 6h] [backfill 5]\n"
    "Follows a playlist, channel or feed: each new item is sent here."
)
_EVERY_RE = re.compile(r"^\d+(?:\.\d+)?[smhdw]?$", re.IGNORECASE)


def parse_follow_args(args: list[str]) -> dict[str, Any]:
    """``<url> [audio|video] [every 6h] [backfill 5]`` → keyword arguments, or UrlRejected."""
    if not args:
        raise UrlRejected("no link given")
    out: dict[str, Any] = {"url": args[0]}
    rest = [a.lower() for a in args[1:]]
    n = 0
    while n < len(rest):
        word = rest[n]
        if word in ("audio", "video"):
            out["job_type"] = word
            n += 1
        elif word in ("every", "backfill") and n + 1 < len(rest):
            value = rest[n + 1]
            if word == "every":
                if not _EVERY_RE.match(value):
                    raise UrlRejected(f"invalid interval {value!r}; use e.g. 30m, 6h or 1d")
                out["every"] = value
            else:
                if not value.isdigit() or len(value) > 5:
                    raise UrlRejected(f"invalid backfill {value!r}; use a number of items")
                out["backfill"] = int(value)
                out["start"] = "backfill"
            n += 2
        else:
            raise UrlRejected(f"I do not understand {word!r}")
    return out


def _is_admin(update: Update, ctx: BotContext) -> bool:
    user = update.effective_user
    return user is not None and ctx.services.settings.is_admin(user.id)


async def cmd_follow(update: Update, ctx: BotContext) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    try:
        options = parse_follow_args(list(ctx.args or []))
    except UrlRejected as exc:
        await reply(update, f"{texts.esc(exc.message)}\n\n{USAGE}")
        return
    try:
        follow = await ctx.services.follows.add(
            options.pop("url"), chat_id=chat.id, user_id=user.id, **options
        )
    except (UrlRejected, LimitExceeded, JobError) as exc:
        await reply(update, f"Cannot follow that: {texts.esc(exc.message)}")
        return
    hours = follow.every_s / 3600
    every = f"{hours:g} h" if hours >= 1 else f"{follow.every_s // 60} min"
    start = (
        f"the newest {follow.backfill} now, then new ones"
        if follow.backfill > 0
        else "only items that appear from now on"
    )
    await reply(
        update,
        f"Following #{follow.id}: {texts.esc(follow.title or follow.url)}\n"
        f"{follow.job_type}, checked every {every}; {start}.",
    )


def _follow_line(f: Any) -> str:
    state = "⏸ paused" if f.paused else ("⚠️ " + texts.esc(f.last_error) if f.last_error else "✅")
    last = f.last_check_at.strftime("%Y-%m-%d %H:%M") if f.last_check_at else "not yet"
    return (
        f"#{f.id} {texts.esc((f.title or f.url)[:80])}\n"
        f"   {f.job_type}, last check {last}, {f.items_queued} item(s), {state}"
    )


async def cmd_following(update: Update, ctx: BotContext) -> None:
    user = update.effective_user
    if user is None:
        return
    follows = await ctx.services.follows.list_follows(user_id=user.id)
    if not follows:
        await reply(update, "You follow nothing yet. " + USAGE)
        return
    rows = [
        [
            InlineKeyboardButton(
                f"{'▶️ Resume' if f.paused else '⏸ Pause'} #{f.id}",
                callback_data=follow_data("resume" if f.paused else "pause", f.id),
            ),
            InlineKeyboardButton(f"✖️ Remove #{f.id}", callback_data=follow_data("remove", f.id)),
        ]
        for f in follows[:20]
    ]
    await reply(
        update,
        "\n".join(_follow_line(f) for f in follows[:20]),
        reply_markup=InlineKeyboardMarkup(rows),
    )


async def cmd_unfollow(update: Update, ctx: BotContext) -> None:
    user = update.effective_user
    args = list(ctx.args or [])
    if user is None:
        return
    if len(args) != 1 or not args[0].lstrip("#").isdigit() or len(args[0]) > 19:
        await reply(update, "Usage: /unfollow &lt;id&gt; (see /following)")
        return
    follow_id = int(args[0].lstrip("#"))
    owner = None if _is_admin(update, ctx) else user.id
    try:
        await ctx.services.follows.remove(follow_id, user_id=owner)
    except JobNotFound:
        await reply(update, f"You have no follow #{follow_id}.")
        return
    await reply(update, f"Unfollowed #{follow_id}.")


async def on_follow_button(update: Update, ctx: BotContext) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return
    cb = parse_callback(query.data)
    if not isinstance(cb, FollowAction):
        await answer(query, EXPIRED)
        return
    owner = None if _is_admin(update, ctx) else user.id
    try:
        if cb.action == "remove":
            await ctx.services.follows.remove(cb.follow_id, user_id=owner)
            await answer(query, f"Unfollowed #{cb.follow_id}.")
        else:
            paused = cb.action == "pause"
            await ctx.services.follows.set_paused(cb.follow_id, paused, user_id=owner)
            await answer(query, f"{'Paused' if paused else 'Resumed'} #{cb.follow_id}.")
    except JobNotFound:
        await answer(query, EXPIRED)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CommandHandler("follow", cmd_follow),
        CommandHandler("following", cmd_following),
        CommandHandler("unfollow", cmd_unfollow),
        CallbackQueryHandler(on_follow_button, pattern=r"^follow:"),
    ]
