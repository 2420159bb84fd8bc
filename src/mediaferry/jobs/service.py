"""The job service: what every interface (bot, CLI, REST) calls to work with jobs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.models import Job, JobEvent, SystemState, utcnow
from mediaferry.db.raw import Tx, tx_of
from mediaferry.db.waiters import Waiter, Waiters
from mediaferry.errors import (
    InvalidTransition,
    JobError,
    JobNotFound,
    UrlRejected,
)
from mediaferry.files.cleanup import CleanupReport, cleanup_tmp
from mediaferry.files.storage import Storage
from mediaferry.jobs._json import job_to_dict
from mediaferry.jobs.bus import EventBus
from mediaferry.jobs.claim import detached_job
from mediaferry.jobs.create import (
    QUALITIES,
    Created,
    Detector,
    create_job,
    detector_for,
    insert_job,
    job_key,
    normalize_quality,
    notify_in,
    type_and_quality,
)
from mediaferry.jobs.estimate import (
    ESTIMATE_JOB_TYPE,
    ESTIMATE_QUALITY,
    Describer,
    Estimate,
)
from mediaferry.jobs.states import ACTIVE_STATUSES, FINISHED_STATUSES, JobStatus
from mediaferry.jobs.stats import WorkerStats, worker_stats
from mediaferry.jobs.transition import add_event, transition, update_job_sql
from mediaferry.logging import DEBUG_JOBS
from mediaferry.plan import BOT_FILE_KEY, BotFile, JobRequest, MediaPlan, SourceType
from mediaferry.urls import check_url

if TYPE_CHECKING:
    from mediaferry.media.result import Processed

__all__ = [
    "QUALITIES",
    "CreateResult",
    "Detector",
    "JobService",
    "detector_for",
    "job_key",
    "job_to_dict",
    "normalize_quality",
]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CreateResult:
    job: Job
    created: bool  # False: an identical job already existed and is returned

    @property
    def deduplicated(self) -> bool:
        return not self.created

    @classmethod
    def of(cls, made: Created) -> CreateResult:
        return cls(detached_job(made.values), made.created)


def _default_detector(url: str) -> tuple[SourceType, str | None]:
    if url.lower().startswith("magnet:"):
        return SourceType.TORRENT, None
    return SourceType.DIRECT, None


class JobService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        bus: EventBus | None = None,
        detector: Detector | None = None,
        describer: Describer | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.bus = bus or EventBus()
        self.detector = detector or _default_detector
        self.describer = describer  # sources' describe (wired by app.py); None: no estimates
        self.waiters = Waiters(db)  # the one repository, shared with the Telegram deliverer

    # -- estimate ----------------------------------------------------------
    async def estimate(self, url: str, *, timeout: float = 5.0) -> Estimate:
        """Source type, size, duration and real qualities of a link, if found within
        ``timeout``; the plan comes back too, for :meth:`create` to keep on the job."""
        try:
            checked = check_url(
                url,
                allow_private=self.settings.allow_private_networks,
                max_length=self.settings.max_url_length,
            )
        except UrlRejected:
            return Estimate(SourceType.UNSUPPORTED)
        source_type, _ = self.detector(checked.url)
        if self.describer is None or source_type == SourceType.UNSUPPORTED:
            return Estimate(source_type)
        request = JobRequest(0, checked.url, ESTIMATE_JOB_TYPE, ESTIMATE_QUALITY)
        try:
            async with asyncio.timeout(timeout):
                plan = await self.describer(request, source_type)
        except (JobError, TimeoutError) as exc:
            log.debug("no estimate for the keyboard: %s", exc)
            return Estimate(source_type)
        except Exception:  # an estimate is optional: the keyboard works without one
            log.warning("estimate failed", exc_info=True)
            return Estimate(source_type)
        qualities = plan.extra.get("qualities")
        return Estimate(source_type, plan.size, plan.duration, qualities, plan)

    # -- create ----------------------------------------------------------
    async def create(
        self,
        url: str,
        *,
        job_type: str = "video",
        quality: str | None = "best",
        user_id: int | None = None,
        chat_id: int | None = None,
        message_id: int | None = None,
        priority: int = 0,
        archive: bool = False,
        origin: str = "cli",
        title: str | None = None,
        enforce_limits: bool = True,
        playlist_items: str | None = None,
        media_id: str | None = None,
        meta: dict[str, Any] | None = None,
        plan: MediaPlan | None = None,
    ) -> CreateResult:
        """Create a job, or return the identical active/completed one (dedup).

        Raises :class:`UrlRejected` for URLs the policy refuses and
        :class:`LimitExceeded` when a limit is reached. Never touches the network.
        ``media_id`` overrides the detected id (e.g. a Telegram document id, so the same
        file posted in two chats is one job); ``meta`` is saved on the job. ``plan`` is
        the description :meth:`estimate` returned: kept, so METADATA need not ask again.
        """
        made = await create_job(
            self.db,
            self.settings,
            self.detector,
            url,
            origin_tag=self.bus.origin,
            job_type=job_type,
            quality=quality,
            user_id=user_id,
            chat_id=chat_id,
            message_id=message_id,
            priority=priority,
            archive=archive,
            origin=origin,
            title=title,
            enforce_limits=enforce_limits,
            playlist_items=playlist_items,
            media_id=media_id,
            meta=meta,
            plan=plan,
        )
        return self._created(made)

    async def create_for_file(
        self,
        file: BotFile,
        *,
        job_type: str,
        quality: str,
        user_id: int | None,
        archive: bool,
        message_id: int | None = None,
        title: str | None = None,
        meta: dict[str, Any] | None = None,
        priority: int = 0,
    ) -> CreateResult:
        """A TELEGRAM job for a file sent or forwarded to the bot (issue 10), or the
        identical active/completed one: the same file (``file_unique_id``, the same in
        every chat) asked for the same way is one job. Only the bot calls this; the
        job's URL (``tg://bot/…``) is no link a user could send. Raises
        :class:`LimitExceeded` when a limit is reached."""
        jtype, qual = type_and_quality(job_type, quality, priority)
        media_id = f"tgfile:{file.file_unique_id}"
        key = job_key(SourceType.TELEGRAM.value, media_id, jtype, qual)
        asked = {
            "url": file.url,
            "normalized_url": file.url,
            "domain": None,
            "source_type": SourceType.TELEGRAM.value,
            "job_type": jtype,
            "requested_quality": qual,
            "media_id": media_id,
            "user_id": user_id,
            "chat_id": file.chat_id,
            "message_id": message_id if message_id is not None else file.message_id,
            "priority": priority,
            "archive": archive,
            "origin": "telegram",
            "title": title,
            "meta": {**(meta or {}), BOT_FILE_KEY: asdict(file)},
        }
        made = await insert_job(self.db, self.settings, key, asked, True, self.bus.origin)
        return self._created(made)

    def _created(self, made: Created) -> CreateResult:
        result = CreateResult.of(made)
        if made.created:
            self.bus.publish("created", result.job.id, remote=False)
        return result

    async def _notify_in(
        self, target: Tx | AsyncSession, kind: str, job_id: int, **data: Any
    ) -> None:
        """On PostgreSQL, NOTIFY inside the transaction (see :func:`notify_in`)."""
        if self.db.is_postgres:
            await notify_in(await tx_of(target), kind, job_id, self.bus.origin, **data)

    # -- read ------------------------------------------------------------
    async def get(self, job_id: int) -> Job:
        async with self.db.session() as session:
            job = await session.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"no job #{job_id}")
        return job

    async def events(self, job_id: int, limit: int = 500) -> list[JobEvent]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id).limit(limit)
            )
            return list(rows.scalars().all())

    async def list(
        self,
        *,
        status: str | Sequence[str] | None = None,
        user_id: int | None = None,
        chat_id: int | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[Job]:
        query = select(Job).order_by(Job.id.desc()).limit(max(1, min(limit, 1000)))
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            query = query.where(Job.status.in_([s.upper() for s in statuses]))
        if user_id is not None:
            query = query.where(Job.user_id == user_id)
        if chat_id is not None:
            query = query.where(Job.chat_id == chat_id)
        if before_id is not None:
            query = query.where(Job.id < before_id)
        async with self.db.session() as session:
            return list((await session.execute(query)).scalars().all())

    async def counts(self) -> dict[str, int]:
        async with self.db.session() as session:
            rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
            found = {status: n for status, n in rows.all()}
        return {s.value: int(found.get(s.value, 0)) for s in JobStatus}

    # -- control ---------------------------------------------------------
    async def cancel(self, job_id: int, *, user_id: int | None = None, admin: bool = True) -> Job:
        """Cancel a job: at once if waiting, within seconds if running.

        One transaction, no retry loop: the job's row is read under its lock (SQLite's
        write transactions are exclusive anyway), then one write — the waiting job's
        transition to CANCELLED, or the running job's ``cancel_requested`` flag, which
        its worker turns into CANCELLED once its files are cleaned up.
        """
        lock = " FOR UPDATE" if self.db.is_postgres else ""
        async with self.db.tx() as tx:
            row = await tx.one(
                f"SELECT status, user_id FROM jobs WHERE id = :id{lock}", {"id": job_id}
            )
            if row is None or (not admin and row[1] != user_id):
                raise JobNotFound(f"no job #{job_id}")
            status = JobStatus(str(row[0]))
            if status in FINISHED_STATUSES:
                raise InvalidTransition(f"job #{job_id} is already {status.value.lower()}")
            if status == JobStatus.RUNNING:
                kind = "cancel"
                await tx.run(
                    "UPDATE jobs SET cancel_requested = :yes, updated_at = :now"
                    " WHERE id = :id AND status = :running",
                    {"yes": True, "now": utcnow(), "id": job_id, "running": status.value},
                )
                await add_event(tx, job_id, "CANCEL_REQUESTED", {"by": user_id})
            else:
                kind = "status"
                moved = await transition(
                    tx,
                    job_id,
                    status,
                    JobStatus.CANCELLED,
                    reason="cancelled",
                    error_type="CANCELLED",
                    error_message="Cancelled.",
                    finished_at=utcnow(),
                )
                if not moved:  # the row is locked: only a bug gets here
                    raise InvalidTransition(f"job #{job_id} could not be cancelled")
            await self._notify_in(tx, kind, job_id, status=JobStatus.CANCELLED.value)
        self.bus.publish(kind, job_id, remote=False, status=JobStatus.CANCELLED.value)
        return await self.get(job_id)

    async def retry(self, job_id: int, *, user_id: int | None = None, admin: bool = True) -> Job:
        """Manual retry of a failed job (FAILED → PENDING)."""
        job = await self.get(job_id)
        if not admin and job.user_id != user_id:
            raise JobNotFound(f"no job #{job_id}")
        if job.status != JobStatus.FAILED:
            raise InvalidTransition(
                f"only failed jobs can be retried; job #{job_id} is {job.status.lower()}"
            )
        async with self.db.session() as session:
            ok = await transition(
                session,
                job_id,
                JobStatus.FAILED,
                JobStatus.PENDING,
                reason="manual retry",
                attempts=0,
                not_before=None,
                error_type=None,
                error_message=None,
                cancel_requested=False,
                finished_at=None,
            )
            if ok:
                await self._notify_in(session, "queued", job_id)
        if not ok:
            raise InvalidTransition(f"job #{job_id} changed meanwhile; try again")
        self.bus.publish("queued", job_id, remote=False)
        return await self.get(job_id)

    async def clear_finished(self, *, include_completed: bool = False) -> int:
        """Delete failed and cancelled jobs (and completed ones if asked)."""
        statuses = [JobStatus.FAILED.value, JobStatus.CANCELLED.value]
        if include_completed:
            statuses.append(JobStatus.COMPLETED.value)
        async with self.db.session() as session:
            ids = select(Job.id).where(Job.status.in_(statuses))
            await session.execute(delete(JobEvent).where(JobEvent.job_id.in_(ids)))
            result = await session.execute(delete(Job).where(Job.status.in_(statuses)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- system flags ------------------------------------------------------
    async def set_flag(self, key: str, value: bool) -> None:
        async with self.db.session() as session:
            row = await session.get(SystemState, key)
            if row is None:
                session.add(SystemState(key=key, value="1" if value else "0"))
            else:
                row.value = "1" if value else "0"
                row.updated_at = utcnow()
        self.bus.publish("resumed" if not value else "paused", None, flag=key)

    async def get_flag(self, key: str) -> bool:
        async with self.db.session() as session:
            row = await session.get(SystemState, key)
        return row is not None and row.value == "1"

    async def set_debug(self, job_id: int, on: bool) -> set[int]:
        """Debug logging for one job, in every process (workers read it on heartbeat)."""
        async with self.db.session() as session:
            row = await session.get(SystemState, "debug_jobs")
            ids = parse_debug_jobs(row)
            ids = ids | {job_id} if on else ids - {job_id}
            value = ",".join(str(i) for i in sorted(ids))
            if row is None:
                session.add(SystemState(key="debug_jobs", value=value))
            else:
                row.value = value
                row.updated_at = utcnow()
        DEBUG_JOBS.clear()
        DEBUG_JOBS.update(ids)
        return ids

    async def pause(self) -> None:
        await self.set_flag("paused", True)

    async def resume(self) -> None:
        await self.set_flag("paused", False)

    async def is_paused(self) -> bool:
        return await self.get_flag("paused")

    async def ping(self) -> float:
        """Round-trip a trivial query; the latency in milliseconds (raises if down)."""
        started = time.monotonic()
        async with self.db.tx() as tx:
            await tx.one("SELECT 1")
        return (time.monotonic() - started) * 1000

    # -- delivery records ------------------------------------------------------
    def stored_result(self, job: Job) -> Processed | None:
        """The result a finished job keeps on disk (its parts), if all are still there."""
        # imported here: ``mediaferry.media`` is heavy and the light ``add`` path never
        # needs it (issue 12 step 5)
        from mediaferry.media.result import processed_from_meta

        return processed_from_meta((job.meta or {}).get("processed") or {})

    async def record_telegram_delivery(self, job_id: int, file_ids: Sequence[str]) -> None:
        """Telegram's file ids of a result sent outside the pipeline (a job finished
        elsewhere, uploaded when a chat asks for it): later requests re-send them."""
        await self._set(job_id, telegram_file_id="\n".join(file_ids))

    async def set_progress_message(self, job_id: int, message_id: int) -> None:
        """The Telegram message that shows this job's progress."""
        await self._set(job_id, progress_message_id=message_id)

    async def _set(self, job_id: int, **values: Any) -> None:
        params = {**values, "updated_at": utcnow()}
        sql = update_job_sql(tuple(params)) + " WHERE id = :_id"
        async with self.db.tx() as tx:
            await tx.run(sql, {**params, "_id": job_id})

    # -- chats waiting on a job another chat started (the bot) ----------------
    async def add_waiter(
        self,
        job_id: int,
        chat_id: int,
        *,
        user_id: int | None = None,
        message_id: int | None = None,
        progress_message_id: int | None = None,
    ) -> bool:
        """``chat_id`` waits on ``job_id`` too: the deliverer sends it the result once.
        False if it already waits."""
        return await self.waiters.add(
            job_id,
            chat_id,
            user_id=user_id,
            message_id=message_id,
            progress_message_id=progress_message_id,
        )

    async def waiting_chats(self, job_id: int) -> Sequence[Waiter]:
        """The chats not yet sent the job's result, oldest first."""
        return await self.waiters.pending(job_id)

    async def worker_stats(self) -> WorkerStats:
        """Live worker pools, their capacity and running jobs (one rule everywhere)."""
        return await worker_stats(self.db, self.settings)

    async def live_job_ids(self) -> set[int]:
        """Jobs whose temp files must be kept: active ones, and failed ones that may resume."""
        async with self.db.session() as session:
            rows = await session.execute(
                select(Job.id).where(Job.status.in_([s.value for s in ACTIVE_STATUSES]))
            )
            return {int(r[0]) for r in rows.all()}

    async def clean_temp(
        self,
        *,
        max_age_hours: float | None = None,
        dry_run: bool = False,
        also_live: Collection[int] = (),
    ) -> CleanupReport:
        """Remove old temp work and partial files of jobs that are not live (never the
        archive): ``cleanup`` and the service's periodic clean-up. ``also_live`` are
        jobs this process runs that the database may not show as active yet."""
        live = await self.live_job_ids() | set(also_live)
        age = self.settings.tmp_max_age_hours if max_age_hours is None else max_age_hours
        return await asyncio.to_thread(
            cleanup_tmp,
            Storage(self.settings),
            live_job_ids=live,
            max_age_hours=age,
            dry_run=dry_run,
        )


def parse_debug_jobs(row: SystemState | None) -> set[int]:
    """The job ids of the ``debug_jobs`` flag (``/debug_on``), shared by every process."""
    value = row.value if row is not None else ""
    return {int(part) for part in value.split(",") if part.strip().isdigit()}
