"""Claiming work and recovering stale jobs, safe across processes and hosts.

Claiming is a compare-and-set: on PostgreSQL the candidate row is locked with
``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on each other; on SQLite
every write transaction is ``BEGIN IMMEDIATE`` so claims are serialised.
"""

from __future__ import annotations

import logging
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.instrumentation import manager_of_class

from mediaferry.db.columns import JOB_COLUMNS
from mediaferry.db.engine import Database
from mediaferry.db.models import Job, WorkerRecord, utcnow
from mediaferry.db.raw import Row, RowReader, Tx
from mediaferry.jobs._proc import pid_alive
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.transition import claim_where, transition, transition_many

__all__ = [
    "JOB_ROWS",
    "claim_in",
    "claim_next",
    "cool_down",
    "detached_job",
    "heartbeat",
    "job_from_row",
    "promote_due",
    "recover_stale",
    "requeue_orphans",
]

log = logging.getLogger(__name__)
S = JobStatus


async def promote_due(tx: Tx, limit: int = 200) -> list[int]:
    """PENDING jobs whose ``not_before`` has passed become QUEUED."""
    rows = await tx.all(
        "SELECT id FROM jobs WHERE status = 'PENDING'"
        " AND (not_before IS NULL OR not_before <= :now)"
        " ORDER BY priority DESC, id LIMIT :limit",
        {"now": utcnow(), "limit": limit},
    )
    if not rows:
        return []
    return await transition_many(tx, [int(r[0]) for r in rows], S.PENDING, S.QUEUED, reason="due")


JOB_ROWS = RowReader(JOB_COLUMNS)
configure_mappers()  # detached_job's attribute access needs them; a first query would do it


def detached_job(values: dict[str, Any]) -> Job:
    """A Job holding ``values``, outside any session, as the ORM's loader builds one
    (without the per-attribute events of ``Job(**values)``, a tenth of a claim)."""
    job: Job = manager_of_class(Job).new_instance()
    job.__dict__.update(values)
    return job


def job_from_row(row: Row, *, postgres: bool) -> Job:
    """A detached Job from a row of all its columns in table order."""
    return detached_job(JOB_ROWS.values(row, postgres=postgres))


# Among the next FAIR_WINDOW jobs in queue order (an index scan, whatever the backlog):
# the highest priority first; within it, a job of someone with nothing running yet
# before another of someone already served (one user's 50 links do not hold every
# worker while others wait), then the oldest. Only the row taken is locked.
FAIR_WINDOW = 64
_FAIR_ORDER = (
    "priority DESC,"
    " CASE WHEN user_id IN (SELECT r.user_id FROM jobs r"
    " WHERE r.status = 'RUNNING' AND r.user_id IS NOT NULL) THEN 1 ELSE 0 END,"
    " id"
)


async def claim_next(
    db: Database,
    worker_id: str,
    source_limits: dict[str, int] | None = None,
    *,
    only: set[int] | None = None,
) -> Job | None:
    """Promote due jobs, then take the best QUEUED job for ``worker_id``."""
    async with db.tx() as tx:
        return await claim_in(tx, worker_id, source_limits, only=only)


async def claim_in(
    tx: Tx,
    worker_id: str,
    source_limits: dict[str, int] | None = None,
    *,
    only: set[int] | None = None,
) -> Job | None:
    """:func:`claim_next` inside an open transaction (a worker finishing one job takes
    the next in the same transaction).

    One statement picks and takes the job (``UPDATE … WHERE id = (SELECT … LIMIT 1)``,
    with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and returns its row; the status is
    written by :func:`~mediaferry.jobs.transition.claim_where`, the claim form of
    ``transition()``.
    """
    await promote_due(tx)
    now = utcnow()
    where = [
        "status = 'QUEUED'",
        "(domain IS NULL OR domain NOT IN"
        " (SELECT domain FROM domain_cooldowns WHERE until > :now))",
    ]
    if only is not None:
        where.append(f"id IN ({', '.join(str(int(i)) for i in only) or 'NULL'})")
    params: dict[str, Any] = {"now": now}
    if source_limits:
        running = await _running_by_source(tx)
        full = [st for st, cap in source_limits.items() if running.get(st, 0) >= cap]
        for n, st in enumerate(full):
            where.append(f"source_type != :full{n}")
            params[f"full{n}"] = st
    lock = " FOR UPDATE SKIP LOCKED" if tx.is_postgres else ""
    row = await claim_where(
        tx,
        f"SELECT id FROM jobs WHERE id IN (SELECT id FROM jobs WHERE {' AND '.join(where)}"
        f" ORDER BY priority DESC, id LIMIT {FAIR_WINDOW}) ORDER BY {_FAIR_ORDER} LIMIT 1{lock}",
        params,
        returning=JOB_ROWS.select_list,
        event_data={"worker_id": worker_id},
        updated_at=now,
        worker_id=worker_id,
        started_at=now,
        heartbeat_at=now,
        not_before=None,
    )
    if row is None:
        return None
    job = job_from_row(row, postgres=tx.is_postgres)
    return job


async def _running_by_source(tx: Tx) -> dict[str, int]:
    rows = await tx.all(
        "SELECT source_type, count(*) FROM jobs WHERE status = 'RUNNING' GROUP BY source_type"
    )
    return {str(st): int(n) for st, n in rows}


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
            and (w.heartbeat_at < cutoff or (w.hostname == host and not pid_alive(w.pid)))
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


async def requeue_orphans(
    db: Database, worker_id: str, running: set[int], *, quiet_for_s: float
) -> int:
    """Hand back to the queue the RUNNING jobs this worker owns but no longer runs.

    Stale recovery leaves a worker's own jobs alone (its heartbeat is fresh), so a job
    whose end could not be written (the database went away) would otherwise stay
    RUNNING for good with a single process. ``quiet_for_s`` keeps a job that was just
    claimed (not yet launched) out: running jobs have their heartbeat refreshed.
    No attempt is spent: the job did not fail.
    """
    cutoff = utcnow() - timedelta(seconds=quiet_for_s)
    async with db.tx() as tx:
        rows = await tx.all(
            "SELECT id FROM jobs WHERE status = 'RUNNING' AND worker_id = :worker"
            " AND (heartbeat_at IS NULL OR heartbeat_at < :cutoff)",
            {"worker": worker_id, "cutoff": cutoff},
        )
        orphans = [int(r[0]) for r in rows if int(r[0]) not in running]
        if not orphans:
            return 0
        moved = await transition_many(
            tx,
            orphans,
            S.RUNNING,
            S.PENDING,
            reason="orphaned by its worker; re-queued",
            worker_id=None,
            not_before=None,
        )
    if moved:
        log.warning("re-queued %d job(s) this worker had lost track of", len(moved))
    return len(moved)


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


async def cool_down(tx: Tx, domain: str, seconds: float) -> None:
    """Hold back every job of ``domain`` for ``seconds`` (after a RATE_LIMIT)."""
    await tx.run(
        "INSERT INTO domain_cooldowns (domain, until) VALUES (:domain, :until)"
        " ON CONFLICT (domain) DO UPDATE SET until = excluded.until"
        " WHERE domain_cooldowns.until < excluded.until",
        {"domain": domain, "until": utcnow() + timedelta(seconds=seconds)},
    )


async def heartbeat(db: Database, worker_id: str, running: list[int]) -> None:
    now = utcnow()
    async with db.tx() as tx:
        await tx.run(
            "UPDATE workers SET heartbeat_at = :now, running = :n WHERE id = :id",
            {"now": now, "n": len(running), "id": worker_id},
        )
        if running:
            ids = ", ".join(str(int(i)) for i in running)
            await tx.run(
                f"UPDATE jobs SET heartbeat_at = :now WHERE id IN ({ids}) AND worker_id = :id",
                {"now": now, "id": worker_id},
            )
