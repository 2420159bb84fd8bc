"""One Telegram send path: per-chat and global budgets, flood waits, priorities.

Every call that sends or edits something in Telegram (Bot API through
python-telegram-bot, MTProto through any other client) goes through one
:class:`SendLimiter`. It knows nothing about the library making the call:

- ``await limiter.acquire(chat_id, priority, cost)`` waits for a slot in the chat's
  budget (about 1 message/s in a private chat, 20 a minute in a group, supergroup or
  channel: a negative or ``@name`` chat id) and in the global budget (about 25/s for the
  whole bot), then returns. A :data:`Priority.PROGRESS` call that would wait longer
  than ``progress_max_wait_s`` raises :class:`SendDropped` instead and uses nothing:
  progress edits give way to results, and the caller keeps only its latest text.
- ``limiter.flood(chat_id, seconds)`` records a flood wait (HTTP 429 ``retry_after`` or
  ``FLOOD_WAIT_X``): nothing is sent to that chat (``None``: to anyone) before it ends.
- ``await limiter.call(send, chat_id=…, priority=…, cost=…, flood_wait_of=…)`` does both:
  acquire, call ``send()``, and when ``flood_wait_of(exc)`` names a wait, record it and
  try again once the wait is over, at most ``flood_retries`` times and only for waits up
  to ``flood_wait_max_s`` (longer ones go back to the caller, e.g. the job's retry
  policy). Never a retry without a wait. Only replies are retried here: a progress
  call gives way (its caller sends the latest text later) and a result goes back to its
  job, whose retry policy waits out the flood (the hold stays) and counts an attempt.

Budgets are GCRA token buckets (a burst of ``burst`` messages, then the steady rate);
a slot is reserved when granted, so concurrent callers are spaced, not stampeded.
The current priority can also come from :func:`send_priority` (a context variable),
for libraries whose call sites cannot pass it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = [
    "ChatId",
    "Priority",
    "SendBudgets",
    "SendDropped",
    "SendLimiter",
    "current_priority",
    "send_priority",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
ChatId = int | str


class Priority(enum.IntEnum):
    """What a call is for; lower goes first and is never dropped."""

    RESULT = 0  # a delivery: media, the final answer to a job
    REPLY = 1  # an answer to something the user did (messages, callback answers)
    PROGRESS = 2  # a progress message or edit: merged or dropped under pressure


class SendDropped(Exception):
    """A progress call gave way: no slot within its wait (try again in ``retry_in`` s)."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"progress update dropped; a slot frees in {retry_in:.1f}s")
        self.retry_in = retry_in


@dataclass(frozen=True)
class SendBudgets:
    """Telegram's limits, a little under what it allows (the defaults)."""

    private_per_s: float = 1.0
    group_per_min: float = 20.0
    global_per_s: float = 25.0
    burst: int = 3  # messages a chat may get at once before the steady rate applies
    global_burst: int = 20
    progress_max_wait_s: float = 2.0
    flood_retries: int = 5
    flood_wait_max_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SendBudgets:
        return cls(
            private_per_s=settings.telegram_rate_private_per_s,
            group_per_min=settings.telegram_rate_group_per_min,
            global_per_s=settings.telegram_rate_global_per_s,
            global_burst=max(1, int(settings.telegram_rate_global_per_s * 0.8)),
            burst=settings.telegram_rate_burst,
            flood_retries=settings.telegram_flood_retries,
            flood_wait_max_s=settings.telegram_flood_wait_max_s,
        )


_PRIORITY: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "mediaferry_send_priority", default=Priority.REPLY
)


@contextlib.contextmanager
def send_priority(priority: Priority) -> Iterator[None]:
    """Calls made inside this block (in this task) have ``priority``."""
    token = _PRIORITY.set(priority)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


def current_priority() -> Priority:
    return _PRIORITY.get()


class _Cell:
    """One budget: GCRA with ``interval`` s per message and a burst of ``burst``."""

    __slots__ = ("burst", "hold_until", "interval", "tat")

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.burst = max(1, burst)
        self.tat = 0.0  # theoretical arrival time; <= now means the bucket is full
        self.hold_until = 0.0

    def earliest(self, now: float, cost: int, reserve: int) -> float:
        burst = max(1, self.burst - reserve)
        cost = min(cost, burst)
        return max(now, self.hold_until, self.tat + (cost - burst) * self.interval)

    def take(self, at: float, cost: int) -> None:
        self.tat = max(self.tat, at) + min(cost, self.burst) * self.interval

    def idle(self, now: float) -> bool:
        return self.tat <= now and self.hold_until <= now


def is_group(chat_id: ChatId) -> bool:
    """Groups, supergroups and channels have negative ids (or an ``@username``)."""
    return isinstance(chat_id, str) or chat_id < 0


class SendLimiter:
    """The budgets of one bot; share one instance between every sender of the bot."""

    def __init__(
        self,
        budgets: SendBudgets | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.budgets = b = budgets or SendBudgets()
        self._clock = clock
        self._sleep = sleep
        self._global = _Cell(1.0 / b.global_per_s, b.global_burst)
        self._chats: dict[ChatId, _Cell] = {}
        self._grants = 0
        self.floods = 0  # flood waits Telegram imposed (should stay 0)
        self.dropped = 0  # progress calls that gave way

    def _chat(self, chat_id: ChatId) -> _Cell:
        cell = self._chats.get(chat_id)
        if cell is None:
            b = self.budgets
            interval = 60.0 / b.group_per_min if is_group(chat_id) else 1.0 / b.private_per_s
            cell = self._chats[chat_id] = _Cell(interval, b.burst)
        return cell

    def _prune(self, now: float) -> None:
        self._grants += 1
        if self._grants % 1024 == 0:
            for key in [k for k, c in self._chats.items() if c.idle(now)]:
                del self._chats[key]

    async def acquire(
        self, chat_id: ChatId | None, priority: Priority = Priority.REPLY, cost: int = 1
    ) -> None:
        """Wait for a slot in the chat's and the global budget (see the module doc)."""
        cells = [self._global] if chat_id is None else [self._chat(chat_id), self._global]
        progress = priority >= Priority.PROGRESS
        now = self._clock()
        # progress leaves one message of each chat's burst and half the global burst
        # to results and replies
        at = max(
            c.earliest(now, cost, (c.burst // 2 if c is self._global else 1) * progress)
            for c in cells
        )
        wait = at - now
        if progress and wait > self.budgets.progress_max_wait_s:
            self.dropped += 1
            raise SendDropped(wait)
        for c in cells:
            c.take(at, cost)
        self._prune(now)
        if wait > 0:
            await self._sleep(wait)
        # a flood wait recorded while we slept holds us too
        held = max(c.hold_until for c in cells) - self._clock()
        if held > 0:
            if progress and held > self.budgets.progress_max_wait_s:
                self.dropped += 1
                raise SendDropped(held)
            await self._sleep(held)

    def flood(self, chat_id: ChatId | None, seconds: float) -> None:
        """Telegram asked for a pause: hold the chat (or everything) that long."""
        self.floods += 1
        # a little jitter so the held callers do not all come back at the same instant
        until = self._clock() + max(1.0, seconds) * (1.0 + random.random() * 0.1)
        cell = self._global if chat_id is None else self._chat(chat_id)
        cell.hold_until = max(cell.hold_until, until)
        log.warning(
            "telegram flood wait of %.0fs",
            seconds,
            extra={"chat_id": chat_id, "retry_after": seconds},
        )

    async def call(
        self,
        send: Callable[[], Awaitable[T]],
        *,
        chat_id: ChatId | None,
        priority: Priority | None = None,
        cost: int = 1,
        flood_wait_of: Callable[[BaseException], float | None],
    ) -> T:
        """Acquire, ``send()``, and retry after flood waits (see the module doc)."""
        prio = current_priority() if priority is None else priority
        retries = 0
        while True:
            await self.acquire(chat_id, prio, cost)
            try:
                return await send()
            except Exception as exc:
                wait = flood_wait_of(exc)
                if wait is None:
                    raise
                self.flood(chat_id, wait)
                retries += 1
                b = self.budgets
                if prio != Priority.REPLY or retries > b.flood_retries or wait > b.flood_wait_max_s:
                    raise
