"""Live workers: a fresh heartbeat counts, unless the worker's process on this host is
gone (``add --wait`` right after a worker was killed must run its jobs itself)."""

from __future__ import annotations

import asyncio
import os
import socket

from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.models import WorkerRecord, utcnow
from mediaferry.jobs.stats import worker_stats


async def test_a_killed_worker_with_a_fresh_heartbeat_is_not_live(
    db: Database, settings: Settings
) -> None:
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    async with db.session() as session:
        for wid, pid, host in (
            ("dead", dead.pid, socket.gethostname()),
            ("me", os.getpid(), socket.gethostname()),
            ("elsewhere", 1, "another-host"),
        ):
            session.add(
                WorkerRecord(
                    id=wid, hostname=host, pid=pid, capacity=2, running=1, heartbeat_at=utcnow()
                )
            )
    stats = await worker_stats(db, settings)
    assert (stats.alive, stats.capacity, stats.running) == (2, 4, 2)
