"""``transition()`` checks ``status IN (allowed_from)``; claiming and cancelling use it.

Real SQLite and PostgreSQL (the ``db`` fixture), real job rows.
"""

from __future__ import annotations

import pytest

from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.errors import InvalidTransition, JobNotFound
from mediaferry.jobs.bus import EventBus
from mediaferry.jobs.claim import claim_next
from mediaferry.jobs.service import JobService
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.transition import transition

S = JobStatus


@pytest.fixture
async def svc(db: Database, settings: Settings) -> JobService:
    return JobService(db, settings, EventBus())


async def status_changes(svc: JobService, job_id: int) -> list[tuple[str, str]]:
    return [
        ((e.data or {})["from"], (e.data or {})["to"])
        for e in await svc.events(job_id)
        if e.event_type == "STATUS_CHANGED"
    ]


async def test_a_set_of_sources_moves_from_whichever_the_job_is_in(
    db: Database, svc: JobService
) -> None:
    # PENDING -> QUEUED with the allowed set left to the table (None)
    other = (await svc.create("http://127.0.0.1:9/set2.mp4")).job
    async with db.tx() as tx:
        assert await transition(tx, other.id, None, S.QUEUED)
    async with db.tx() as tx:
        assert await transition(tx, other.id, {S.PENDING, S.QUEUED}, S.CANCELLED)
    async with db.tx() as tx:  # lost: CANCELLED is in neither
        assert not await transition(tx, other.id, {S.PENDING, S.QUEUED}, S.CANCELLED)
    assert await status_changes(svc, other.id) == [
        ("PENDING", "QUEUED"),
        ("QUEUED", "CANCELLED"),
    ]
    with pytest.raises(InvalidTransition):  # COMPLETED -> PENDING is not in the table
        async with db.tx() as tx:
            await transition(tx, other.id, {S.FAILED, S.COMPLETED}, S.PENDING)


async def test_claiming_goes_through_the_transition_and_records_it(
    db: Database, svc: JobService
) -> None:
    job = (await svc.create("http://127.0.0.1:9/claim.mp4")).job
    claimed = await claim_next(db, "w-test")
    assert claimed is not None and claimed.id == job.id
    assert claimed.status == S.RUNNING and claimed.worker_id == "w-test"
    assert await claim_next(db, "w-other") is None  # nothing left to take
    changes = [e for e in await svc.events(job.id) if e.event_type == "STATUS_CHANGED"]
    assert [((e.data or {})["from"], (e.data or {})["to"]) for e in changes] == [
        ("PENDING", "QUEUED"),
        ("QUEUED", "RUNNING"),
    ]
    assert (changes[-1].data or {})["worker_id"] == "w-test"


async def test_cancel_is_one_decision_for_waiting_running_and_foreign_jobs(
    db: Database, svc: JobService
) -> None:
    waiting = (await svc.create("http://127.0.0.1:9/c1.mp4", user_id=1)).job
    running = (await svc.create("http://127.0.0.1:9/c2.mp4", user_id=1)).job
    await claim_next(db, "w-test")  # takes the older one: ``waiting``
    await claim_next(db, "w-test")
    # both RUNNING now: cancel only flags them; a stranger cannot
    with pytest.raises(JobNotFound):
        await svc.cancel(running.id, user_id=2, admin=False)
    flagged = await svc.cancel(running.id, user_id=1, admin=False)
    assert flagged.status == S.RUNNING and flagged.cancel_requested
    queued = (await svc.create("http://127.0.0.1:9/c3.mp4", user_id=1)).job
    cancelled = await svc.cancel(queued.id)
    assert cancelled.status == S.CANCELLED and cancelled.error_type == "CANCELLED"
    assert waiting.id != running.id
    kinds = [e.event_type for e in await svc.events(running.id)]
    assert kinds.count("CANCEL_REQUESTED") == 1
