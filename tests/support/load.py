"""A burst of links from many users, shared by tests/e2e/test_load.py and bench/load.py.

``InstantRunner`` is the no-op source: a job's "download" is a 1 KB file written at
once, and the real pipeline then delivers it (DELIVER, the real Telegram deliverer,
the one send path). ``bot_burst`` sends the links to the bot through the fake Bot API
and reads back the bot's one summary reply per message.
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mediaferry.db.models import Job
from mediaferry.jobs.control import JobControl, RunResult
from mediaferry.jobs.pipeline import Pipeline, processed_to_meta
from mediaferry.media.postprocess import Part, Processed
from tests.support.fake_telegram import ChatMessage, FakeTelegram

__all__ = [
    "BurstResult",
    "InstantRunner",
    "bot_burst",
    "calls_per_second_peak",
    "chat_rate_peak",
    "link_for",
    "rss_mb",
]

_SUMMARY = re.compile(r"Queued: (\d+)\nAlready queued or done: (\d+)(?:\nRefused: (\d+))?")


def rss_mb() -> float:
    """This process's resident set size, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class InstantRunner:
    """The no-op source in front of the real pipeline: DELIVER is the only real stage."""

    def __init__(self, pipeline: Pipeline, folder: Path) -> None:
        self.pipeline = pipeline
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def run(self, job: Job, ctl: JobControl) -> RunResult:
        if "processed" not in (job.meta or {}):
            path = self.folder / f"job-{job.id}.txt"
            path.write_bytes(b"x" * 1024)
            done = Processed("document", [Part(path, 1024)], title=f"load {job.id}")
            job.meta = {**(job.meta or {}), "processed": processed_to_meta(done)}
        return await self.pipeline.run(job, ctl)


def link_for(user: int, i: int, shared: int) -> str:
    """The ``i``-th link of ``user``; the first ``shared`` are the same for every user."""
    if i < shared:
        return f"http://127.0.0.1:9/load/shared-{i}.mp4"
    return f"http://127.0.0.1:9/load/u{user}/{i}.mp4"


@dataclass
class BurstResult:
    sent: dict[int, int] = field(default_factory=dict)  # user → links sent
    queued: dict[int, int] = field(default_factory=lambda: collections.defaultdict(int))
    duplicate: dict[int, int] = field(default_factory=lambda: collections.defaultdict(int))
    refused: dict[int, int] = field(default_factory=lambda: collections.defaultdict(int))
    replies: list[ChatMessage] = field(default_factory=list)
    started: float = 0.0
    accepted_s: float = 0.0  # until every message had its summary reply

    def accounted(self, user: int) -> int:
        return self.queued[user] + self.duplicate[user] + self.refused[user]


async def bot_burst(
    fake: FakeTelegram,
    users: list[int],
    links_per_user: int,
    per_message: int,
    *,
    shared: int = 5,
    timeout: float = 120,
) -> BurstResult:
    """Every user sends ``links_per_user`` links, ``per_message`` per message, at once."""
    result = BurstResult()
    messages = 0
    result.started = time.monotonic()
    for start in range(0, links_per_user, per_message):
        for user in users:
            links = [
                link_for(user, i, shared)
                for i in range(start, min(start + per_message, links_per_user))
            ]
            fake.user_sends_text(user, "\n".join(links))
            result.sent[user] = result.sent.get(user, 0) + len(links)
            messages += 1

    def summaries() -> list[ChatMessage] | None:
        found = [
            m
            for user in users
            for m in fake.messages_to(user, include_deleted=True)
            if m.kind == "text" and (m.history[0] or "").startswith("Queued: ")
        ]
        return found if len(found) >= messages else None

    # a cheap poll: this loop is the bot's loop too
    deadline = time.monotonic() + timeout
    while (replies := summaries()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not every message was answered within {timeout}s")
        await asyncio.sleep(0.25)
    result.accepted_s = time.monotonic() - result.started
    result.replies = replies
    for reply in replies:
        m = _SUMMARY.match(reply.history[0] or "")
        assert m is not None, reply.history[0]
        result.queued[reply.chat_id] += int(m.group(1))
        result.duplicate[reply.chat_id] += int(m.group(2))
        result.refused[reply.chat_id] += int(m.group(3) or 0)
    return result


def calls_per_second_peak(fake: FakeTelegram, keep: Callable[[str], bool]) -> int:
    """The most Bot API calls (of methods ``keep`` accepts) in any one-second window."""
    times = sorted(c.time for c in fake.calls() if keep(c.method))
    best = lo = 0
    for hi, t in enumerate(times):
        while times[lo] < t - 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def chat_rate_peak(fake: FakeTelegram, chat_id: int, keep: Callable[[str], bool]) -> int:
    """The most calls to one chat in any one-second window."""
    times = sorted(
        c.time
        for c in fake.calls()
        if keep(c.method) and str(c.params.get("chat_id")) == str(chat_id)
    )
    best = lo = 0
    for hi, t in enumerate(times):
        while times[lo] < t - 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def wait_until(condition: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.25)
