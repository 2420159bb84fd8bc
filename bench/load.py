"""Load benchmark: the 1,000-link burst at Telegram's real limits (no internet).

20 users each send 50 links (10 per message) to the bot at once, through the fake Bot
API (which answers 429 beyond Telegram's limits and counts it); workers run a no-op
source (a 1 KB file) and the real DELIVER stage. Then 1,000 links over the REST API.

Prints: wall time to accept every link (each message answered), to finish every job
(every file in its chat), Bot API calls per second at peak (overall and to one chat),
429s received, progress updates dropped, RSS growth. Ratios, same run: accepting over
the bot vs ``JobService.create`` called directly for the same links; finishing vs the
floor Telegram's limits allow for that many messages (1/s per chat, 30/s overall).

Usage:  .venv/bin/python bench/load.py [--users 20] [--links 50] [--per-message 10]
"""

from __future__ import annotations

import os
import sys

# bench/ holds a queue.py: keep this folder off sys.path so the stdlib's queue wins
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse
import asyncio
import collections
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from tests.support.fake_telegram import FakeTelegram
from tests.support.load import (
    InstantRunner,
    bot_burst,
    calls_per_second_peak,
    link_for,
    rss_mb,
)

from mediaferry.app import Services
from mediaferry.bot import runner
from mediaferry.config import load_settings
from mediaferry.jobs.worker import WorkerPool
from mediaferry.web.server import WebServer, create_app

API_KEY = "bench-load-key"


def _sends(method: str) -> bool:
    return method.startswith(("send", "edit")) and method != "sendChatAction"


def _settings(root: Path, name: str, **extra: object) -> object:
    return load_settings(
        data_dir=root / name,
        database_url=f"sqlite+aiosqlite:///{root / name}.db",
        allow_private_networks=True,
        min_free_gb=0,
        poll_s=0.5,
        open_access=True,
        max_jobs_per_user_hour=1000,
        max_active_per_user=1000,
        max_jobs_per_chat_hour=1000,
        max_queue_length=10_000,
        max_parallel_jobs=8,
        log_level="WARNING",
        **extra,
    )


async def raw_create(root: Path, users: list[int], links: int, shared: int) -> float:
    """The same links straight into JobService.create: the floor for accepting them."""
    settings = _settings(root, "raw")
    services = await Services.create(settings)  # type: ignore[arg-type]
    try:
        t0 = time.perf_counter()
        for i in range(links):
            for user in users:
                await services.jobs.create(
                    link_for(user, i, shared), user_id=user, chat_id=user, origin="telegram"
                )
        return time.perf_counter() - t0
    finally:
        await services.close()


async def bot_run(root: Path, users: list[int], links: int, per_message: int, shared: int) -> None:
    raw = await raw_create(root, users, links, shared)
    with FakeTelegram() as fake:
        settings = _settings(root, "bot", telegram_token=fake.token, telegram_api_url=fake.root)
        services = await Services.create(settings)  # type: ignore[arg-type]
        stop = await runner.start(services)
        pool = WorkerPool(
            services.db,
            services.settings,
            InstantRunner(services.pipeline, root / "instant"),
            services.bus,
            concurrency=8,
            disk_guard=services.disk,
        )
        await pool.start()
        rss0 = rss_mb()
        try:
            burst = await bot_burst(fake, users, links, per_message, shared=shared, timeout=900)
            accepted = sum(burst.queued.values()) + sum(burst.duplicate.values())
            want = {u: burst.queued[u] + burst.duplicate[u] for u in users}

            def delivered() -> bool:
                return all(
                    len([m for m in fake.chat(u) if m.kind == "document"]) >= want[u] for u in users
                )

            while not delivered():
                if time.monotonic() - burst.started > 900:
                    raise TimeoutError("not every file arrived within 900 s")
                await asyncio.sleep(0.5)
            finished = time.monotonic() - burst.started
            rss1 = rss_mb()
        finally:
            await pool.stop(grace=0.5)
            await stop()
            await services.close()
        calls = [c for c in fake.calls() if c.method != "getUpdates"]
        per_chat = collections.Counter(
            str(c.params.get("chat_id")) for c in calls if _sends(c.method)
        )
        floor = max(
            max(per_chat.values()) / 1.0,  # 1 message/s per private chat
            sum(per_chat.values()) / 30.0,  # 30/s overall
        )
        chat_peak = max(
            _chat_peak(fake, int(chat)) for chat in per_chat if chat.lstrip("-").isdigit()
        )
        total = len(users) * links
        print(f"bot: {total} links from {len(users)} users, {per_message} per message")
        print(
            f"  accepted (every message answered)  {burst.accepted_s:7.1f} s"
            f"   ({accepted} queued or duplicate, {sum(burst.refused.values())} refused)"
        )
        print(f"  same links via JobService.create   {raw:7.1f} s"
              f"   -> bot/raw {burst.accepted_s / raw:.1f}x")  # fmt: skip
        print(f"  finished (every file in its chat)  {finished:7.1f} s"
              f"   Telegram's floor for {sum(per_chat.values())} messages {floor:.1f} s"
              f" -> {finished / floor:.2f}x the floor")  # fmt: skip
        peak_all = calls_per_second_peak(fake, lambda m: m != "getUpdates")
        print(f"  Bot API calls/s at peak: {peak_all}"
              f" (sends/edits {calls_per_second_peak(fake, _sends)}; Telegram allows ~30),"
              f" one chat at peak {chat_peak}/s")  # fmt: skip
        print(f"  429 Too Many Requests received: {len(fake.flood_refusals)};"
              f" progress updates dropped/merged: {services.send_limiter.dropped}")  # fmt: skip
        print(f"  RSS {rss0:.0f} MB -> {rss1:.0f} MB (growth {rss1 - rss0:+.0f} MB)")


def _chat_peak(fake: FakeTelegram, chat: int) -> int:
    times = sorted(
        c.time for c in fake.calls() if _sends(c.method) and c.params.get("chat_id") == chat
    )
    best = lo = 0
    for hi, t in enumerate(times):
        while times[lo] < t - 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def api_run(root: Path, n: int) -> None:
    links = [f"http://127.0.0.1:9/bench-api/{i}.mp4" for i in range(n)]
    raw = await _raw_api_floor(root, links)
    settings = _settings(root, "api", api_key=API_KEY, web_port=0)
    services = await Services.create(settings)  # type: ignore[arg-type]
    server = await WebServer(create_app(services), "127.0.0.1", 0).start()
    rss0 = rss_mb()
    limit = asyncio.Semaphore(32)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}",
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=60,
        ) as client:

            async def post(url: str) -> int:
                async with limit:
                    r = await client.post("/api/jobs", json={"url": url, "type": "video"})
                    return r.status_code

            t0 = time.perf_counter()
            codes = collections.Counter(await asyncio.gather(*(post(u) for u in links)))
            took = time.perf_counter() - t0
        rss1 = rss_mb()
    finally:
        await server.stop()
        await services.close()
    print(f"REST API: {n} links, 32 concurrent clients")
    print(f"  accepted {took:7.1f} s ({n / took:.0f} links/s), answers {dict(codes)}")
    print(f"  same links via JobService.create {raw:7.1f} s -> API/raw {took / raw:.1f}x")
    print(f"  RSS {rss0:.0f} MB -> {rss1:.0f} MB (growth {rss1 - rss0:+.0f} MB)")


async def _raw_api_floor(root: Path, links: list[str]) -> float:
    services = await Services.create(_settings(root, "api-raw"))  # type: ignore[arg-type]
    try:
        t0 = time.perf_counter()
        for url in links:
            await services.jobs.create(url, origin="api")
        return time.perf_counter() - t0
    finally:
        await services.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--links", type=int, default=50, help="links per user")
    ap.add_argument("--per-message", type=int, default=10)
    ap.add_argument("--shared", type=int, default=5, help="links every user sends")
    args = ap.parse_args()
    users = list(range(3001, 3001 + args.users))
    with tempfile.TemporaryDirectory(prefix="mf-bench-load-") as tmp:
        root = Path(tmp)
        await bot_run(root, users, args.links, args.per_message, args.shared)
        await api_run(root, args.users * args.links)


if __name__ == "__main__":
    asyncio.run(main())
