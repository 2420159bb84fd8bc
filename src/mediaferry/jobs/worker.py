"""The worker pool: claims jobs, runs them, and decides each job's end in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.models import Job, SystemState, WorkerRecord, utcnow
from mediaferry.db.raw import Tx
from mediaferry.errors import (
    DatabaseUnavailable,
    DiskFull,
    JobCancelled,
    JobError,
    RateLimited,
    UnknownError,
)
from mediaferry.files.disk import DiskGuard
from mediaferry.jobs import claim as claims
from mediaferry.jobs.bus import EventBus
from mediaferry.jobs.control import JobControl, JobRunner, RunResult
from mediaferry.jobs.retry import RetryPolicy
from mediaferry.jobs.service import parse_debug_jobs
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.transition import add_event, transition
from mediaferry.logging import DEBUG_JOBS, log_context

__all__ = ["WorkerPool"]

log = logging.getLogger(__name__)
S = JobStatus
StopReason = Literal["cancel", "shutdown"]


@dataclass(slots=True)
class _Running:
    job: Job
    task: asyncio.Task[None]
    stop_reason: StopReason | None = None
    started: float = field(default_factory=time.monotonic)


class WorkerPool:
    """Up to ``concurrency`` jobs at once; woken by the bus, with a slow safety poll."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        runner: JobRunner,
        bus: EventBus,
        *,
        concurrency: int | None = None,
        retry_policy: RetryPolicy | None = None,
        name: str = "worker",
        only_jobs: set[int] | None = None,
        disk_guard: DiskGuard | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.runner = runner
        self.bus = bus
        self.concurrency = concurrency or settings.max_parallel_jobs
        self.retry = retry_policy or RetryPolicy(
            base=settings.retry_base_s, maximum=settings.retry_max_s
        )
        self.worker_id = f"{name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.only_jobs = only_jobs  # restrict to these jobs (``add --wait`` alone)
        self.running: dict[int, _Running] = {}
        self.paused = False
        self.disk_guard = disk_guard
        self.disk_low = False
        self._stopping = False
        self._db_down_since: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sub = bus.subscribe(kinds=("cancel", "paused", "resumed"))

    # -- lifecycle -----------------------------------------------------------
    async def start(self, *, claim: bool = True) -> None:
        """Register, recover stale jobs, and (with ``claim``) start taking work."""
        self.bus.local_workers.add(self.worker_id)
        await self._register()
        await claims.recover_stale(
            self.db, self.settings.stale_after_s, exclude_worker=self.worker_id
        )
        self.paused = await self._flag("paused")
        await self._check_disk()
        self._tasks = [
            asyncio.create_task(self._housekeeping_loop(), name="housekeeping"),
            asyncio.create_task(self._listen(), name="bus-listener"),
        ]
        if claim:
            self._tasks.append(asyncio.create_task(self._claim_loop(), name="claim-loop"))
        log.info(
            "worker pool started", extra={"worker_id": self.worker_id, "capacity": self.concurrency}
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let running jobs finish for ``grace`` seconds, then re-queue them."""
        self._stopping = True
        self.bus.ring()
        grace = self.settings.shutdown_grace_s if grace is None else grace
        if self.running:
            tasks = [r.task for r in self.running.values()]
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for entry in list(self.running.values()):
                if entry.task in pending:
                    entry.stop_reason = "shutdown"
                    entry.task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=30)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._sub.close()
        try:
            async with self.db.session() as session:
                row = await session.get(WorkerRecord, self.worker_id)
                if row is not None:
                    await session.delete(row)
        except DatabaseUnavailable as exc:
            # peers (or this host's next start) see the missing heartbeat and recover
            log.warning("worker record not removed: %s", exc.message)
        log.info("worker pool stopped", extra={"worker_id": self.worker_id})

    async def _register(self) -> None:
        """Announce this pool in the workers table (again, if a peer removed it as stale)."""
        async with self.db.session() as session:
            if await session.get(WorkerRecord, self.worker_id) is None:
                session.add(
                    WorkerRecord(
                        id=self.worker_id,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        capacity=self.concurrency,
                        heartbeat_at=utcnow(),
                    )
                )

    # -- loops -----------------------------------------------------------------
    async def _claim_loop(self) -> None:
        while not self._stopping:
            if not self._may_claim():
                await self.bus.wait(self.settings.poll_s)
                continue
            try:
                job = await claims.claim_next(
                    self.db,
                    self.worker_id,
                    self.settings.source_limits or None,
                    only=self.only_jobs,
                )
            except DatabaseUnavailable as exc:
                await self._database_down(exc)
                continue
            except Exception:
                log.exception("claim failed")
                await asyncio.sleep(1)
                continue
            self._db_down_since = None
            if job is None:
                await self.bus.wait(self.settings.poll_s)
                continue
            self._launch(job)

    def _may_claim(self) -> bool:
        """A free slot and nothing holding work back."""
        return (
            not self._stopping
            and not self.paused
            and not self.disk_low
            and len(self.running) < self.concurrency
        )

    async def _check_disk(self) -> None:
        """Hold new downloads while free space is under the floor; resume by itself."""
        if self.disk_guard is None:
            return
        status = await asyncio.to_thread(self.disk_guard.status)
        if status.is_low and not self.disk_low:
            log.warning(
                "DISK_LOW: %.1f GB free under %s (floor %.1f GB); new downloads wait",
                status.free_bytes / 1e9,
                status.path,
                status.floor_bytes / 1e9,
            )
            self.bus.publish("disk", None, low=True, free_bytes=status.free_bytes)
            self._notify(
                "disk_low",
                f"{status.free_bytes / 1e9:.1f} GB free under {status.path}; new downloads wait",
            )
        elif not status.is_low and self.disk_low:
            log.info("disk space is back; downloads resume")
            self.bus.publish("disk", None, low=False, free_bytes=status.free_bytes)
            self.bus.ring()
        self.disk_low = status.is_low

    def _launch(self, job: Job) -> None:
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self.running[job.id] = _Running(job=job, task=task)

    async def _housekeeping_loop(self) -> None:
        beat_every = self.settings.heartbeat_s
        recover_every = max(1.0, self.settings.stale_after_s / 2)
        last_beat = last_recover = time.monotonic()
        while True:
            await asyncio.sleep(min(1.0, beat_every))
            try:
                await self._check_cancels()
                now = time.monotonic()
                if now - last_beat >= beat_every:
                    last_beat = now
                    await self._heartbeat()
                    self.paused = await self._flag("paused")
                    await self._sync_debug_jobs()
                    await self._check_disk()
                if now - last_recover >= recover_every:
                    last_recover = now
                    recovered = await claims.recover_stale(
                        self.db, self.settings.stale_after_s, exclude_worker=self.worker_id
                    )
                    if recovered:
                        self._notify(
                            "worker_lost",
                            f"A worker stopped answering; {recovered} job(s) were recovered",
                        )
                    recovered += await claims.requeue_orphans(
                        self.db,
                        self.worker_id,
                        set(self.running),
                        quiet_for_s=max(5.0, 3 * beat_every),
                    )
                    if recovered:
                        self.bus.publish("wake")
            except DatabaseUnavailable as exc:
                await self._database_down(exc)
            except Exception:
                log.exception("housekeeping failed")

    def _notify(self, event: str, text: str) -> None:
        """An operator notification (sent off the hot path by the notifier, if any)."""
        self.bus.publish("notify", None, remote=False, event=event, text=text)

    async def _database_down(self, exc: DatabaseUnavailable) -> None:
        """One warning when the database goes away (not one traceback a second), then a
        short wait; whatever was being done is tried again."""
        if self._db_down_since is None:
            self._db_down_since = time.monotonic()
            log.warning("database unavailable; waiting for it: %s", exc.message)
        await asyncio.sleep(min(5.0, max(0.5, self.settings.poll_s)))

    async def _heartbeat(self) -> None:
        await claims.heartbeat(self.db, self.worker_id, list(self.running))
        await self._register()

    async def _check_cancels(self) -> None:
        if not self.running:
            return
        running = ", ".join(str(int(i)) for i in self.running)
        async with self.db.tx() as tx:
            rows = await tx.all(
                f"SELECT id FROM jobs WHERE id IN ({running}) AND cancel_requested = :yes",
                {"yes": True},
            )
        for (job_id,) in rows:
            self._cancel_local(int(job_id))

    def _cancel_local(self, job_id: int) -> None:
        entry = self.running.get(job_id)
        if entry is not None and entry.stop_reason is None:
            entry.stop_reason = "cancel"
            entry.task.cancel()

    async def _listen(self) -> None:
        async for event in self._sub:
            if event.kind == "cancel" and event.job_id is not None:
                self._cancel_local(event.job_id)
            elif event.kind == "paused" and event.data.get("flag") == "paused":
                self.paused = True
            elif event.kind == "resumed" and event.data.get("flag") == "paused":
                self.paused = False

    async def _sync_debug_jobs(self) -> None:
        """Jobs an admin switched debug logging on for (``/debug_on``), from any process."""
        async with self.db.session() as session:
            row = await session.get(SystemState, "debug_jobs")
        ids = parse_debug_jobs(row)
        if ids != DEBUG_JOBS:
            DEBUG_JOBS.clear()
            DEBUG_JOBS.update(ids)

    async def _flag(self, key: str) -> bool:
        async with self.db.session() as session:
            row = await session.get(SystemState, key)
        return row is not None and row.value == "1"

    # -- one job -----------------------------------------------------------------
    async def _run(self, job: Job) -> None:
        entry = self.running[job.id]
        ctl = JobControl(self.db, self.bus, self.settings, job)
        outcome: RunResult | BaseException
        with log_context(
            job_id=job.id,
            user_id=job.user_id,
            chat_id=job.chat_id,
            source_type=job.source_type,
            url_domain=job.domain,
            worker_id=self.worker_id,
        ):
            self.bus.publish("status", job.id, status=S.RUNNING.value)
            try:
                outcome = await self.runner.run(job, ctl)
            except asyncio.CancelledError as exc:
                outcome = exc
            except JobError as exc:
                outcome = exc
            except Exception as exc:
                log.exception("job crashed")
                outcome = UnknownError(f"{type(exc).__name__}: {exc}")
            finally:
                await ctl.close()
            try:
                # decide the end in one place, shielded so a shutdown cannot strand it
                await asyncio.shield(self._finish_until_written(job, ctl, outcome, entry))
            except asyncio.CancelledError:
                pass
            finally:
                self.running.pop(job.id, None)
                self.bus.ring()

    async def _finish_until_written(
        self, job: Job, ctl: JobControl, outcome: RunResult | BaseException, entry: _Running
    ) -> None:
        """:meth:`_finish`, tried again until the database takes it: a job's end is never
        forgotten while its row says RUNNING. (A retry after a commit whose answer was
        lost finds the job no longer RUNNING, and its transition is then refused.) The wait
        between tries doubles up to one heartbeat (5 s at most)."""
        delay = 0.5
        longest = min(5.0, self.settings.heartbeat_s)
        while True:
            try:
                await self._finish(job, ctl, outcome, entry.stop_reason)
                return
            except DatabaseUnavailable as exc:
                self.running.setdefault(job.id, entry)  # still ours: heartbeat and orphans
                log.warning(
                    "could not record the end of the job (%s); trying again in %.1f s",
                    exc.message,
                    delay,
                    extra={"job_id": job.id},
                )
            except Exception:
                self.running.setdefault(job.id, entry)
                log.exception("could not record the end of the job; trying again")
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    async def _finish(
        self,
        job: Job,
        ctl: JobControl,
        outcome: RunResult | BaseException,
        stop_reason: StopReason | None,
    ) -> None:
        try:
            await ctl.flush_progress()
        except Exception:
            pass
        error_type: str | None = None
        following: Job | None = None
        async with self.db.tx() as tx:
            if isinstance(outcome, RunResult):
                await transition(
                    tx,
                    job.id,
                    S.RUNNING,
                    S.COMPLETED,
                    reason="done",
                    finished_at=utcnow(),
                    error_type=None,
                    error_message=None,
                    worker_id=None,
                    eta=0,
                    **outcome,
                )
                new = S.COMPLETED
            elif isinstance(outcome, asyncio.CancelledError):
                new = await self._stopped(tx, job, stop_reason)
            else:
                assert isinstance(outcome, BaseException)
                error = outcome if isinstance(outcome, JobError) else UnknownError(str(outcome))
                new = await self._failed(tx, job, error)
                error_type = error.error_type.value
            self.running.pop(job.id, None)
            if self._may_claim():
                # take the next job in the same transaction: one commit fewer per job
                following = await claims.claim_in(
                    tx, self.worker_id, self.settings.source_limits or None, only=self.only_jobs
                )
        self.bus.publish("status", job.id, status=new.value, error_type=error_type)
        if new == S.PENDING:
            self.bus.publish("queued", job.id, remote=True)
        if following is not None:
            self._launch(following)

    async def _stopped(self, tx: Tx, job: Job, reason: StopReason | None) -> JobStatus:
        if reason == "shutdown":
            await transition(
                tx,
                job.id,
                S.RUNNING,
                S.PENDING,
                reason="worker shutting down; re-queued",
                worker_id=None,
            )
            return S.PENDING
        await self.runner_cleanup(job)
        await transition(
            tx,
            job.id,
            S.RUNNING,
            S.CANCELLED,
            reason="cancelled",
            error_type=JobCancelled.error_type.value,
            error_message="Cancelled.",
            worker_id=None,
            finished_at=utcnow(),
        )
        return S.CANCELLED

    async def runner_cleanup(self, job: Job) -> None:
        cleanup = getattr(self.runner, "cleanup", None)
        if cleanup is not None:
            with contextlib.suppress(Exception):
                await cleanup(job)

    async def _failed(self, tx: Tx, job: Job, error: JobError) -> JobStatus:
        attempts = job.attempts + 1
        decision = self.retry.decide(error, attempts, job.max_attempts)
        details = {"error_type": error.error_type.value, "message": error.message, **error.details}
        log.warning(
            "job attempt failed: %s",
            error.message,
            extra={
                "error_type": error.error_type.value,
                "http_status": error.details.get("http_status"),
            },
        )
        if isinstance(error, RateLimited) and job.domain:
            pause = error.retry_after if error.retry_after else self.settings.rate_limit_cooldown_s
            await claims.cool_down(tx, job.domain, pause)
        if isinstance(error, DiskFull):
            await add_event(tx, job.id, "DISK_LOW", {"message": error.message})
        if decision is not None:
            if not decision.counts_attempt:
                attempts = job.attempts
            not_before = utcnow() + timedelta(seconds=decision.delay)
            await transition(
                tx,
                job.id,
                S.RUNNING,
                S.PENDING,
                reason="retry scheduled",
                event_data={**details, "delay_s": round(decision.delay, 2), "attempts": attempts},
                attempts=attempts,
                not_before=not_before,
                worker_id=None,
                error_type=error.error_type.value,
                error_message=error.message,
            )
            return S.PENDING
        self._notify("job_failed", f"Job #{job.id} ({job.url}) failed: {error.message}")
        await transition(
            tx,
            job.id,
            S.RUNNING,
            S.FAILED,
            reason="failed",
            event_data=details,
            attempts=attempts,
            worker_id=None,
            error_type=error.error_type.value,
            error_message=error.message,
            finished_at=utcnow(),
        )
        return S.FAILED
