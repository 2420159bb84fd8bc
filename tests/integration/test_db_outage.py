"""The job engine when its database goes away: SQLite on a full disk, and jobs a worker
lost track of. (PostgreSQL stopped for 30 s under ``mediaferry run`` is in
tests/e2e/test_db_outage.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.models import Job, utcnow
from mediaferry.errors import DatabaseUnavailable
from mediaferry.jobs.bus import EventBus
from mediaferry.jobs.control import JobControl, RunResult
from mediaferry.jobs.service import JobService
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.transition import transition
from mediaferry.jobs.worker import WorkerPool
from tests.support.db_fixtures import make_settings
from tests.support.tmpfs import small_tmpfs

S = JobStatus


class HeldRunner:
    """Runs each job until the test lets go, then completes it; counts runs."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: set[int] = set()
        self.runs: dict[int, int] = {}

    async def run(self, job: Job, ctl: JobControl) -> RunResult:
        self.runs[job.id] = self.runs.get(job.id, 0) + 1
        self.started.add(job.id)
        await self.release.wait()
        return RunResult(file_path=f"/tmp/{job.id}.bin", file_size=1)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of its own (root only), so filling it harms nothing else."""
    with small_tmpfs(tmp_path / "small", "4m") as mount:
        yield mount


def _fill(path: Path) -> None:
    """Write until the file system says it is full."""
    chunk = b"\0" * 65536
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # the last partial chunk may fit byte by byte; take that space too
    with path.open("ab", buffering=0) as f, contextlib.suppress(OSError):
        for _ in range(65536):
            f.write(b"\0")
            f.flush()


async def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_sqlite_full_disk_is_a_clear_error_and_work_resumes(
    tmp_path: Path, small_disk: Path
) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{small_disk / 'mf.db'}")
    db = Database(settings.database_url)
    await db.upgrade()
    bus = EventBus()
    svc = JobService(db, settings, bus)
    runner = HeldRunner()
    pool = WorkerPool(db, settings, runner, bus, concurrency=3)
    await pool.start()
    filler = small_disk / "filler"
    try:
        ids = [(await svc.create(f"http://127.0.0.1:9/{n}.mp4")).job.id for n in range(3)]

        async def all_started() -> bool:
            return set(ids) <= runner.started

        await _wait(all_started, 20, "the jobs to start")
        _fill(filler)
        with pytest.raises(DatabaseUnavailable) as refused:
            await svc.create("http://127.0.0.1:9/while-full.mp4")
        assert "disk is full" in refused.value.message
        runner.release.set()  # the jobs end while nothing can be written
        await asyncio.sleep(1.5)
        assert all(job_id in pool.running for job_id in ids)  # remembered, not dropped
        filler.unlink()  # space is back

        async def all_completed() -> bool:
            jobs = [await svc.get(i) for i in ids]
            return all(j.status == S.COMPLETED for j in jobs)

        await _wait(all_completed, 30, "the jobs to complete once space returned")
        for job_id in ids:
            assert runner.runs[job_id] == 1
            completed = [
                e
                for e in await svc.events(job_id)
                if e.event_type == "STATUS_CHANGED" and (e.data or {}).get("to") == "COMPLETED"
            ]
            assert len(completed) == 1
        job = (await svc.create("http://127.0.0.1:9/after.mp4")).job
        assert job.status in (S.PENDING, S.QUEUED, S.RUNNING)
    finally:
        runner.release.set()
        await pool.stop()
        await db.close()
    with sqlite3.connect(small_disk / "mf.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_a_worker_requeues_jobs_it_lost_track_of(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    settings = make_settings(tmp_path, db_url, stale_after_s=2)
    db = Database(settings.database_url)
    await db.upgrade()
    bus = EventBus()
    svc = JobService(db, settings, bus)
    runner = HeldRunner()
    runner.release.set()
    pool = WorkerPool(db, settings, runner, bus, concurrency=1)
    await pool.start(claim=False)  # housekeeping only: nothing claims the job itself
    try:
        job_id = (await svc.create("http://127.0.0.1:9/orphan.mp4")).job.id
        async with db.tx() as tx:
            await transition(tx, job_id, S.PENDING, S.QUEUED)
            await transition(
                tx,
                job_id,
                S.QUEUED,
                S.RUNNING,
                worker_id=pool.worker_id,
                heartbeat_at=utcnow() - timedelta(seconds=60),
            )

        async def requeued() -> bool:
            return (await svc.get(job_id)).status in (S.PENDING, S.QUEUED)

        await _wait(requeued, 15, "the orphaned job to be re-queued")
        job = await svc.get(job_id)
        assert job.attempts == 0 and job.worker_id is None
        reasons = [(e.data or {}).get("reason") for e in await svc.events(job_id)]
        assert "orphaned by its worker; re-queued" in reasons
    finally:
        await pool.stop()
        await db.close()
