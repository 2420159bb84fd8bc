"""Follows at scale: 1,000 follows of a local feed server.

1. One full round of checks with nothing new (every follow due at once, run by the
   scheduler as ``mediaferry run`` runs it): wall time, HTTP requests per follow (target
   1 conditional request, answered 304) and database time per follow (target ≤ 5 ms).
2. The scheduler idle with 1,000 follows due over the next hour: CPU of this process
   per second of wall time (target < 1 % of a core).

    .venv/bin/python bench/follow.py [--follows 1000] [--idle-s 30] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import update
from tests.support.feed_server import FeedServer

from mediaferry.app import Services
from mediaferry.config import load_settings
from mediaferry.db.engine import Database
from mediaferry.db.models import Follow, utcnow
from mediaferry.follows.scheduler import FollowScheduler


class DbClock:
    """Time spent inside database transactions (ORM sessions and plain SQL)."""

    def __init__(self, db: Database) -> None:
        self.total = 0.0
        session, tx = db.session, db.tx

        @contextlib.asynccontextmanager
        async def timed_session() -> AsyncIterator[Any]:
            started = time.perf_counter()
            try:
                async with session() as s:
                    yield s
            finally:
                self.total += time.perf_counter() - started

        @contextlib.asynccontextmanager
        async def timed_tx() -> AsyncIterator[Any]:
            started = time.perf_counter()
            try:
                async with tx() as t:
                    yield t
            finally:
                self.total += time.perf_counter() - started

        db.session = timed_session  # type: ignore[method-assign]
        db.tx = timed_tx  # type: ignore[method-assign,assignment]


async def make_follows(services: Services, feed: FeedServer, count: int) -> None:
    now = utcnow()
    async with services.db.session() as session:
        for n in range(count):
            session.add(
                Follow(
                    url=feed.url(f"/rss.xml?follow={n}"),
                    kind="feed",
                    job_type="audio",
                    quality="audio",
                    archive=True,
                    every_s=3600,
                    next_check_at=now,
                    failures=0,
                    paused=False,
                    primed=False,
                    backfill=0,
                    items_queued=0,
                    last_new=0,
                    created_at=now,
                    updated_at=now,
                )
            )


async def due_now(services: Services, *, spread_s: float = 0.0) -> None:
    async with services.db.session() as session:
        if not spread_s:
            await session.execute(update(Follow).values(next_check_at=utcnow()))
            return
        rng = random.Random(7)
        ids = (await session.execute(Follow.__table__.select())).all()
        for row in ids:
            later = utcnow() + timedelta(seconds=rng.uniform(60, spread_s))
            await session.execute(
                update(Follow).where(Follow.id == row.id).values(next_check_at=later)
            )


async def full_round(services: Services, count: int, concurrency: int = 8) -> float:
    scheduler = FollowScheduler(services.follows, concurrency=concurrency)
    started = time.perf_counter()
    scheduler.start()
    try:
        while scheduler.checks < count:
            await asyncio.sleep(0.01)
    finally:
        await scheduler.stop()
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--follows", type=int, default=1000)
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--postgres", action="store_true", help="use 127.0.0.1:5432")
    args = parser.parse_args()
    feed = FeedServer()
    for n in range(20):
        feed.publish(f"Episode {n}", f"http://127.0.0.1:9/ep{n}.mp3")
    tmp = Path(tempfile.mkdtemp(prefix="mf-bench-follow-"))
    url = f"sqlite+aiosqlite:///{tmp / 'mf.db'}"
    pg_url = None
    if args.postgres:
        from tests.support.db_fixtures import create_pg_database

        pg_url = url = create_pg_database()
    settings = load_settings(
        data_dir=tmp, database_url=url, allow_private_networks=True, log_level="WARNING"
    )
    services = await Services.create(settings, start_bus=False)
    try:
        await make_follows(services, feed, args.follows)
        prime = await full_round(services, args.follows)  # first check: 200 + ETag stored
        print(f"{args.follows} follows, first round (200, entries remembered): {prime:.2f} s")

        clock = DbClock(services.db)
        for concurrency in (8, 1):
            await due_now(services)
            clock.total = 0.0
            hits_before = sum(feed.hits.values())
            cond_before = feed.conditional
            wall = await full_round(services, args.follows, concurrency)
            requests = sum(feed.hits.values()) - hits_before
            not_modified = feed.conditional - cond_before
            per = clock.total / args.follows * 1000
            print(f"round with nothing new, all due at once, {concurrency} check(s) at a time:")
            print(f"  wall {wall:.2f} s = {wall / args.follows * 1000:.2f} ms per follow")
            print(
                f"  HTTP requests per follow: {requests / args.follows:.2f} "
                f"({not_modified} answered 304; target 1)"
            )
            print(
                f"  time inside database transactions per follow: {per:.2f} ms "
                "(target <= 5 ms; with 8 at a time this includes waiting for SQLite's lock)"
            )

        await due_now(services, spread_s=3600)
        scheduler = FollowScheduler(services.follows)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        scheduler.start()
        await asyncio.sleep(args.idle_s)
        await scheduler.stop()
        cpu = time.process_time() - cpu0
        idle_wall = time.perf_counter() - wall0
        print(
            f"scheduler idle, {args.follows} follows due over the next hour: "
            f"{cpu / idle_wall * 100:.3f} % of a core over {idle_wall:.0f} s "
            f"({scheduler.checks} checks ran; target < 1 %)"
        )
    finally:
        await services.close()
        feed.close()
        if pg_url:
            from tests.support.db_fixtures import drop_pg_database

            drop_pg_database(pg_url)


if __name__ == "__main__":
    asyncio.run(main())
