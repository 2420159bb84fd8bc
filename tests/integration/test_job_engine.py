"""The job engine on real SQLite and PostgreSQL: create, dedup, limits, CAS, workers."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.models import Job, JobEvent
from mediaferry.errors import (
    AuthError,
    InvalidTransition,
    JobError,
    LimitExceeded,
    NetworkError,
    RateLimited,
    UrlRejected,
)
from mediaferry.jobs.bus import EventBus
from mediaferry.jobs.claim import recover_stale
from mediaferry.jobs.control import JobControl, RunResult
from mediaferry.jobs.service import JobService
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.transition import transition
from mediaferry.jobs.worker import WorkerPool
from mediaferry.transfer.base import Progress
from tests.support.db_fixtures import make_settings

S = JobStatus


class ScriptedRunner:
    """A real JobRunner whose behaviour per URL is scripted by the test."""

    def __init__(self) -> None:
        self.runs: Counter[int] = Counter()
        self.started: dict[int, asyncio.Event] = {}
        self.fail_with: dict[str, list[JobError]] = {}
        self.hold: dict[str, asyncio.Event] = {}
        self.cleaned: list[int] = []
        self.delay = 0.0

    def started_event(self, job_id: int) -> asyncio.Event:
        return self.started.setdefault(job_id, asyncio.Event())

    async def run(self, job: Job, ctl: JobControl) -> RunResult:
        self.runs[job.id] += 1
        self.started_event(job.id).set()
        errors = self.fail_with.get(job.url)
        if errors:
            raise errors.pop(0)
        hold = self.hold.get(job.url)
        if hold is not None:
            for i in range(10_000):
                ctl.progress(Progress(bytes_done=i * 1000, bytes_total=10_000_000))
                if hold.is_set():
                    break
                await asyncio.sleep(0.02)
        if self.delay:
            await asyncio.sleep(self.delay)
        return RunResult(file_path=f"/tmp/{job.id}.bin", file_size=123)

    async def cleanup(self, job: Job) -> None:
        self.cleaned.append(job.id)


async def wait_status(
    svc: JobService, job_id: int, *statuses: JobStatus, timeout: float = 10
) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = await svc.get(job_id)
        if job.status in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is {job.status}, wanted {statuses}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def svc(db: Database, settings: Settings) -> JobService:
    return JobService(db, settings, EventBus())


async def test_create_persists_a_pending_job_with_event(svc: JobService) -> None:
    result = await svc.create("http://127.0.0.1:9/a.mp4", user_id=5)
    assert result.created
    job = await svc.get(result.job.id)
    assert job.status == S.PENDING
    assert job.max_attempts == svc.settings.max_attempts
    events = await svc.events(job.id)
    assert [e.event_type for e in events] == ["CREATED"]


async def test_identical_job_is_deduplicated(svc: JobService) -> None:
    a = await svc.create("http://127.0.0.1:9/a.mp4?utm_source=x")
    b = await svc.create("http://127.0.0.1:9/a.mp4")
    c = await svc.create("http://127.0.0.1:9/a.mp4", job_type="audio")
    assert b.deduplicated and b.job.id == a.job.id
    assert c.created and c.job.id != a.job.id
    assert "DEDUP" in [e.event_type for e in await svc.events(a.job.id)]


async def test_concurrent_identical_creates_make_one_job(svc: JobService) -> None:
    results = await asyncio.gather(*(svc.create("http://127.0.0.1:9/same.mp4") for _ in range(8)))
    assert len({r.job.id for r in results}) == 1
    assert sum(r.created for r in results) == 1


async def test_refused_url_creates_nothing(svc: JobService) -> None:
    svc.settings.allow_private_networks = False
    for url in ("file:///etc/passwd", "http://127.0.0.1/x", "nonsense", "x" * 10_000):
        with pytest.raises(UrlRejected):
            await svc.create(url)
    assert await svc.list() == []


async def test_limits(db: Database, tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, max_active_per_user=2, max_queue_length=3)
    svc = JobService(db, settings, EventBus())
    await svc.create("http://127.0.0.1:9/1.mp4", user_id=1)
    await svc.create("http://127.0.0.1:9/2.mp4", user_id=1)
    with pytest.raises(LimitExceeded, match="active jobs"):
        await svc.create("http://127.0.0.1:9/3.mp4", user_id=1)
    await svc.create("http://127.0.0.1:9/4.mp4", user_id=2)
    with pytest.raises(LimitExceeded, match="queue is full"):
        await svc.create("http://127.0.0.1:9/5.mp4", user_id=3)


async def test_transition_is_compare_and_set(db: Database, svc: JobService) -> None:
    job = (await svc.create("http://127.0.0.1:9/a.mp4")).job
    async with db.session() as session:
        assert await transition(session, job.id, S.PENDING, S.QUEUED)
    async with db.session() as session:
        # lost: the job is no longer PENDING
        assert not await transition(session, job.id, S.PENDING, S.QUEUED)
    with pytest.raises(InvalidTransition):
        async with db.session() as session:
            await transition(session, job.id, S.QUEUED, S.COMPLETED)
    assert (await svc.get(job.id)).status == S.QUEUED
    changes = [e for e in await svc.events(job.id) if e.event_type == "STATUS_CHANGED"]
    assert [(e.data or {})["to"] for e in changes] == ["QUEUED"]


async def test_pool_runs_jobs_and_completes_them(
    db: Database, settings: Settings, svc: JobService
) -> None:
    runner = ScriptedRunner()
    pool = WorkerPool(db, settings, runner, svc.bus)
    await pool.start()
    try:
        ids = [(await svc.create(f"http://127.0.0.1:9/{i}.mp4")).job.id for i in range(6)]
        for jid in ids:
            job = await wait_status(svc, jid, S.COMPLETED)
            assert job.file_size == 123 and job.worker_id is None
    finally:
        await pool.stop()
    assert all(runner.runs[j] == 1 for j in ids)
    statuses = [
        (e.data or {}).get("to")
        for e in await svc.events(ids[0])
        if e.event_type == "STATUS_CHANGED"
    ]
    assert statuses == ["QUEUED", "RUNNING", "COMPLETED"]


async def test_many_pools_never_run_a_job_twice(
    db: Database, settings: Settings, svc: JobService
) -> None:
    runner = ScriptedRunner()
    runner.delay = 0.01
    pools = [WorkerPool(db, settings, runner, EventBus(), concurrency=3) for _ in range(4)]
    ids = [(await svc.create(f"http://127.0.0.1:9/m{i}.mp4")).job.id for i in range(60)]
    for pool in pools:
        await pool.start()
    try:
        for jid in ids:
            await wait_status(svc, jid, S.COMPLETED, timeout=60)
    finally:
        for pool in pools:
            await pool.stop()
    assert sorted(runner.runs) == sorted(ids)
    assert set(runner.runs.values()) == {1}


async def test_retryable_error_is_retried_then_succeeds(
    db: Database, settings: Settings, svc: JobService
) -> None:
    runner = ScriptedRunner()
    url = "http://127.0.0.1:9/flaky.mp4"
    runner.fail_with[url] = [NetworkError("reset"), RateLimited("slow down", retry_after=0.1)]
    pool = WorkerPool(db, settings, runner, svc.bus)
    await pool.start()
    try:
        job = (await svc.create(url)).job
        done = await wait_status(svc, job.id, S.COMPLETED)
    finally:
        await pool.stop()
    assert runner.runs[job.id] == 3
    assert done.attempts == 2
    reasons = [(e.data or {}).get("reason") for e in await svc.events(job.id)]
    assert reasons.count("retry scheduled") == 2


async def test_final_error_fails_at_once_with_type(
    db: Database, settings: Settings, svc: JobService
) -> None:
    runner = ScriptedRunner()
    url = "http://127.0.0.1:9/private.mp4"
    runner.fail_with[url] = [AuthError("Private video")]
    pool = WorkerPool(db, settings, runner, svc.bus)
    await pool.start()
    try:
        job = (await svc.create(url)).job
        failed = await wait_status(svc, job.id, S.FAILED)
    finally:
        await pool.stop()
    assert runner.runs[job.id] == 1
    assert failed.error_type == "AUTH_ERROR" and failed.error_message == "Private video"
    # manual retry puts it back
    again = await svc.retry(job.id)
    assert again.status == S.PENDING and again.attempts == 0


async def test_attempts_run_out(db: Database, tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, max_attempts=2)
    svc = JobService(db, settings, EventBus())
    runner = ScriptedRunner()
    url = "http://127.0.0.1:9/down.mp4"
    runner.fail_with[url] = [NetworkError("a"), NetworkError("b"), NetworkError("c")]
    pool = WorkerPool(db, settings, runner, svc.bus)
    await pool.start()
    try:
        job = (await svc.create(url)).job
        failed = await wait_status(svc, job.id, S.FAILED)
    finally:
        await pool.stop()
    assert runner.runs[job.id] == 2 and failed.error_type == "NETWORK_ERROR"


async def test_cancel_running_job_within_two_seconds(
    db: Database, settings: Settings, svc: JobService
) -> None:
    runner = ScriptedRunner()
    url = "http://127.0.0.1:9/long.mp4"
    runner.hold[url] = asyncio.Event()
    pool = WorkerPool(db, settings, runner, svc.bus)
    await pool.start()
    try:
        job = (await svc.create(url)).job
        await asyncio.wait_for(runner.started_event(job.id).wait(), 10)
        t0 = time.monotonic()
        await svc.cancel(job.id)
        cancelled = await wait_status(svc, job.id, S.CANCELLED, timeout=2)
        assert time.monotonic() - t0 < 2
    finally:
        await pool.stop()
    assert cancelled.error_type == "CANCELLED"
    assert runner.cleaned == [job.id]


async def test_cancel_from_another_process_is_seen_through_the_database(
    db: Database, settings: Settings, svc: JobService
) -> None:
    runner = ScriptedRunner()
    url = "http://127.0.0.1:9/long2.mp4"
    runner.hold[url] = asyncio.Event()
    pool = WorkerPool(db, settings, runner, EventBus())  # its own bus: no in-process signal
    await pool.start()
    try:
        job = (await svc.create(url)).job
        await asyncio.wait_for(runner.started_event(job.id).wait(), 10)
        t0 = time.monotonic()
        await svc.cancel(job.id)
        await wait_status(svc, job.id, S.CANCELLED, timeout=2)
        assert time.monotonic() - t0 < 2
    finally:
        await pool.stop()


async def test_cancel_waiting_job_and_refuse_finished(svc: JobService) -> None:
    job = (await svc.create("http://127.0.0.1:9/w.mp4")).job
    assert (await svc.cancel(job.id)).status == S.CANCELLED
    with pytest.raises(InvalidTransition, match="already cancelled"):
        await svc.cancel(job.id)


async def test_graceful_shutdown_requeues_running_jobs(
    db: Database, settings: Settings, svc: JobService
) -> None:
    runner = ScriptedRunner()
    url = "http://127.0.0.1:9/slow.mp4"
    runner.hold[url] = asyncio.Event()
    pool = WorkerPool(db, settings, runner, svc.bus)
    await pool.start()
    job = (await svc.create(url)).job
    await asyncio.wait_for(runner.started_event(job.id).wait(), 10)
    await pool.stop(grace=0.1)
    after = await svc.get(job.id)
    assert after.status == S.PENDING and after.attempts == 0 and after.worker_id is None
    # and a new pool finishes it
    runner.hold[url].set()
    pool2 = WorkerPool(db, settings, runner, svc.bus)
    await pool2.start()
    try:
        await wait_status(svc, job.id, S.COMPLETED)
    finally:
        await pool2.stop()


async def test_stale_running_job_is_recovered(db: Database, svc: JobService) -> None:
    job = (await svc.create("http://127.0.0.1:9/s.mp4")).job
    async with db.session() as session:
        await transition(session, job.id, S.PENDING, S.QUEUED)
        await transition(session, job.id, S.QUEUED, S.RUNNING, worker_id="ghost-worker")
    assert await recover_stale(db, stale_after_s=60) == 1
    recovered = await svc.get(job.id)
    assert recovered.status == S.PENDING and recovered.attempts == 1
    assert recovered.error_type == "STALE"


async def test_pause_stops_claiming_and_resume_restarts(
    db: Database, settings: Settings, svc: JobService
) -> None:
    runner = ScriptedRunner()
    pool = WorkerPool(db, settings, runner, svc.bus)
    await svc.pause()
    await pool.start()
    try:
        job = (await svc.create("http://127.0.0.1:9/p.mp4")).job
        await asyncio.sleep(0.5)
        assert (await svc.get(job.id)).status in (S.PENDING, S.QUEUED)
        await svc.resume()
        await wait_status(svc, job.id, S.COMPLETED)
    finally:
        await pool.stop()


async def test_new_job_wakes_idle_worker_at_once(
    db: Database, settings: Settings, svc: JobService
) -> None:
    settings.poll_s = 30  # the safety poll must not be what starts the job
    runner = ScriptedRunner()
    pool = WorkerPool(db, settings, runner, svc.bus)
    await pool.start()
    try:
        await asyncio.sleep(0.2)
        job = (await svc.create("http://127.0.0.1:9/fast.mp4")).job
        # started long before the poll would have (30 s): the new job rang the doorbell
        # (no tighter bound: a busy shared machine may take a second to commit and claim)
        await asyncio.wait_for(runner.started_event(job.id).wait(), settings.poll_s / 6)
    finally:
        await pool.stop()


async def test_progress_is_persisted_and_throttled(
    db: Database, settings: Settings, svc: JobService
) -> None:
    runner = ScriptedRunner()
    url = "http://127.0.0.1:9/prog.mp4"
    runner.hold[url] = asyncio.Event()
    pool = WorkerPool(db, settings, runner, svc.bus)
    await pool.start()
    try:
        job = (await svc.create(url)).job
        deadline = time.monotonic() + 5
        while (await svc.get(job.id)).bytes_done == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        current = await svc.get(job.id)
        assert current.bytes_total == 10_000_000
        runner.hold[url].set()
        await wait_status(svc, job.id, S.COMPLETED)
    finally:
        await pool.stop()


async def test_clear_finished(db: Database, svc: JobService) -> None:
    a = (await svc.create("http://127.0.0.1:9/c1.mp4")).job
    await svc.create("http://127.0.0.1:9/c2.mp4")
    await svc.cancel(a.id)
    assert await svc.clear_finished() == 1
    async with db.session() as session:
        left = (await session.execute(select(Job.id))).scalars().all()
        events = (await session.execute(select(JobEvent).where(JobEvent.job_id == a.id))).all()
    assert len(left) == 1 and events == []


async def test_rate_limited_domain_cools_down(
    db: Database, settings: Settings, svc: JobService
) -> None:
    runner = ScriptedRunner()
    url = "http://ratelimited.example/a.mp4"
    runner.fail_with[url] = [RateLimited("429", retry_after=1.5)]
    settings.allow_private_networks = True
    pool = WorkerPool(db, settings, runner, svc.bus)
    await pool.start()
    try:
        first = (await svc.create(url)).job
        await asyncio.wait_for(runner.started_event(first.id).wait(), 10)
        await wait_status(svc, first.id, S.PENDING, S.QUEUED)
        other = (await svc.create("http://ratelimited.example/b.mp4")).job
        elsewhere = (await svc.create("http://fine.example/c.mp4")).job
        await wait_status(svc, elsewhere.id, S.COMPLETED)
        # same site: held back while the cool-down lasts, then run
        assert (await svc.get(other.id)).status in (S.PENDING, S.QUEUED)
        done = await wait_status(svc, other.id, S.COMPLETED, timeout=15)
        limited_at = next(
            e.created_at
            for e in await svc.events(first.id)
            if (e.data or {}).get("reason") == "retry scheduled"
        )
        assert done.started_at is not None
        assert (done.started_at - limited_at).total_seconds() >= 1.0
        await wait_status(svc, first.id, S.COMPLETED, timeout=15)
    finally:
        await pool.stop()


async def test_low_disk_holds_new_jobs_and_resumes_by_itself(
    db: Database, settings: Settings, svc: JobService
) -> None:
    from mediaferry.files.disk import DiskGuard

    settings.min_free_gb = 10_000_000  # more than any disk has
    runner = ScriptedRunner()
    pool = WorkerPool(db, settings, runner, svc.bus, disk_guard=DiskGuard(settings))
    await pool.start()
    try:
        job = (await svc.create("http://127.0.0.1:9/disk.mp4")).job
        await asyncio.sleep(1.5)
        held = await svc.get(job.id)
        assert held.status in (S.PENDING, S.QUEUED) and runner.runs[job.id] == 0
        settings.min_free_gb = 0  # space is back
        await wait_status(svc, job.id, S.COMPLETED, timeout=10)
    finally:
        await pool.stop()


async def test_events_cross_processes_sharing_sqlite(
    db: Database, settings: Settings, svc: JobService
) -> None:
    """A bus in another process (here: another EventBus) sees status and progress."""
    if db.is_postgres:
        pytest.skip("PostgreSQL carries events with LISTEN/NOTIFY; covered by the CLI tests")
    worker_bus, watcher_bus = EventBus(), EventBus(origin="elsewhere")
    await worker_bus.start(settings.database_url, sqlite_watch_s=0.05)
    await watcher_bus.start(settings.database_url, sqlite_watch_s=0.05)
    sub = watcher_bus.subscribe()
    runner = ScriptedRunner()
    url = "http://127.0.0.1:9/elsewhere.mp4"
    runner.hold[url] = asyncio.Event()
    pool = WorkerPool(db, settings, runner, worker_bus)
    await pool.start()
    try:
        job = (await JobService(db, settings, worker_bus).create(url)).job
        seen: list[tuple[str, object]] = []

        async def until(predicate: object) -> None:
            while True:
                event = await asyncio.wait_for(sub.get(), 10)
                if event.job_id == job.id:
                    seen.append(
                        (event.kind, event.data.get("status") or event.data.get("bytes_done"))
                    )
                    if predicate(event):  # type: ignore[operator]
                        return

        await until(lambda e: e.kind == "progress" and e.data["bytes_done"] > 0)
        runner.hold[url].set()
        await until(lambda e: e.kind == "status" and e.data["status"] == "COMPLETED")
    finally:
        await pool.stop()
        sub.close()
        await worker_bus.close()
        await watcher_bus.close()
    kinds = [k for k, _ in seen]
    assert ("status", "RUNNING") in seen and "progress" in kinds
    assert kinds.index("progress") < len(kinds) - 1
    assert seen.count(("status", "COMPLETED")) == 1


async def test_per_source_limit_caps_running_jobs_of_that_source(
    db: Database, tmp_path: Path, db_url: str
) -> None:
    settings = make_settings(tmp_path, db_url, max_parallel_jobs=3, source_limits={"DIRECT": 1})
    svc = JobService(db, settings, EventBus())
    runner = ScriptedRunner()
    urls = [f"http://127.0.0.1:9/limited{i}.mp4" for i in range(3)]
    for url in urls:
        runner.hold[url] = asyncio.Event()
    torrent = "magnet:?xt=urn:btih:" + "a" * 40
    runner.hold[torrent] = asyncio.Event()
    pool = WorkerPool(db, settings, runner, svc.bus)
    await pool.start()
    try:
        ids = [(await svc.create(u)).job.id for u in urls]
        other = (await svc.create(torrent)).job
        await asyncio.wait_for(runner.started_event(other.id).wait(), 10)  # other sources run
        # one of the source's jobs runs; a while later it is still the only one
        starts = [asyncio.create_task(runner.started_event(j).wait()) for j in ids]
        try:
            await asyncio.wait(starts, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for start in starts:
                start.cancel()
        await asyncio.sleep(0.5)
        running = [j for j in ids if runner.runs[j]]
        assert len(running) == 1
        for url in urls:
            runner.hold[url].set()
        runner.hold[torrent].set()
        for jid in ids:
            await wait_status(svc, jid, S.COMPLETED)
    finally:
        await pool.stop()


async def test_debug_logging_for_one_job_reaches_every_worker(
    db: Database, settings: Settings, svc: JobService
) -> None:
    from mediaferry.logging import DEBUG_JOBS

    pool = WorkerPool(db, settings, ScriptedRunner(), EventBus())
    await pool.start()
    try:
        assert await svc.set_debug(77, True) == {77}
        DEBUG_JOBS.clear()  # as in another process, which only has the database
        deadline = time.monotonic() + 5
        while 77 not in DEBUG_JOBS:
            assert time.monotonic() < deadline, "the worker never picked it up"
            await asyncio.sleep(0.05)
        await svc.set_debug(77, False)
        assert 77 not in DEBUG_JOBS
    finally:
        await pool.stop()
        DEBUG_JOBS.clear()
