"""The send path's budgets on a virtual clock: who may send when, and what gives way."""

from __future__ import annotations

import asyncio
import time

import pytest

from mediaferry.delivery.ratelimit import (
    Priority,
    SendBudgets,
    SendDropped,
    SendLimiter,
    send_priority,
)


class Clock:
    """Virtual time: ``sleep`` advances it instead of waiting."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


def limiter(clock: Clock, **kw: float) -> SendLimiter:
    return SendLimiter(SendBudgets(**kw), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]


class Flood(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


def flood_of(exc: BaseException) -> float | None:
    return exc.seconds if isinstance(exc, Flood) else None


async def sent_times(lim: SendLimiter, clock: Clock, chat: int | str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        await lim.acquire(chat)
        times.append(clock() - 1000.0)
    return times


async def test_private_chat_gets_a_burst_then_one_a_second() -> None:
    clock = Clock()
    times = await sent_times(limiter(clock, burst=3), clock, 42, 6)
    assert times == pytest.approx([0, 0, 0, 1, 2, 3])


async def test_group_gets_twenty_a_minute() -> None:
    clock = Clock()
    lim = limiter(clock, burst=1)
    assert await sent_times(lim, clock, -100, 3) == pytest.approx([0, 3, 6])
    clock2 = Clock()
    lim2 = limiter(clock2, burst=1)
    assert await sent_times(lim2, clock2, "@channel", 2) == pytest.approx([0, 3])


async def test_global_budget_spaces_many_chats() -> None:
    clock = Clock()
    lim = limiter(clock, global_per_s=10, global_burst=5)
    times = []
    for chat in range(1, 16):
        await lim.acquire(chat)
        times.append(clock() - 1000.0)
    assert times[:5] == pytest.approx([0] * 5)
    # then 10 a second, whatever the chat, until the hard window is full: no more than
    # 10 in any one second (the burst does not add to it); the next go as the first
    # answers leave the window
    assert times[5:10] == pytest.approx([0.1 * i for i in range(1, 6)])
    assert times[10:] == pytest.approx([1.0] * 5)
    assert max(len([u for u in times if t <= u < t + 1.0]) for t in times) == 10


async def test_no_second_sees_more_than_the_global_budget_however_late_calls_land() -> None:
    """A call may land at Telegram anywhere between its grant and its answer (a busy
    loop, an upload): any one second meets at most ``global_per_s`` such spans."""
    lim = SendLimiter(SendBudgets(global_per_s=4, global_burst=4, burst=10), in_flight=8)
    spans: list[tuple[float, float]] = []

    async def call(chat: int) -> None:
        async with lim.slot(chat):
            start = time.monotonic()
            await asyncio.sleep(0.2)
            spans.append((start, time.monotonic()))

    await asyncio.wait_for(asyncio.gather(*(call(c) for c in range(1, 11))), 20)
    assert len(spans) == 10
    for t in [s for s, _ in spans]:
        assert len([1 for s, e in spans if s < t + 1.0 and e > t]) <= 4, spans


async def test_one_call_per_chat_in_flight_and_results_first() -> None:
    clock = Clock()
    lim = limiter(clock, burst=10)
    inside: list[str] = []
    order: list[str] = []
    release = asyncio.Event()

    async def call(name: str, prio: Priority) -> None:
        async with lim.slot(7, prio):
            inside.append(name)
            assert len(inside) == 1, inside  # never two calls to one chat at once
            order.append(name)
            if name == "first":
                await release.wait()
            await asyncio.sleep(0)
            inside.remove(name)

    first = asyncio.create_task(call("first", Priority.REPLY))
    await asyncio.sleep(0)
    reply = asyncio.create_task(call("reply", Priority.REPLY))
    result = asyncio.create_task(call("result", Priority.RESULT))
    await asyncio.sleep(0)
    # a progress update finds the chat busy and gives way at once
    with pytest.raises(SendDropped):
        async with lim.slot(7, Priority.PROGRESS):
            pass
    # another chat is not held up
    async with lim.slot(8):
        pass
    release.set()
    await asyncio.gather(first, reply, result)
    assert order == ["first", "result", "reply"]


async def test_a_slot_counts_from_the_answer() -> None:
    clock = Clock()
    lim = limiter(clock, burst=1)
    async with lim.slot(3):
        clock.t += 5.0  # a slow upload: Telegram counts it when it arrives
    start = clock()
    async with lim.slot(3):
        pass
    assert clock() - start == pytest.approx(1.0)


async def test_progress_gives_way_and_uses_nothing() -> None:
    clock = Clock()
    lim = limiter(clock, burst=3, progress_max_wait_s=0.5)
    await lim.acquire(5, Priority.PROGRESS)
    await lim.acquire(5, Priority.PROGRESS)
    # the last message of the burst is kept for results: progress waits, too long
    with pytest.raises(SendDropped) as info:
        await lim.acquire(5, Priority.PROGRESS)
    assert info.value.retry_in > 0.5
    assert lim.dropped == 1
    start = clock()
    await lim.acquire(5, Priority.RESULT)
    assert clock() == start  # the result went at once


async def test_flood_wait_holds_the_chat_and_replies_retry_after_it() -> None:
    clock = Clock()
    lim = limiter(clock)
    calls: list[float] = []

    async def send() -> str:
        calls.append(clock())
        if len(calls) == 1:
            raise Flood(3)
        return "ok"

    assert await lim.call(send, chat_id=9, flood_wait_of=flood_of) == "ok"
    assert calls[1] - calls[0] >= 3.0  # never a retry without the wait
    assert lim.floods == 1
    # the hold is for that chat only
    other = clock()
    await lim.acquire(10)
    assert clock() == other


async def test_flood_retries_are_capped() -> None:
    clock = Clock()
    lim = limiter(clock, flood_retries=2)
    calls = 0

    async def send() -> None:
        nonlocal calls
        calls += 1
        raise Flood(1)

    with pytest.raises(Flood):
        await lim.call(send, chat_id=9, flood_wait_of=flood_of)
    assert calls == 3
    assert clock() - 1000.0 >= 2.0


async def test_long_flood_waits_and_results_go_back_to_the_caller() -> None:
    clock = Clock()
    lim = limiter(clock, flood_wait_max_s=10)

    async def long_wait() -> None:
        raise Flood(30)

    with pytest.raises(Flood):
        await lim.call(long_wait, chat_id=1, flood_wait_of=flood_of)
    tries = 0

    async def result() -> None:
        nonlocal tries
        tries += 1
        raise Flood(2)

    with send_priority(Priority.RESULT), pytest.raises(Flood):
        await lim.call(result, chat_id=2, flood_wait_of=flood_of)
    assert tries == 1  # the job's retry policy takes it from here
    # but the chat stays held: the next send waits the flood out
    before = clock()
    await lim.acquire(2, Priority.RESULT)
    assert clock() - before >= 2.0


async def test_other_errors_are_not_retried() -> None:
    clock = Clock()
    lim = limiter(clock)
    tries = 0

    async def send() -> None:
        nonlocal tries
        tries += 1
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await lim.call(send, chat_id=1, flood_wait_of=flood_of)
    assert tries == 1


async def test_idle_chats_are_forgotten() -> None:
    clock = Clock()
    lim = limiter(clock, global_per_s=1000, global_burst=1000)
    for chat in range(3000):
        await lim.acquire(chat)
        clock.t += 2.0
    assert len(lim._chats) < 1100
