"""The plain-SQL hot path (``db.tx()``) on real SQLite and PostgreSQL.

What it writes must read back through the ORM exactly as if the ORM had written it,
a transaction must be all or nothing, and on SQLite waiting for another writer's
lock must not stop the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.models import DomainCooldown, Job, JobEvent
from mediaferry.jobs.bus import EventBus
from mediaferry.jobs.claim import claim_next, cool_down
from mediaferry.jobs.control import JobControl
from mediaferry.jobs.service import JobService
from mediaferry.jobs.states import JobStatus, Stage
from mediaferry.jobs.transition import transition
from mediaferry.transfer.base import Progress

S = JobStatus


async def test_rows_written_in_plain_sql_read_back_through_the_orm(
    db: Database, settings: Settings
) -> None:
    svc = JobService(db, settings, EventBus())
    created = (
        await svc.create(
            "http://127.0.0.1:9/a.mp4",
            user_id=7,
            chat_id=-100,
            archive=True,
            priority=5,
            playlist_items="1-3",
        )
    ).job
    async with db.session() as session:
        stored = await session.get(Job, created.id)
        assert stored is not None
        for column in Job.__table__.columns:
            assert getattr(stored, column.name) == getattr(created, column.name), column.name
        assert stored.created_at.tzinfo is not None
        assert stored.meta == {"playlist_items": "1-3"}
        assert stored.archive is True and stored.cancel_requested is False
        event = (
            await session.execute(select(JobEvent).where(JobEvent.job_id == created.id))
        ).scalar_one()
        assert event.event_type == "CREATED"
        assert event.data is not None and event.data["url"] == created.url
        assert abs(event.created_at - datetime.now(UTC)) < timedelta(minutes=1)

    claimed = await claim_next(db, "w-test")
    assert claimed is not None and claimed.id == created.id
    async with db.session() as session:
        again = await session.get(Job, created.id)
        assert again is not None
        for column in Job.__table__.columns:
            assert getattr(again, column.name) == getattr(claimed, column.name), column.name
        assert again.status == S.RUNNING and again.worker_id == "w-test"


async def test_claim_takes_the_highest_priority_then_the_oldest(
    db: Database, settings: Settings
) -> None:
    svc = JobService(db, settings, EventBus())
    low = (await svc.create("http://127.0.0.1:9/low.mp4", priority=-1)).job
    first = (await svc.create("http://127.0.0.1:9/first.mp4", priority=3)).job
    second = (await svc.create("http://127.0.0.1:9/second.mp4", priority=3)).job
    normal = (await svc.create("http://127.0.0.1:9/normal.mp4")).job
    order = []
    while (job := await claim_next(db, "w")) is not None:
        order.append(job.id)
    assert order == [first.id, second.id, normal.id, low.id]


async def test_claim_serves_someone_with_nothing_running_before_a_second_job_of_another(
    db: Database, settings: Settings
) -> None:
    """One user's burst does not hold every worker: within a priority, a job of a user
    with nothing running goes first; a user alone still gets every worker."""
    svc = JobService(db, settings, EventBus())
    a = [(await svc.create(f"http://127.0.0.1:9/a{i}.mp4", user_id=1)).job for i in range(3)]
    b = [(await svc.create(f"http://127.0.0.1:9/b{i}.mp4", user_id=2)).job for i in range(2)]
    anon = (await svc.create("http://127.0.0.1:9/anon.mp4")).job
    urgent = (await svc.create("http://127.0.0.1:9/a-urgent.mp4", user_id=1, priority=5)).job
    order = []
    while (job := await claim_next(db, "w")) is not None:
        order.append(job.id)
    # priority still wins; then user 2 (nothing running) before user 1's older jobs;
    # a job with no user is nobody's, so nobody is busy with it; once every user has
    # one running, the oldest
    assert order == [urgent.id, b[0].id, anon.id, a[0].id, a[1].id, a[2].id, b[1].id]


async def test_a_failed_transaction_leaves_nothing(db: Database, settings: Settings) -> None:
    svc = JobService(db, settings, EventBus())
    job = (await svc.create("http://127.0.0.1:9/b.mp4")).job
    with pytest.raises(RuntimeError):
        async with db.tx() as tx:
            assert await transition(tx, job.id, S.PENDING, S.QUEUED)
            raise RuntimeError("boom")
    assert (await svc.get(job.id)).status == S.PENDING
    events = await svc.events(job.id)
    assert [e.event_type for e in events] == ["CREATED"]


async def test_stage_progress_and_cooldown_writes(db: Database, settings: Settings) -> None:
    svc = JobService(db, settings, EventBus())
    job = (await svc.create("http://127.0.0.1:9/c.mp4")).job
    claimed = await claim_next(db, "w")
    assert claimed is not None
    ctl = JobControl(db, EventBus(), settings, claimed)
    await ctl.set_stage(Stage.DOWNLOAD)
    await ctl.save(final_title="Café ☕", meta={"k": [1, 2]})
    stored = await svc.get(job.id)
    assert stored.stage == Stage.DOWNLOAD.value
    assert stored.final_title == "Café ☕" and stored.meta == {"k": [1, 2]}
    assert "DOWNLOAD_STARTED" in [e.event_type for e in await svc.events(job.id)]
    with pytest.raises(ValueError, match="not job columns"):
        await ctl.save(no_such_column=1)

    async with db.tx() as tx:
        await cool_down(tx, "example.org", 60)
        await cool_down(tx, "example.org", 5)  # a shorter pause never shortens it
    async with db.session() as session:
        row = await session.get(DomainCooldown, "example.org")
        assert row is not None
        assert row.until - datetime.now(UTC) > timedelta(seconds=50)


async def test_sqlite_lock_wait_does_not_block_the_event_loop(
    db: Database, settings: Settings
) -> None:
    if db.is_postgres:
        pytest.skip("SQLite's write lock only")
    path = db.url.split("///", 1)[1]
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    tick_task = asyncio.create_task(ticker())
    svc = JobService(db, settings, EventBus())
    create = asyncio.create_task(svc.create("http://127.0.0.1:9/d.mp4"))
    await asyncio.sleep(0.5)
    assert not create.done()  # waiting for the lock …
    assert ticks >= 20  # … while the loop keeps running
    started = time.monotonic()
    other.execute("COMMIT")
    result = await asyncio.wait_for(create, 5)
    assert time.monotonic() - started < 0.5
    assert result.created
    tick_task.cancel()
    other.close()


async def test_a_wait_note_lasts_as_long_as_the_wait(db: Database, settings: Settings) -> None:
    """A flood wait on one part of a download is still the job's note while its other
    parts report progress ("Telegram asks to wait 30 s" stays until the 30 s are over)."""
    svc = JobService(db, settings, EventBus())
    job = (await svc.create("http://127.0.0.1:9/w.mp4")).job
    claimed = await claim_next(db, "w")
    assert claimed is not None
    bus = EventBus()
    seen = bus.subscribe(kinds=["progress"])
    ctl = JobControl(db, bus, settings, claimed)
    note = "Telegram asks to wait 30 s"
    ctl.progress(Progress(0, 100, None, 30.0, note))
    # the progress with its note goes out at once, and the WAITING event is written
    notes = [(await asyncio.wait_for(seen.get(), 10)).data["note"]]
    deadline = time.monotonic() + 10
    while not [e for e in await svc.events(job.id) if e.event_type == "WAITING"]:
        assert time.monotonic() < deadline, "no WAITING event"
        await asyncio.sleep(0.02)
    ctl.progress(Progress(60, 100, 1e6, 0.1))  # other parts moved on meanwhile
    await ctl.flush_progress()
    while not seen.queue.empty():
        notes.append(seen.queue.get_nowait().data["note"])
    assert notes == [note, note]
    waits = [e for e in await svc.events(job.id) if e.event_type == "WAITING"]
    assert [e.data for e in waits] == [{"message": note}]  # once, not per progress
    # a wait that is over: the next progress has no note
    ctl.progress(Progress(70, 100, None, 0.0, "Telegram asks to wait 0 s"))
    ctl.progress(Progress(80, 100, 1e6, 0.1))
    await ctl.flush_progress()
    last = None
    while not seen.queue.empty():
        last = seen.queue.get_nowait().data
    assert last is not None and last["bytes_done"] == 80 and last["note"] is None
    await ctl.close()
