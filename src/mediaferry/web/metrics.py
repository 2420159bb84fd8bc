"""``GET /metrics``: Prometheus metrics, in a registry of this app's own.

Two kinds of numbers:

* read from the database at scrape time (so every process's jobs count): jobs by
  status, queue length, live workers — a custom collector holds the snapshot taken
  just before the registry is rendered;
* fed from the event bus as they happen: stage and job-attempt durations (histograms,
  from the timestamps of ``stage`` and ``status`` events), bytes downloaded (progress
  deltas), errors by type, and delivery retries (a retry scheduled in DELIVER).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from mediaferry.app import Services
from mediaferry.errors import JobNotFound
from mediaferry.jobs.bus import Event
from mediaferry.jobs.states import JobStatus
from mediaferry.web.auth import require_key

__all__ = ["WebMetrics", "router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["metrics"])

_STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
_JOB_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
_MAX_TRACKED = 10_000
_ENDS = {
    JobStatus.COMPLETED.value: "COMPLETED",
    JobStatus.FAILED.value: "FAILED",
    JobStatus.CANCELLED.value: "CANCELLED",
    JobStatus.PENDING.value: "RETRY",  # a retry was scheduled, or the worker stopped
}


@dataclass
class _Tracked:
    started: float = field(default_factory=time.monotonic)
    stage: str | None = None
    stage_started: float = 0.0
    bytes_done: int = 0


class _DatabaseSnapshot(Collector):
    """Jobs by status, queue length and live workers, as of the last :meth:`refresh`."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.workers = 0
        self.up = 0

    async def refresh(self, services: Services) -> None:
        try:
            self.counts = await services.jobs.counts()
            self.workers = (await services.jobs.worker_stats()).alive
            self.up = 1
        except Exception as exc:
            log.warning("metrics: database unavailable: %s", exc)
            self.up = 0

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("mediaferry_jobs", "Jobs by status", labels=["status"])
        for status, count in sorted(self.counts.items()):
            jobs.add_metric([status], count)
        yield jobs
        queued = self.counts.get("PENDING", 0) + self.counts.get("QUEUED", 0)
        yield GaugeMetricFamily(
            "mediaferry_queue_length", "Jobs waiting to run (PENDING + QUEUED)", value=queued
        )
        yield GaugeMetricFamily(
            "mediaferry_workers", "Worker pools with a fresh heartbeat", value=self.workers
        )
        yield GaugeMetricFamily(
            "mediaferry_database_up", "1 if the last scrape could read the database", self.up
        )


class _SendPath(Collector):
    """The Telegram send path's counters (delivery/ratelimit.py), read at scrape time."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        limiter = self.services.send_limiter
        yield CounterMetricFamily(
            "mediaferry_telegram_flood_waits",
            "Flood waits (429 / FLOOD_WAIT) Telegram imposed on the bot",
            value=limiter.floods,
        )
        yield CounterMetricFamily(
            "mediaferry_telegram_progress_dropped",
            "Progress updates merged or skipped to leave room for results",
            value=limiter.dropped,
        )


class WebMetrics:
    """The registry, the bus consumer that feeds it, and the scrape-time snapshot."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.registry = CollectorRegistry()
        self.snapshot = _DatabaseSnapshot()
        self.registry.register(self.snapshot)
        self.registry.register(_SendPath(services))
        r = self.registry
        self.stage_seconds = Histogram(
            "mediaferry_stage_duration_seconds",
            "Time spent in each job stage",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.job_seconds = Histogram(
            "mediaferry_job_duration_seconds",
            "Duration of one job attempt, by how it ended",
            ["outcome"],
            buckets=_JOB_BUCKETS,
            registry=r,
        )
        self.downloaded = Counter(
            "mediaferry_downloaded_bytes", "Bytes downloaded (from progress)", registry=r
        )
        self.errors = Counter(
            "mediaferry_job_errors", "Failed job attempts by error type", ["error_type"], registry=r
        )
        self.delivery_retries = Counter(
            "mediaferry_delivery_retries", "Retries scheduled in the DELIVER stage", registry=r
        )
        self._jobs: dict[int, _Tracked] = {}
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            sub = self.services.bus.subscribe(maxsize=10_000)
            self._task = asyncio.create_task(self._run(sub), name="metrics-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, sub: Any) -> None:
        try:
            async for event in sub:
                try:
                    await self.observe(event)
                except Exception:
                    log.exception("metrics failed on %s", event.kind)
        finally:
            sub.close()

    # -- feeding -----------------------------------------------------------------
    def _track(self, job_id: int) -> _Tracked:
        tracked = self._jobs.get(job_id)
        if tracked is None:
            if len(self._jobs) >= _MAX_TRACKED:  # jobs whose end we never saw
                self._jobs.pop(next(iter(self._jobs)))
            tracked = self._jobs[job_id] = _Tracked()
        return tracked

    async def observe(self, event: Event, now: float | None = None) -> None:
        job_id = event.job_id
        if job_id is None:
            return
        now = time.monotonic() if now is None else now
        if event.kind == "stage":
            tracked = self._track(job_id)
            self._end_stage(tracked, now)
            tracked.stage = str(event.data.get("stage") or "") or None
            tracked.stage_started = now
        elif event.kind == "progress":
            tracked = self._track(job_id)
            done = int(event.data.get("bytes_done") or 0)
            if done > tracked.bytes_done:
                self.downloaded.inc(done - tracked.bytes_done)
            tracked.bytes_done = done
        elif event.kind == "status":
            await self._status(job_id, str(event.data.get("status") or ""), event, now)

    def _end_stage(self, tracked: _Tracked, now: float) -> None:
        if tracked.stage is not None:
            self.stage_seconds.labels(tracked.stage).observe(max(0.0, now - tracked.stage_started))
            tracked.stage = None

    async def _status(self, job_id: int, status: str, event: Event, now: float) -> None:
        if status == JobStatus.RUNNING.value:
            self._jobs.pop(job_id, None)
            self._track(job_id).started = now
            return
        outcome = _ENDS.get(status)
        tracked = self._jobs.pop(job_id, None)
        if outcome is None or tracked is None:
            return  # not an attempt this process saw start (e.g. a waiting job cancelled)
        last_stage = tracked.stage
        self._end_stage(tracked, now)
        self.job_seconds.labels(outcome).observe(max(0.0, now - tracked.started))
        if outcome not in ("FAILED", "RETRY"):
            return
        error_type = event.data.get("error_type")
        if error_type is None:
            try:
                job = await self.services.jobs.get(job_id)
            except JobNotFound:
                return
            error_type = job.error_type
            last_stage = last_stage or job.stage
        if error_type is None:
            return  # re-queued by a shutting-down worker: not an error
        self.errors.labels(str(error_type)).inc()
        if outcome == "RETRY" and last_stage == "DELIVER":
            self.delivery_retries.inc()

    # -- scraping -------------------------------------------------------------------
    async def render(self) -> bytes:
        await self.snapshot.refresh(self.services)
        return bytes(generate_latest(self.registry))


@router.get(
    "/metrics",
    dependencies=[Depends(require_key)],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    web_metrics: WebMetrics = request.app.state.metrics
    return Response(await web_metrics.render(), media_type=CONTENT_TYPE_LATEST)
