"""The whole service (``Services``) and a worker pool on the test's database, and a
helper that waits for a job to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediaferry.app import Services
from mediaferry.db.models import Job
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.worker import WorkerPool
from tests.support.db_fixtures import make_settings, migrated

__all__ = ["pool", "services", "wait_done"]

_ENDED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@pytest.fixture
async def services(tmp_path: Path, db_url: str) -> AsyncIterator[Services]:
    svc = await Services.create(make_settings(tmp_path, migrated(db_url)))
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def pool(services: Services) -> AsyncIterator[WorkerPool]:
    workers = services.worker_pool(concurrency=2)
    await workers.start()
    try:
        yield workers
    finally:
        await workers.stop()


async def wait_done(services: Services, job_id: int, timeout: float = 90) -> Job:
    """The job once it is COMPLETED, FAILED or CANCELLED (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        job = await services.jobs.get(job_id)
        if job.status in _ENDED:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job.status} ({job.stage})")
        await asyncio.sleep(0.05)
