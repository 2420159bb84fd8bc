"""Job events between components and processes.

In one process, :class:`EventBus` fans events out to subscribers (bot, web SSE) and
rings a doorbell that wakes idle workers at once. Across processes:

* PostgreSQL: events travel as ``NOTIFY mediaferry`` and arrive through ``LISTEN``;
* SQLite: a watcher reads ``PRAGMA data_version`` (which changes when another
  connection commits) every ``sqlite_watch_s`` and rings the doorbell.

A slow poll in the worker remains as the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable
from typing import Any

from sqlalchemy.engine import make_url

from mediaferry.jobs._event import CHANNEL, Event
from mediaferry.jobs._origin import PROCESS_ORIGIN
from mediaferry.jobs._sqlite_events import SqliteMirror

__all__ = ["Event", "EventBus", "Subscription"]

log = logging.getLogger(__name__)
WAKE_KINDS = frozenset({"created", "queued", "wake", "resumed"})


class Subscription:
    """A bounded queue of events; the oldest are dropped when a reader lags."""

    def __init__(self, bus: EventBus, maxsize: int, kinds: frozenset[str] | None = None) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.kinds = kinds  # None: every event

    def put(self, event: Event) -> None:
        if self.kinds is not None and event.kind not in self.kinds:
            return
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus._subs.discard(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class EventBus:
    def __init__(self, origin: str | None = None) -> None:
        self._subs: set[Subscription] = set()
        self.doorbell = asyncio.Event()
        # events this process wrote carry this tag; mirrors skip them
        self.origin = origin or PROCESS_ORIGIN
        self._tasks: list[asyncio.Task[None]] = []
        self._pg_conn: Any = None
        self._pg_url: str | None = None
        self._outbox: asyncio.Queue[str] | None = None
        self.local_workers: set[str] = set()  # worker ids of pools in this process

    # -- in process -----------------------------------------------------
    def subscribe(self, maxsize: int = 1000, kinds: Iterable[str] | None = None) -> Subscription:
        """Events of ``kinds`` (all if None) from now on."""
        sub = Subscription(self, maxsize, frozenset(kinds) if kinds is not None else None)
        self._subs.add(sub)
        return sub

    def publish(
        self, kind: str, job_id: int | None = None, remote: bool = True, **data: Any
    ) -> None:
        """Deliver to local subscribers, ring the doorbell, and forward to other processes."""
        event = Event(kind, job_id, data)
        self._deliver(event)
        if remote and self._outbox is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(event.to_json(self.origin))

    def _deliver(self, event: Event) -> None:
        if event.kind in WAKE_KINDS:
            self.doorbell.set()
        for sub in list(self._subs):
            sub.put(event)

    def ring(self) -> None:
        self.doorbell.set()

    async def wait(self, timeout: float) -> None:
        """Wait until the doorbell rings (or ``timeout``), then reset it."""
        if not self.doorbell.is_set():
            # asyncio.timeout, not wait_for: no extra task per wait (twice per job)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.doorbell.wait()
        self.doorbell.clear()

    # -- across processes --------------------------------------------------
    async def start(self, database_url: str, *, sqlite_watch_s: float = 0.02) -> None:
        if database_url.startswith("postgresql"):
            await self._start_pg(database_url)
        else:
            path = make_url(database_url).database
            if path and path != ":memory:":
                self._tasks.append(asyncio.create_task(self._watch_sqlite(path, sqlite_watch_s)))

    async def _start_pg(self, url: str) -> None:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._pg_url = dsn
        await self._listen_pg()  # the first connection fails loudly: a bad URL is a bad start
        self._outbox = asyncio.Queue(10000)
        self._tasks.append(asyncio.create_task(self._send_loop(dsn)))
        self._tasks.append(asyncio.create_task(self._keep_listening()))

    async def _listen_pg(self) -> None:
        import asyncpg

        assert self._pg_url is not None
        conn = await asyncpg.connect(self._pg_url)
        await conn.add_listener(CHANNEL, self._on_notify)
        self._pg_conn = conn

    async def _keep_listening(self) -> None:
        """LISTEN again after the server restarted or the connection was lost; wake
        everyone then, since notifications sent meanwhile are gone."""
        import asyncpg

        while True:
            await asyncio.sleep(1)
            if self._pg_conn is not None and not self._pg_conn.is_closed():
                continue
            try:
                await self._listen_pg()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.debug("LISTEN reconnect failed: %s", exc)
                continue
            log.info("listening for job events again")
            self._deliver(Event("wake"))

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            msg = json.loads(payload)
        except ValueError:
            return
        if msg.get("o") == self.origin:
            return
        self._deliver(Event(msg.get("k", "wake"), msg.get("j"), msg.get("d") or {}))

    async def _send_loop(self, dsn: str) -> None:
        """NOTIFY what this process publishes. While the database is away, payloads are
        dropped (they are hints: workers also poll and read cancels from the table)."""
        import asyncpg

        assert self._outbox is not None
        conn: asyncpg.Connection | None = None
        failing = False
        try:
            while True:
                payload = await self._outbox.get()
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(dsn)
                    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
                    failing = False
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    (log.debug if failing else log.warning)("NOTIFY failed: %s", exc)
                    failing = True
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close()
                    conn = None
                    await asyncio.sleep(1)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def _watch_sqlite(self, path: str, interval: float) -> None:
        mirror = SqliteMirror(self, path)
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    if not mirror.changed():
                        continue
                except sqlite3.Error:
                    continue
                self._deliver(Event("wake"))
                try:
                    events = mirror.poll()
                except Exception as exc:  # never let the watcher die; read again next tick
                    log.debug("sqlite event mirror: %s", exc)
                    mirror.version = -1
                    continue
                for event in events:
                    self._deliver(event)
        finally:
            mirror.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._pg_conn is not None:
            with contextlib.suppress(Exception):
                await self._pg_conn.close()
            self._pg_conn = None
