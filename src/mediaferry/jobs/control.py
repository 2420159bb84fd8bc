"""What a running job's code may touch: progress, stage, events, its own columns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from mediaferry.db.models import Job, utcnow
from mediaferry.jobs.states import JobStatus, Stage
from mediaferry.jobs.transition import add_event, update_job_sql
from mediaferry.transfer.base import Progress

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.db.engine import Database
    from mediaferry.jobs.bus import EventBus

__all__ = ["JobControl", "JobRunner", "RunResult"]

log = logging.getLogger(__name__)

_PROGRESS_SQL = (
    "UPDATE jobs SET bytes_done = :bytes_done, bytes_total = :bytes_total, speed = :speed,"
    " eta = :eta, heartbeat_at = :heartbeat_at WHERE id = :id"
    f" AND status = '{JobStatus.RUNNING.value}'"
)


class RunResult(dict[str, Any]):
    """Columns to set on COMPLETED (file_path, file_size, sha256, final_title, ...)."""


class JobRunner(Protocol):
    async def run(self, job: Job, ctl: JobControl) -> RunResult: ...


class JobControl:
    """Handed to the runner of one job attempt. Progress writes are throttled to
    one per ``progress_interval_s``; the latest value is always written last."""

    def __init__(self, db: Database, bus: EventBus, settings: Settings, job: Job) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.job = job
        self.job_id = job.id
        self._latest: Progress | None = None
        self._written: Progress | None = None
        self._last_write = 0.0
        self._flush_task: asyncio.Task[None] | None = None
        self._last_note: str | None = None
        self._note_until = 0.0
        self._note_tasks: set[asyncio.Task[None]] = set()

    # -- progress ----------------------------------------------------------
    def progress(self, progress: Progress) -> None:
        """Cheap; called by transfer backends as often as they like."""
        now = time.monotonic()
        if progress.note:
            # the note of a wait lasts as long as the wait (its eta), even while other
            # parts of the same transfer report progress meanwhile
            self._note_until = now + (progress.eta or 0.0)
        elif self._last_note and now < self._note_until:
            progress = replace(progress, note=self._last_note)
        self._latest = progress
        if progress.note and progress.note != self._last_note:
            # a wait (e.g. a flood wait): an event and a progress update at once
            loop = asyncio.get_running_loop()
            for work in (self.event("WAITING", {"message": progress.note}), self.flush_progress()):
                task = loop.create_task(work)
                self._note_tasks.add(task)
                task.add_done_callback(self._note_tasks.discard)
        self._last_note = progress.note
        if self._flush_task is None or self._flush_task.done():
            delay = max(
                0.0, self.settings.progress_interval_s - (time.monotonic() - self._last_write)
            )
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_after(delay))

    async def _flush_after(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        await self.flush_progress()

    async def flush_progress(self) -> None:
        p = self._latest
        if p is None or p is self._written:
            return
        self._written = p
        self._last_write = time.monotonic()
        try:
            async with self.db.tx() as tx:
                await tx.run(
                    _PROGRESS_SQL,
                    {
                        "id": self.job_id,
                        "bytes_done": p.bytes_done,
                        "bytes_total": p.bytes_total,
                        "speed": p.speed,
                        "eta": p.eta,
                        "heartbeat_at": utcnow(),
                    },
                )
        except Exception as exc:  # progress is best effort; the job goes on
            log.warning("progress write failed: %s", exc, extra={"job_id": self.job_id})
        self.bus.publish(
            "progress",
            self.job_id,
            bytes_done=p.bytes_done,
            bytes_total=p.bytes_total,
            speed=p.speed,
            eta=p.eta,
            stage=self.job.stage,
            note=p.note,
        )

    async def close(self) -> None:
        task = self._flush_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- stage and data ------------------------------------------------------
    async def set_stage(self, stage: Stage) -> None:
        """Enter ``stage``: saved with its ``<STAGE>_STARTED`` event in one transaction."""
        await self.save(stage=stage.value, _event=f"{stage.value}_STARTED")
        self.bus.publish("stage", self.job_id, stage=stage.value)

    async def save(self, _event: str | None = None, **values: Any) -> None:
        """Persist columns of this job (never ``status``), with an optional event."""
        assert "status" not in values
        for key, value in values.items():
            setattr(self.job, key, value)
        params = {**values, "updated_at": utcnow()}
        sql = update_job_sql(tuple(params)) + " WHERE id = :_id"
        params["_id"] = self.job_id
        async with self.db.tx() as tx:
            await tx.run(sql, params)
            if _event is not None:
                await add_event(tx, self.job_id, _event)

    async def event(self, event_type: str, data: dict[str, Any] | None = None) -> None:
        async with self.db.tx() as tx:
            await add_event(tx, self.job_id, event_type, data)
