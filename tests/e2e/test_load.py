"""Load: 1,000 links from 20 users at once over the bot, and 1,000 over the REST API.

Every link is accounted for (queued, duplicate, or refused with a reason), per-user
limits are exact, nothing reaches Telegram faster than it allows (the fake Bot API's
429 counter stays at 0) and memory stays bounded. Telegram's limits are scaled up on
both sides (the fake and the product's budgets) so the test takes seconds, not
minutes; bench/load.py runs the same burst at Telegram's real limits.
"""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from mediaferry.db.models import Job
from mediaferry.jobs.worker import WorkerPool
from tests.e2e._bot_harness import running_bot
from tests.integration.test_web_harness import WebFactory
from tests.integration.test_web_harness import make_web_fixture as make_web_fixture
from tests.support.fake_telegram import FakeTelegram, RateLimits
from tests.support.load import (
    InstantRunner,
    bot_burst,
    calls_per_second_peak,
    rss_mb,
    wait_until,
)

USERS = list(range(2001, 2021))
LINKS_PER_USER = 50
PER_HOUR = 15  # the per-user cap under test
SPEED = 2.0  # Telegram's limits, twice as fast on both sides


def _sends(method: str) -> bool:
    return method.startswith(("send", "edit")) and method != "sendChatAction"


async def test_bot_burst_of_1000_links_from_20_users(tmp_path: Path, db_url: str) -> None:
    rss_before = rss_mb()
    with FakeTelegram(rate_limits=RateLimits().scaled(SPEED)) as fake:
        async with running_bot(
            tmp_path,
            fake,
            db_url=db_url,
            workers=False,
            open_access=True,
            max_jobs_per_user_hour=PER_HOUR,
            max_active_per_user=1000,
            max_jobs_per_chat_hour=1000,
            max_queue_length=5000,
            telegram_rate_private_per_s=1.0 * SPEED,
            telegram_rate_group_per_min=20.0 * SPEED,
            telegram_rate_global_per_s=25.0 * SPEED,
        ) as bot:
            s = bot.services
            pool = WorkerPool(
                s.db,
                s.settings,
                InstantRunner(s.pipeline, tmp_path / "instant"),
                s.bus,
                concurrency=32,
                disk_guard=s.disk,
            )
            # jobs are claimed in id order, i.e. mostly one user's after another's: with
            # few workers they all wait on one chat's send budget (1/s per chat) while
            # the other chats idle; 32 serve many chats at once (and press the global
            # budget harder)
            await pool.start()
            try:
                burst = await bot_burst(fake, USERS, LINKS_PER_USER, per_message=10)
                async with s.db.session() as session:
                    rows = await session.execute(
                        select(Job.user_id, func.count()).group_by(Job.user_id)
                    )
                    per_user = {u: n for u, n in rows.all()}
                for user in USERS:
                    # every link accounted for, and the cap is exact
                    assert burst.accounted(user) == LINKS_PER_USER, user
                    assert burst.queued[user] == PER_HOUR, (user, burst.queued[user])
                    assert per_user.get(user) == PER_HOUR
                    assert burst.refused[user] == LINKS_PER_USER - PER_HOUR - burst.duplicate[user]
                assert all(
                    "jobs this hour" in (r.history[0] or "")
                    for r in burst.replies
                    if "Refused:" in (r.history[0] or "")
                )
                total = PER_HOUR * len(USERS)

                async def done() -> int:
                    return (await s.jobs.counts()).get("COMPLETED", 0)

                deadline = asyncio.get_running_loop().time() + 120
                while await done() < total:
                    assert asyncio.get_running_loop().time() < deadline, await s.jobs.counts()
                    await asyncio.sleep(0.2)
                # each accepted link (queued or duplicate) brings its file to the chat
                for user in USERS:
                    want = burst.queued[user] + burst.duplicate[user]
                    await wait_until(
                        lambda u=user, w=want: (
                            len(  # type: ignore[misc]
                                [m for m in fake.chat(u) if m.kind == "document"]
                            )
                            >= w
                        ),
                        timeout=60,
                    )
                    docs = [m for m in fake.chat(user) if m.kind == "document"]
                    assert len(docs) == want, (user, len(docs), want)
            finally:
                await pool.stop(grace=0.5)
            # nothing went faster than Telegram allows
            assert [(c.method, c.params.get("chat_id")) for c in fake.flood_refusals] == []
            assert s.send_limiter.floods == 0
            assert calls_per_second_peak(fake, _sends) <= 30 * SPEED
            sends = len([c for c in fake.calls() if _sends(c.method)])
    growth = rss_mb() - rss_before
    print(
        f"\nbot burst: 1000 links accepted in {burst.accepted_s:.1f}s, "
        f"{sends} sends/edits, progress updates dropped under pressure: "
        f"{s.send_limiter.dropped}, RSS growth {growth:.0f} MB"
    )
    assert growth < 300


async def test_api_burst_of_1000_links(make_web: WebFactory) -> None:
    cap = 500
    web = await make_web(workers=False, max_queue_length=cap)
    rss_before = rss_mb()
    links = [f"http://127.0.0.1:9/api-load/{i}.mp4" for i in range(900)]
    links += links[:100]  # asked twice
    limit = asyncio.Semaphore(32)

    async def post(url: str) -> httpx.Response:
        async with limit:
            return await web.client.post("/api/jobs", json={"url": url, "type": "video"})

    answers = await asyncio.gather(*(post(u) for u in links))
    by_status = collections.Counter(r.status_code for r in answers)
    assert set(by_status) <= {200, 201, 429}, by_status
    assert sum(by_status.values()) == len(links)
    assert by_status[201] == cap  # the queue cap, exactly
    refusals: list[dict[str, Any]] = [r.json() for r in answers if r.status_code == 429]
    assert all("queue is full" in str(body) for body in refusals)
    created = {r.json()["id"] for r in answers if r.status_code == 201}
    repeated = {r.json()["id"] for r in answers if r.status_code == 200}
    assert repeated <= created  # a duplicate names the job that holds the link
    async with web.services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == cap
    print(f"\napi burst: {dict(by_status)}, RSS growth {rss_mb() - rss_before:.0f} MB")
