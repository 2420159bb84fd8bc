"""The one function that changes a job's status (DESIGN.md §4).

``transition()`` is a compare-and-set in SQL (``UPDATE … WHERE id = :id AND status = :from``)
that writes the STATUS_CHANGED event in the same transaction. Zero rows means the
transition was lost (someone else moved the job first): it is refused and logged.

These run on the hot path of every job, so they are plain SQL on a
:class:`~mediaferry.db.raw.Tx`; an ORM session is accepted too and shares its
transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediaferry.db.models import Job, utcnow
from mediaferry.db.raw import Tx, tx_of
from mediaferry.errors import InvalidTransition
from mediaferry.jobs._origin import PROCESS_ORIGIN
from mediaferry.jobs.states import JobStatus, is_allowed

__all__ = ["JOB_COLUMNS", "add_event", "transition", "transition_many", "update_job_sql"]

log = logging.getLogger(__name__)

JOB_COLUMNS = frozenset(c.name for c in Job.__table__.columns)
EVENT_SQL = (
    "INSERT INTO job_events (job_id, event_type, origin, data, created_at)"
    " VALUES (:job_id, :event_type, :origin, :data, :created_at)"
)
_UPDATE_SQL: dict[tuple[str, ...], str] = {}


def update_job_sql(columns: tuple[str, ...]) -> str:
    """``UPDATE jobs SET <column> = :<column>, …`` for known job columns (cached);
    the caller appends its WHERE clause."""
    sql = _UPDATE_SQL.get(columns)
    if sql is None:
        unknown = set(columns) - JOB_COLUMNS
        if unknown:
            raise ValueError(f"not job columns: {sorted(unknown)}")
        sets = ", ".join(f"{c} = :{c}" for c in columns)
        sql = _UPDATE_SQL[columns] = f"UPDATE jobs SET {sets}"
    return sql


async def add_event(
    target: Tx | AsyncSession,
    job_id: int,
    event_type: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Record a job event (and log it)."""
    tx = await tx_of(target)
    await tx.run(
        EVENT_SQL,
        {
            "job_id": job_id,
            "event_type": event_type,
            "origin": PROCESS_ORIGIN,
            "data": data,
            "created_at": utcnow(),
        },
    )
    log.info("job event %s", event_type, extra={"job_id": job_id, "event": data or {}})


def _check(src: JobStatus, dst: JobStatus, job_id: int | None, values: dict[str, Any]) -> None:
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


async def transition(
    target: Tx | AsyncSession,
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
    _check(src, dst, job_id, values)
    tx = await tx_of(target)
    params = {**values, "status": dst.value, "updated_at": utcnow()}
    sql = update_job_sql(tuple(params)) + " WHERE id = :_id AND status = :_src"
    params["_id"] = job_id
    params["_src"] = src.value
    if await tx.run(sql, params) != 1:
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
    await add_event(tx, job_id, "STATUS_CHANGED", data)
    return True


async def transition_many(
    target: Tx | AsyncSession,
    job_ids: list[int],
    src: JobStatus,
    dst: JobStatus,
    *,
    reason: str | None = None,
    **values: Any,
) -> list[int]:
    """Batch compare-and-set; returns the ids that actually moved (with their events)."""
    _check(src, dst, None, values)
    if not job_ids:
        return []
    tx = await tx_of(target)
    params = {**values, "status": dst.value, "updated_at": utcnow()}
    ids = ", ".join(str(int(i)) for i in job_ids)
    sql = update_job_sql(tuple(params)) + f" WHERE id IN ({ids}) AND status = :_src RETURNING id"
    params["_src"] = src.value
    moved = [int(row[0]) for row in await tx.all(sql, params)]
    if not moved:
        return moved
    data: dict[str, Any] = {"from": src.value, "to": dst.value}
    if reason:
        data["reason"] = reason
    await tx.many(
        EVENT_SQL,
        [
            {
                "job_id": jid,
                "event_type": "STATUS_CHANGED",
                "origin": PROCESS_ORIGIN,
                "data": data,
                "created_at": params["updated_at"],
            }
            for jid in moved
        ],
    )
    return moved
