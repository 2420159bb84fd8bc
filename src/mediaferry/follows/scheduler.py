"""Runs due follow checks in ``mediaferry run`` and ``mediaferry worker`` processes.

Each due follow is claimed by one process (a lease on the row, taken with ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL; SQLite serialises writers), so several processes never
check the same follow at once. Idle, the loop sleeps until the next follow is due
(at most a minute): one small query a minute, whatever the number of follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from mediaferry.errors import DatabaseUnavailable
from mediaferry.follows.service import FollowService

__all__ = ["FollowScheduler"]

log = logging.getLogger(__name__)


class FollowScheduler:
    def __init__(
        self, follows: FollowService, *, concurrency: int = 4, idle_max_s: float = 60.0
    ) -> None:
        self.follows = follows
        self.concurrency = concurrency
        self.idle_max_s = idle_max_s
        self.worker_id = f"follows-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.checks = 0  # completed checks (tests and metrics)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.follows.on_added = self.wake
        self._task = asyncio.create_task(self._loop(), name="follow-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._running):
            task.cancel()
        for task in list(self._running):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                await self._round()
                delay = await self.follows.seconds_until_due()
            except DatabaseUnavailable as exc:
                log.warning("follow scheduler waiting for the database: %s", exc.message)
                delay = 5.0
            except Exception:
                log.exception("follow scheduler round failed")
                delay = 10.0
            wait = self.idle_max_s if delay is None else min(max(delay, 0.05), self.idle_max_s)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _round(self) -> None:
        """Claim and start due follows while there is room."""
        while len(self._running) < self.concurrency:
            follow_id = await self.follows.claim_due(self.worker_id)
            if follow_id is None:
                return
            task = asyncio.create_task(self._check(follow_id), name=f"follow-{follow_id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        # all slots busy: look again when one frees up
        await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)

    async def _check(self, follow_id: int) -> None:
        try:
            await self.follows.check(follow_id)
        except Exception:
            log.exception("follow check crashed", extra={"follow_id": follow_id})
        finally:
            self.checks += 1
            self._wake.set()
