"""``GET /api/events``: job events as server-sent events.

One :class:`EventHub` per app reads the event bus once and fans out to every client:

* ``created`` and ``status`` carry the job's JSON (read once, shared by all clients);
* ``progress`` is throttled per job to one per ``progress_interval`` — the latest value
  is always sent, and any held-back progress of a job is sent *before* its next
  non-progress event, so a client never sees progress after ``COMPLETED``;
* every message has an increasing ``id:``; a comment line is sent every ``ping_s``;
* a client that falls ``queue_size`` messages behind is disconnected (its
  EventSource reconnects) rather than silently missing events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from mediaferry.errors import JobNotFound
from mediaferry.jobs.bus import Event, EventBus
from mediaferry.jobs.service import JobService, job_to_dict
from mediaferry.jobs.states import FINISHED_STATUSES
from mediaferry.web.auth import require_key_or_query

__all__ = ["EventHub", "router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["events"])

_FORWARD = frozenset({"created", "status", "queued", "progress", "stage", "cancel"})
_WITH_JOB = frozenset({"created", "status", "queued"})
_CLOSE = None  # sentinel put in a client queue to end its stream


class EventHub:
    def __init__(
        self,
        bus: EventBus,
        jobs: JobService,
        *,
        progress_interval: float = 0.5,
        ping_s: float = 15.0,
        queue_size: int = 1000,
    ) -> None:
        self.bus = bus
        self.jobs = jobs
        self.progress_interval = progress_interval
        self.ping_s = ping_s
        self.queue_size = queue_size
        self.clients: set[asyncio.Queue[str | None]] = set()
        self._seq = 0
        self._last_progress: dict[int, float] = {}
        self._held: dict[int, Event] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            sub = self.bus.subscribe(maxsize=10_000)
            self._task = asyncio.create_task(self._run(sub), name="sse-hub")

    def close_clients(self) -> None:
        """End every open stream (before the server shuts down)."""
        for queue in list(self.clients):
            self._close(queue)

    async def stop(self) -> None:
        self.close_clients()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def subscribe(self) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue(self.queue_size + 1)
        self.clients.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str | None]) -> None:
        self.clients.discard(queue)

    def _close(self, queue: asyncio.Queue[str | None]) -> None:
        self.clients.discard(queue)
        while queue.full():
            queue.get_nowait()
        queue.put_nowait(_CLOSE)

    # -- events -------------------------------------------------------------------
    async def _run(self, sub: Any) -> None:
        try:
            async for event in sub:
                try:
                    await self._handle(event)
                except Exception:
                    log.exception("event hub failed on %s", event.kind)
        finally:
            sub.close()

    async def _handle(self, event: Event) -> None:
        if event.kind not in _FORWARD or event.job_id is None:
            return
        job_id = event.job_id
        if event.kind == "progress":
            self._progress(event)
            return
        self._flush(job_id)
        data: dict[str, Any] = {"job_id": job_id, **event.data}
        kind = "status" if event.kind == "queued" else event.kind
        if event.kind in _WITH_JOB:
            try:
                job = await self.jobs.get(job_id)
            except JobNotFound:
                return
            data["job"] = job_to_dict(job)
            data["status"] = job.status
            self._flush(job_id)  # progress that arrived while reading the job
            if job.status in FINISHED_STATUSES:
                self._forget(job_id)
        self._emit(kind, data)

    def _progress(self, event: Event) -> None:
        assert event.job_id is not None
        job_id = event.job_id
        now = time.monotonic()
        wait = self._last_progress.get(job_id, 0.0) + self.progress_interval - now
        if wait <= 0:
            self._held.pop(job_id, None)
            self._send_progress(event, now)
            return
        self._held[job_id] = event
        if job_id not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[job_id] = loop.call_later(wait, self._flush, job_id)

    def _flush(self, job_id: int) -> None:
        timer = self._timers.pop(job_id, None)
        if timer is not None:
            timer.cancel()
        held = self._held.pop(job_id, None)
        if held is not None:
            self._send_progress(held, time.monotonic())

    def _send_progress(self, event: Event, now: float) -> None:
        assert event.job_id is not None
        self._last_progress[event.job_id] = now
        self._emit("progress", {"job_id": event.job_id, **event.data})

    def _forget(self, job_id: int) -> None:
        self._last_progress.pop(job_id, None)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self._seq += 1
        message = f"id: {self._seq}\nevent: {kind}\ndata: {json.dumps(data, default=str)}\n\n"
        for queue in list(self.clients):
            if queue.qsize() >= self.queue_size:
                log.warning("SSE client too slow; disconnecting it")
                self._close(queue)
            else:
                queue.put_nowait(message)

    # -- one client -----------------------------------------------------------------
    async def stream(self) -> AsyncIterator[str]:
        """One client's messages; subscribes on first iteration, so a stream that never
        starts leaves nothing behind."""
        queue = self.subscribe()
        try:
            yield f"retry: 3000\n: connected {self._seq}\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), self.ping_s)
                except TimeoutError:
                    yield ": ping\n\n"
                    continue
                if message is _CLOSE:
                    return
                yield message
        finally:
            self.unsubscribe(queue)


class EventStreamResponse(StreamingResponse):
    """A stream that ends as soon as the client goes away, whatever the ASGI version,
    so its subscription is dropped at once rather than at the next write."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                await self.stream_response(send)
                group.cancel_scope.cancel()

            async def watch() -> None:
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()

            group.start_soon(stream)
            group.start_soon(watch)


@router.get(
    "/api/events",
    dependencies=[Depends(require_key_or_query)],
    response_class=EventStreamResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(request: Request) -> EventStreamResponse:
    """Server-sent events: ``created``, ``status``, ``progress``, ``stage``, ``cancel``."""
    hub: EventHub = request.app.state.hub
    return EventStreamResponse(
        hub.stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
