"""Claiming work and recovering stale jobs, safe across processes and hosts.

Claiming is a compare-and-set: on PostgreSQL the candidate row is locked with
``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on each other; on SQLite
every write transaction is ``BEGIN IMMEDIATE`` so claims are serialised.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediaferry.db.engine import Database
from mediaferry.db.models import DomainCooldown, Job, WorkerRecord, utcnow
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.transition import transition, transition_many

__all__ = ["claim_next", "cool_down", "heartbeat", "promote_due", "recover_stale"]

log = logging.getLogger(__name__)
S = JobStatus


async def promote_due(session: AsyncSession, limit: int = 200) -> list[int]:
    """PENDING jobs whose ``not_before`` has passed become QUEUED."""
    now = utcnow()
    ids = (
        (
            await session.execute(
                select(Job.id)
                .where(
                    Job.status == S.PENDING.value,
                    or_(Job.not_before.is_(None), Job.not_before <= now),
                )
                .order_by(Job.priority.desc(), Job.id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    return await transition_many(session, list(ids), S.PENDING, S.QUEUED, reason="due")


async def _running_by_source(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Job.source_type, func.count())
        .where(Job.status == S.RUNNING.value)
        .group_by(Job.source_type)
    )
    return {st: int(n) for st, n in rows.all()}


async def claim_next(
    db: Database,
    worker_id: str,
    source_limits: dict[str, int] | None = None,
    *,
    only: set[int] | None = None,
) -> Job | None:
    """Promote due jobs, then take the best QUEUED job for ``worker_id``."""
    async with db.session() as session:
        await promote_due(session)
        query = (
            select(Job.id)
            .where(Job.status == S.QUEUED.value)
            .order_by(Job.priority.desc(), Job.id)
            .limit(1)
        )
        if only is not None:
            query = query.where(Job.id.in_(only))
        cooling = select(DomainCooldown.domain).where(DomainCooldown.until > utcnow())
        query = query.where(or_(Job.domain.is_(None), Job.domain.not_in(cooling)))
        if source_limits:
            running = await _running_by_source(session)
            full = [st for st, cap in source_limits.items() if running.get(st, 0) >= cap]
            if full:
                query = query.where(Job.source_type.not_in(full))
        if db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        job_id = await session.scalar(query)
        if job_id is None:
            return None
        return await _take(session, job_id, worker_id)


async def _take(session: AsyncSession, job_id: int, worker_id: str) -> Job | None:
    now = utcnow()
    ok = await transition(
        session,
        job_id,
        S.QUEUED,
        S.RUNNING,
        event_data={"worker_id": worker_id},
        worker_id=worker_id,
        started_at=now,
        heartbeat_at=now,
        not_before=None,
    )
    if not ok:
        return None
    job = await session.get(Job, job_id, populate_existing=True)
    return job


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def recover_stale(
    db: Database, stale_after_s: float, *, exclude_worker: str | None = None
) -> int:
    """Re-queue (or fail as STALE) RUNNING jobs whose worker is gone.

    A worker is gone when its heartbeat is older than ``stale_after_s``, when its row
    is missing, or when it ran on this host and its process no longer exists.
    """
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    host = socket.gethostname()
    recovered = 0
    async with db.session() as session:
        workers = (await session.execute(select(WorkerRecord))).scalars().all()
        dead = {
            w.id
            for w in workers
            if w.id != exclude_worker
            and (w.heartbeat_at < cutoff or (w.hostname == host and not _pid_alive(w.pid)))
        }
        live = {w.id for w in workers} - dead
        if dead:
            await session.execute(delete(WorkerRecord).where(WorkerRecord.id.in_(dead)))
        running = (
            (await session.execute(select(Job).where(Job.status == S.RUNNING.value)))
            .scalars()
            .all()
        )
        for job in running:
            if job.worker_id == exclude_worker:
                continue
            stale_beat = job.heartbeat_at is None or job.heartbeat_at < cutoff
            if job.worker_id in live and not stale_beat:
                continue
            recovered += await _recover_one(session, job)
    if recovered:
        log.warning("recovered %d stale job(s)", recovered)
    return recovered


async def _recover_one(session: AsyncSession, job: Job) -> int:
    if job.cancel_requested:
        ok = await transition(
            session,
            job.id,
            S.RUNNING,
            S.CANCELLED,
            reason="cancelled while its worker was gone",
            error_type="CANCELLED",
            error_message="Cancelled.",
            worker_id=None,
            finished_at=utcnow(),
        )
        return int(ok)
    attempts = job.attempts + 1
    if attempts < job.max_attempts:
        ok = await transition(
            session,
            job.id,
            S.RUNNING,
            S.PENDING,
            reason="stale: worker gone, re-queued",
            event_data={"worker_id": job.worker_id, "attempts": attempts},
            attempts=attempts,
            worker_id=None,
            not_before=None,
            error_type="STALE",
            error_message="The worker stopped; the job was re-queued.",
        )
    else:
        ok = await transition(
            session,
            job.id,
            S.RUNNING,
            S.FAILED,
            reason="stale: worker gone, no attempts left",
            attempts=attempts,
            worker_id=None,
            error_type="STALE",
            error_message="The job was interrupted too many times.",
            finished_at=utcnow(),
        )
    return int(ok)


async def cool_down(session: AsyncSession, domain: str, seconds: float) -> None:
    """Hold back every job of ``domain`` for ``seconds`` (after a RATE_LIMIT)."""
    until = utcnow() + timedelta(seconds=seconds)
    row = await session.get(DomainCooldown, domain)
    if row is None:
        session.add(DomainCooldown(domain=domain, until=until))
    elif row.until < until:
        row.until = until


async def heartbeat(db: Database, worker_id: str, running: list[int]) -> None:
    now = utcnow()
    async with db.session() as session:
        await session.execute(
            update(WorkerRecord)
            .where(WorkerRecord.id == worker_id)
            .values(heartbeat_at=now, running=len(running))
        )
        if running:
            await session.execute(
                update(Job)
                .where(Job.id.in_(running), Job.worker_id == worker_id)
                .values(heartbeat_at=now)
            )
