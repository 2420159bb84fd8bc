"""The one place that changes a job's status (DESIGN.md §4).

``transition()`` is a compare-and-set in SQL (``UPDATE … WHERE id = :id AND status IN
(:allowed_from)``) that writes the STATUS_CHANGED event in the same transaction. Zero
rows means the transition was lost (someone else moved the job first): it is refused
and logged. ``src`` is one status, several, or None for every status the transition
table allows into ``dst``. :func:`transition_many` does the same for a batch and
:func:`claim_where` for "the job this sub-select picks" (claiming); no other module
writes ``status``.

These run on the hot path of every job, so they are plain SQL on a
:class:`~mediaferry.db.raw.Tx`; an ORM session is accepted too and shares its
transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from mediaferry.db.columns import JOB_COLUMNS as _COLUMNS
from mediaferry.db.columns import utcnow
from mediaferry.db.raw import Row, Tx, tx_of
from mediaferry.errors import InvalidTransition
from mediaferry.jobs._origin import PROCESS_ORIGIN
from mediaferry.jobs.states import JobStatus, allowed_from, is_allowed

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "JOB_COLUMNS",
    "add_event",
    "claim_where",
    "transition",
    "transition_many",
    "update_job_sql",
]

log = logging.getLogger(__name__)

JOB_COLUMNS = frozenset(name for name, _ in _COLUMNS)
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


Sources = JobStatus | Collection[JobStatus] | None


def _sources(src: Sources, dst: JobStatus) -> tuple[JobStatus, ...]:
    if src is None:
        return tuple(allowed_from(dst))
    if isinstance(src, JobStatus):
        return (src,)
    return tuple(sorted(set(src)))


def _check(
    sources: tuple[JobStatus, ...], dst: JobStatus, job_id: int | None, values: dict[str, Any]
) -> None:
    for src in sources:
        if not is_allowed(src, dst):
            log.error(
                "illegal transition refused: %s -> %s",
                src,
                dst,
                extra={"job_id": job_id, "from": str(src), "to": str(dst)},
            )
            raise InvalidTransition(f"a job cannot go from {src} to {dst}")
    if not sources:
        raise InvalidTransition(f"nothing may go to {dst}")
    if "status" in values:
        raise InvalidTransition("status is only set through transition()")


def _in(sources: tuple[JobStatus, ...], params: dict[str, Any]) -> str:
    """``status IN (:_s0, …)``, binding the statuses into ``params``."""
    names = []
    for n, status in enumerate(sources):
        params[f"_s{n}"] = status.value
        names.append(f":_s{n}")
    return f"status IN ({', '.join(names)})"


async def transition(
    target: Tx | AsyncSession,
    job_id: int,
    src: Sources,
    dst: JobStatus,
    *,
    reason: str | None = None,
    event_data: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move job ``job_id`` from ``src`` (one status, several, or None: any the table
    allows) to ``dst`` atomically; False if it was lost.

    ``values`` are other columns set in the same UPDATE (never ``status``).
    Raises :class:`InvalidTransition` for a pair the state machine forbids.
    """
    sources = _sources(src, dst)
    _check(sources, dst, job_id, values)
    tx = await tx_of(target)
    params = {**values, "status": dst.value, "updated_at": utcnow()}
    if len(sources) == 1:
        was: JobStatus | None = sources[0]
    else:
        # which of them it was, for the event: read under the row lock (SQLite's
        # transactions are already exclusive), so the UPDATE below cannot miss
        lock = " FOR UPDATE" if tx.is_postgres else ""
        row = await tx.one(f"SELECT status FROM jobs WHERE id = :id{lock}", {"id": job_id})
        was = JobStatus(str(row[0])) if row is not None and row[0] in sources else None
    moved = 0
    if was is not None:
        params["_id"] = job_id
        sql = update_job_sql(tuple(k for k in params if k != "_id"))
        moved = await tx.run(f"{sql} WHERE id = :_id AND {_in(sources, params)}", params)
    if moved != 1 or was is None:
        names = "|".join(s.value for s in sources)
        log.warning(
            "transition lost: %s -> %s (job is no longer %s)",
            names,
            dst,
            names,
            extra={"job_id": job_id, "from": names, "to": str(dst)},
        )
        return False
    data: dict[str, Any] = {"from": was.value, "to": dst.value}
    if reason:
        data["reason"] = reason
    if event_data:
        data.update(event_data)
    await add_event(tx, job_id, "STATUS_CHANGED", data)
    return True


async def claim_where(
    tx: Tx,
    pick: str,
    params: dict[str, Any],
    *,
    returning: str,
    event_data: dict[str, Any] | None = None,
    **values: Any,
) -> Row | None:
    """QUEUED → RUNNING for the job whose id the sub-select ``pick`` yields (one
    statement: pick and take), returning its ``returning`` columns; None if there was
    none or another worker took it first."""
    _check((JobStatus.QUEUED,), JobStatus.RUNNING, None, values)
    sets = {"updated_at": utcnow(), **values, "status": JobStatus.RUNNING.value}
    all_params = {**params, **sets}
    sql = update_job_sql(tuple(sets))
    row = await tx.one(
        f"{sql} WHERE id = ({pick}) AND {_in((JobStatus.QUEUED,), all_params)}"
        f" RETURNING {returning}",
        all_params,
    )
    if row is None:
        return None
    data: dict[str, Any] = {"from": JobStatus.QUEUED.value, "to": JobStatus.RUNNING.value}
    if event_data:
        data.update(event_data)
    await add_event(tx, int(row[0]), "STATUS_CHANGED", data)
    return row


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
    _check((src,), dst, None, values)
    if not job_ids:
        return []
    tx = await tx_of(target)
    params = {**values, "status": dst.value, "updated_at": utcnow()}
    ids = ", ".join(str(int(i)) for i in job_ids)
    sql = update_job_sql(tuple(params))
    sql += f" WHERE id IN ({ids}) AND {_in((src,), params)} RETURNING id"
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
