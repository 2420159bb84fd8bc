"""One Telegram send path: per-chat and global budgets, flood waits, priorities.

Every call that sends or edits something in Telegram (Bot API through
python-telegram-bot, MTProto through any other client) goes through one
:class:`SendLimiter`. It knows nothing about the library making the call:

- ``async with limiter.slot(chat_id, priority, cost): <the call>`` waits for a slot
  in the chat's budget (about 1 message/s in a private chat, 20 a minute in a group, supergroup or
  channel: a negative or ``@name`` chat id) and in the global budget (about 25/s for the
  whole bot) and runs the call inside; one call per chat is in flight at a time and
  its slot counts from its answer. The global budget is also a hard window: a call is
  granted only while the calls in flight plus those answered within the last second
  stay within ``global_per_s``, so no one-second window can see more arrive at
  Telegram, however a busy loop or a slow network bunches them on the way. A
  :data:`Priority.PROGRESS` call that would wait longer than ``progress_max_wait_s``,
  or finds its chat busy, raises :class:`SendDropped` instead and uses nothing:
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

Budgets are GCRA token buckets (a burst of ``burst`` messages, then the steady rate).
The current priority can also come from :func:`send_priority` (a context variable),
for libraries whose call sites cannot pass it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import enum
import heapq
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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
    # small, so that no one-second window holds more than about burst + rate calls
    global_burst: int = 3
    progress_max_wait_s: float = 2.0
    flood_retries: int = 5
    flood_wait_max_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SendBudgets:
        return cls(
            private_per_s=settings.telegram_rate_private_per_s,
            group_per_min=settings.telegram_rate_group_per_min,
            global_per_s=settings.telegram_rate_global_per_s,
            global_burst=max(1, min(3, int(settings.telegram_rate_global_per_s * 0.2))),
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
    """One budget: GCRA with ``interval`` s per message and a burst of ``burst``.

    A chat's cell is also a gate: one call to a chat is in flight at a time, handed
    over by priority, and its slot is counted when the call has been answered. Telegram
    counts a message when it arrives, which is never later than the answer; so however
    late a call leaves (a busy loop, a slow upload), the next one cannot crowd it.
    """

    __slots__ = ("burst", "busy", "hold_until", "interval", "tat", "waiters")

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.burst = max(1, burst)
        self.tat = 0.0  # theoretical arrival time; <= now means the bucket is full
        self.hold_until = 0.0
        self.busy = False
        self.waiters: list[tuple[int, int, asyncio.Future[None]]] = []

    def earliest(self, now: float, cost: int, reserve: int) -> float:
        burst = max(1, self.burst - reserve)
        cost = min(cost, burst)
        return max(now, self.hold_until, self.tat + (cost - burst) * self.interval)

    def take(self, at: float, cost: int) -> None:
        self.tat = max(self.tat, at) + min(cost, self.burst) * self.interval

    def answered(self, when: float, cost: int) -> None:
        self.tat = max(self.tat, when + min(cost, self.burst) * self.interval)

    def idle(self, now: float) -> bool:
        return self.tat <= now and self.hold_until <= now and not self.busy


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
        in_flight: int = 8,
    ) -> None:
        self.budgets = b = budgets or SendBudgets()
        self._clock = clock
        self._sleep = sleep
        self._global = _Cell(1.0 / b.global_per_s, b.global_burst)
        # calls granted but not yet answered are not yet counted exactly: keep them
        # few, well inside the margin between our budgets and Telegram's limits
        self._in_flight = asyncio.Semaphore(in_flight)
        # the hard window: calls granted and not yet answered, and the answer times
        # (one entry a message) of those answered within the last second
        self._window_max = max(1, int(b.global_per_s))
        self._live = 0
        self._answers: collections.deque[float] = collections.deque()
        self._answered = asyncio.Event()
        self._chats: dict[ChatId, _Cell] = {}
        self._seq = itertools.count()
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
            for key in [k for k, c in self._chats.items() if c.idle(now) and not c.waiters]:
                del self._chats[key]

    def _drop(self, retry_in: float) -> SendDropped:
        self.dropped += 1
        return SendDropped(retry_in)

    @contextlib.asynccontextmanager
    async def slot(
        self, chat_id: ChatId | None, priority: Priority | None = None, cost: int = 1
    ) -> AsyncIterator[None]:
        """Wait for a slot in the chat's and the global budget; make the call inside.

        Raises :class:`SendDropped` (before anything is used) for a progress call that
        would wait longer than ``progress_max_wait_s`` or find its chat busy.
        """
        prio = current_priority() if priority is None else priority
        cell = None if chat_id is None else self._chat(chat_id)
        if cell is not None:
            await self._chat_turn(cell, prio, cost)
        try:
            async with self._in_flight:
                await self._global_turn(prio, cost)
                try:
                    yield
                finally:
                    done = self._clock()
                    self._global.answered(done, cost)
                    counted = min(cost, self._window_max)
                    self._live -= counted
                    self._answers.extend([done] * counted)
                    self._answered.set()
                    if cell is not None:
                        cell.take(done, cost)
        finally:
            if cell is not None:
                self._leave(cell)

    async def acquire(
        self, chat_id: ChatId | None, priority: Priority | None = None, cost: int = 1
    ) -> None:
        """Wait for a slot and count it now (for a call that cannot be wrapped)."""
        async with self.slot(chat_id, priority, cost):
            pass

    async def _chat_turn(self, cell: _Cell, prio: Priority, cost: int) -> None:
        """Return holding the chat's gate with its slot due (see :class:`_Cell`)."""
        progress = prio >= Priority.PROGRESS
        reserve = 1 if progress else 0  # progress leaves a message of the burst to others
        while True:
            now = self._clock()
            wait = cell.earliest(now, cost, reserve) - now
            if wait > 0:
                if progress and wait > self.budgets.progress_max_wait_s:
                    raise self._drop(wait)
                await self._sleep(wait)
                continue
            if not cell.busy and not cell.waiters:
                cell.busy = True
            elif progress:
                raise self._drop(cell.interval)  # the chat is busy: results first
            else:
                await self._queue(cell, prio)
            now = self._clock()
            if cell.earliest(now, cost, reserve) <= now:
                return
            self._leave(cell)  # another call went first: wait for the next slot

    async def _queue(self, cell: _Cell, prio: Priority) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (int(prio), next(self._seq), fut)
        heapq.heappush(cell.waiters, entry)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._leave(cell)  # handed the gate while being cancelled: pass it on
            else:
                fut.cancel()
                with contextlib.suppress(ValueError):
                    cell.waiters.remove(entry)
                    heapq.heapify(cell.waiters)
            raise

    def _leave(self, cell: _Cell) -> None:
        while cell.waiters:
            _, _, fut = heapq.heappop(cell.waiters)
            if not fut.done():
                fut.set_result(None)  # the gate passes on, still busy
                return
        cell.busy = False

    async def _global_turn(self, prio: Priority, cost: int) -> None:
        g = self._global
        progress = prio >= Priority.PROGRESS
        now = self._clock()
        # progress leaves half the global burst to results and replies
        at = g.earliest(now, cost, g.burst // 2 if progress else 0)
        wait = at - now
        if progress and wait > self.budgets.progress_max_wait_s:
            raise self._drop(wait)
        g.take(at, cost)
        self._prune(now)
        if wait > 0:
            await self._sleep(wait)
        held = g.hold_until - self._clock()
        if held > 0:
            if progress and held > self.budgets.progress_max_wait_s:
                raise self._drop(held)
            await self._sleep(held)
        await self._window_turn(progress, cost)

    async def _window_turn(self, progress: bool, cost: int) -> None:
        """Wait until this call fits the hard one-second window (see the module doc)."""
        room = self._window_max - (1 if progress and self._window_max > 2 else 0)
        cost = min(cost, self._window_max)
        while True:
            now = self._clock()
            answers = self._answers
            while answers and answers[0] <= now - 1.0:
                answers.popleft()
            if self._live + len(answers) + cost <= room:
                self._live += cost
                return
            if answers:
                wait = answers[0] + 1.0 - now
                if progress and wait > self.budgets.progress_max_wait_s:
                    raise self._drop(wait)
                await self._sleep(wait)
            elif progress:
                raise self._drop(1.0)  # every slot is in flight: results first
            else:  # every slot is in flight: the next answer frees one a second later
                self._answered.clear()
                await self._answered.wait()

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
        """A slot, ``send()``, and retries after flood waits (see the module doc)."""
        prio = current_priority() if priority is None else priority
        retries = 0
        while True:
            try:
                async with self.slot(chat_id, prio, cost):
                    return await send()
            except SendDropped:
                raise
            except Exception as exc:
                wait = flood_wait_of(exc)
                if wait is None:
                    raise
                self.flood(chat_id, wait)
                retries += 1
                b = self.budgets
                if prio != Priority.REPLY or retries > b.flood_retries or wait > b.flood_wait_max_s:
                    raise
