"""The one function that changes a job's status (DESIGN.md §4).

``transition()`` is a compare-and-set in SQL (``UPDATE … WHERE id = :id AND status = :from``)
that writes the STATUS_CHANGED event in the same transaction. Zero rows means the
transition was lost (someone else moved the job first): it is refused and logged.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediaferry.db.models import Job, JobEvent, utcnow
from mediaferry.errors import InvalidTransition
from mediaferry.jobs._origin import PROCESS_ORIGIN
from mediaferry.jobs.states import JobStatus, is_allowed

__all__ = ["add_event", "transition", "transition_many"]

log = logging.getLogger(__name__)


async def add_event(
    session: AsyncSession, job_id: int, event_type: str, data: dict[str, Any] | None = None
) -> None:
    """Record a job event (and log it)."""
    await session.execute(
        insert(JobEvent).values(
            job_id=job_id,
            event_type=event_type,
            data=data,
            created_at=utcnow(),
            origin=PROCESS_ORIGIN,
        )
    )
    log.info("job event %s", event_type, extra={"job_id": job_id, "event": data or {}})


async def transition(
    session: AsyncSession,
    job_id: int,
    src: JobStatus,
    dst: JobStatus,
    *,
    reason: str | None = None,
    event_data: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move job ``job_id`` from ``src`` to ``dst`` atomically; False if it was lost.

    ``values`` are other columns set in the same UPDATE (never ``status``).
    Raises :class:`InvalidTransition` for a pair the state machine forbids.
    """
    if not is_allowed(src, dst):
        log.error(
            "illegal transition refused: %s -> %s",
            src,
            dst,
            extra={"job_id": job_id, "from": str(src), "to": str(dst)},
        )
        raise InvalidTransition(f"a job cannot go from {src} to {dst}")
    if "status" in values:
        raise InvalidTransition("status is only set through transition()")
    now = utcnow()
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == src.value)
        .values(status=dst.value, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        log.warning(
            "transition lost: %s -> %s (job is no longer %s)",
            src,
            dst,
            src,
            extra={"job_id": job_id, "from": str(src), "to": str(dst)},
        )
        return False
    data: dict[str, Any] = {"from": src.value, "to": dst.value}
    if reason:
        data["reason"] = reason
    if event_data:
        data.update(event_data)
    await add_event(session, job_id, "STATUS_CHANGED", data)
    return True


async def transition_many(
    session: AsyncSession,
    job_ids: list[int],
    src: JobStatus,
    dst: JobStatus,
    *,
    reason: str | None = None,
    **values: Any,
) -> list[int]:
    """Batch compare-and-set; returns the ids that actually moved (with their events)."""
    if not is_allowed(src, dst):
        raise InvalidTransition(f"a job cannot go from {src} to {dst}")
    if not job_ids:
        return []
    now = utcnow()
    result = await session.execute(
        update(Job)
        .where(Job.id.in_(job_ids), Job.status == src.value)
        .values(status=dst.value, updated_at=now, **values)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    moved = [int(row[0]) for row in result.all()]
    if moved:
        data: dict[str, Any] = {"from": src.value, "to": dst.value}
        if reason:
            data["reason"] = reason
        await session.execute(
            insert(JobEvent),
            [
                {
                    "job_id": jid,
                    "event_type": "STATUS_CHANGED",
                    "data": data,
                    "created_at": now,
                    "origin": PROCESS_ORIGIN,
                }
                for jid in moved
            ],
        )
    return moved
