"""python-telegram-bot's side of the one send path (see :mod:`.ratelimit`).

:class:`BotApiRateLimiter` plugs a :class:`~mediaferry.delivery.ratelimit.SendLimiter`
into ``ExtBot`` (``ApplicationBuilder().rate_limiter(...)``), so every Bot API call of
the bot — replies in handlers, callback answers, progress messages, deliveries — takes
its slot from the same budgets and honours ``RetryAfter``. The priority of a call comes
from :func:`~mediaferry.delivery.ratelimit.send_priority` around it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import error as tg
from telegram.ext import BaseRateLimiter

from mediaferry.delivery.ratelimit import ChatId, SendLimiter

__all__ = ["BotApiRateLimiter", "retry_after_of"]

# calls that put or change something in a chat: the chat's budget and the global one
_CHAT_PREFIXES = ("send", "edit", "copyMessage", "forwardMessage", "stopPoll")
# calls that only count against the global budget
_GLOBAL_ONLY = {"sendChatAction", "answerCallbackQuery", "deleteMessage", "deleteMessages"}

Result = bool | dict[str, Any] | list[dict[str, Any]]


def retry_after_of(exc: BaseException) -> float | None:
    """The flood wait python-telegram-bot reports, in seconds (``None``: not one)."""
    if isinstance(exc, tg.RetryAfter):
        ra = exc.retry_after
        return ra.total_seconds() if isinstance(ra, timedelta) else float(ra)
    return None


def _chat_of(data: dict[str, Any]) -> ChatId | None:
    chat = data.get("chat_id")
    if isinstance(chat, int) or (isinstance(chat, str) and chat.startswith("@")):
        return chat
    if isinstance(chat, str):
        try:
            return int(chat)
        except ValueError:
            return chat
    return None


class BotApiRateLimiter(BaseRateLimiter[None]):
    """Every throttled Bot API request goes through one shared :class:`SendLimiter`."""

    def __init__(self, limiter: SendLimiter) -> None:
        self.limiter = limiter

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> Result:
        if endpoint in _GLOBAL_ONLY:
            chat: ChatId | None = None
        elif endpoint.startswith(_CHAT_PREFIXES):
            chat = _chat_of(data)
        else:
            return await callback(*args, **kwargs)
        media = data.get("media") if endpoint == "sendMediaGroup" else None
        cost = len(media) if isinstance(media, list) else 1
        return await self.limiter.call(
            lambda: callback(*args, **kwargs),
            chat_id=chat,
            cost=cost,
            flood_wait_of=retry_after_of,
        )
