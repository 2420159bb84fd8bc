"""One progress message per job, edited in place from the job events on the bus.

Throttled to stay inside Telegram's limits: at most one edit per message every
``interval`` seconds (twice that in groups), never an edit with unchanged text, flood
waits honoured. The message id is stored on the job (``progress_message_id``), so after
a restart the recovered job continues the same message. On completion the message is
deleted (the media replaces it); on failure it shows the short message for the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram import error as tg

from mediaferry.bot import texts
from mediaferry.bot.callbacks import cancel_data
from mediaferry.db.models import Job
from mediaferry.delivery.ratelimit import Priority, SendDropped, send_priority
from mediaferry.delivery.telegram import TelegramDeliverer
from mediaferry.errors import JobNotFound
from mediaferry.jobs.bus import Event, EventBus, Subscription
from mediaferry.jobs.service import JobService
from mediaferry.jobs.states import JobStatus
from mediaferry.plan import REPLY_ARCHIVED, REPLY_KEY

__all__ = ["ProgressTracker", "cancel_markup"]

log = logging.getLogger(__name__)
FINAL_GAP_S = 1.0  # a final edit may follow the previous one this soon
MAX_FINAL_TRIES = 5
MAX_FAILURES = 8  # consecutive failed updates before the view waits for the next event
BACKOFF_MAX_S = 30.0


def cancel_markup(job_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("✖️ Cancel", callback_data=cancel_data(job_id))]]
    )


@dataclass
class _View:
    job_id: int
    chat_id: int
    reply_to: int | None
    message_id: int | None
    title: str | None = None
    stage: str | None = None
    desired: str = texts.QUEUED
    shown: str | None = None
    final: str | None = None  # final text, or "" to delete the message
    last_edit: float = 0.0
    not_before: float = 0.0
    failures: int = 0  # consecutive failed calls (errors, not flood waits)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class ProgressTracker:
    """Listens to the bus and keeps each Telegram job's progress message current."""

    def __init__(
        self,
        bot: Bot,
        bus: EventBus,
        jobs: JobService,
        interval: float = 3.0,
        deliverer: TelegramDeliverer | None = None,
    ) -> None:
        self.bot = bot
        self.deliverer = deliverer
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.bus = bus
        self.jobs = jobs
        self.interval = interval
        self.views: dict[int, _View] = {}
        self._ignored: set[int] = set()
        self._sub: Subscription | None = None
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sub = self.bus.subscribe(5000)
        self._loop = asyncio.create_task(self._listen(), name="progress-tracker")

    async def stop(self) -> None:
        tasks = [v.task for v in self.views.values() if v.task is not None]
        tasks.extend(self._side_tasks)
        if self._loop is not None:
            tasks.append(self._loop)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._sub is not None:
            self._sub.close()

    def open(self, job: Job, reply_to: int | None, text: str = texts.QUEUED) -> None:
        """Start the progress message of a job just created from a chat."""
        assert job.chat_id is not None
        view = _View(job.id, job.chat_id, reply_to, job.progress_message_id, job.title)
        view.desired = text
        self.views[job.id] = view
        self._ignored.discard(job.id)
        self._schedule(view)

    async def adopt(self, job: Job, message_id: int, text: str) -> None:
        """Use an existing bot message (the quality keyboard) as the progress message."""
        assert job.chat_id is not None
        view = _View(job.id, job.chat_id, job.message_id, message_id, job.title)
        view.desired = text
        self.views[job.id] = view
        self._schedule(view)
        await self._save_message_id(job.id, message_id)

    async def _save_message_id(self, job_id: int, message_id: int) -> None:
        await self.jobs.set_progress_message(job_id, message_id)

    # -- events ----------------------------------------------------------------------
    async def _listen(self) -> None:
        assert self._sub is not None
        async for event in self._sub:
            if event.job_id is None or event.kind not in ("progress", "stage", "status"):
                continue
            try:
                await self._on_event(event)
            except Exception:
                log.exception("progress update failed", extra={"job_id": event.job_id})

    async def _view(self, job_id: int) -> _View | None:
        view = self.views.get(job_id)
        if view is not None or job_id in self._ignored:
            return view
        try:
            job = await self.jobs.get(job_id)
        except JobNotFound:
            return None
        if job.origin != "telegram" or job.chat_id is None:
            self._ignored.add(job_id)
            return None
        view = self.views.get(job_id)  # opened while we were reading
        if view is None:
            view = _View(job.id, job.chat_id, job.message_id, job.progress_message_id, job.title)
            view.stage = job.stage
            self.views[job_id] = view
        return view

    async def _on_event(self, event: Event) -> None:
        assert event.job_id is not None
        view = await self._view(event.job_id)
        if view is None or view.final is not None:
            return
        data = event.data
        if event.kind == "progress":
            view.desired = texts.progress(
                data.get("stage") or view.stage,
                view.title,
                data.get("bytes_done"),
                data.get("bytes_total"),
                data.get("speed"),
                data.get("eta"),
                note=data.get("note"),
            )
        elif event.kind == "stage":
            view.stage = str(data.get("stage"))
            if view.title is None:
                with contextlib.suppress(JobNotFound):
                    view.title = (await self.jobs.get(view.job_id)).title
            view.desired = texts.progress(view.stage, view.title)
        else:
            await self._on_status(view, str(data.get("status")))
        self._schedule(view)

    async def _on_status(self, view: _View, status: str) -> None:
        if status == JobStatus.RUNNING:
            view.desired = texts.progress(view.stage or "METADATA", view.title)
            return
        job = await self.jobs.get(view.job_id)
        if status == JobStatus.PENDING and job.error_type:
            view.desired = texts.failed(job.error_type, attempts_left=True)
        elif status == JobStatus.COMPLETED:
            meta = job.meta or {}
            playlist = meta.get("playlist")
            view.final = texts.playlist(playlist) if playlist else ""
            if meta.get(REPLY_KEY) == REPLY_ARCHIVED:  # a file sent to be archived
                view.final = texts.ARCHIVED.format(
                    title=texts.esc(job.final_title or job.title or "untitled"),
                    size=texts.human_size(job.file_size),
                    id=job.id,
                )
            if self.deliverer is not None and job.telegram_file_id:
                # chats that started waiting after the deliverer served the waiters
                task = asyncio.create_task(self.deliverer.send_to_waiters(job))
                self._side_tasks.add(task)
                task.add_done_callback(self._side_tasks.discard)
        elif status == JobStatus.FAILED:
            view.final = texts.failed(job.error_type)
            await self._tell_waiters(job, view.final)
        elif status == JobStatus.CANCELLED:
            view.final = texts.CANCELLED
            await self._tell_waiters(job, view.final)

    # -- sending -----------------------------------------------------------------------
    def _schedule(self, view: _View) -> None:
        view.wake.set()
        if view.task is None or view.task.done():
            view.task = asyncio.create_task(self._run(view), name=f"progress-{view.job_id}")

    def _gap(self, view: _View) -> float:
        return self.interval * (2 if view.chat_id < 0 else 1)

    async def _run(self, view: _View) -> None:
        tries = 0
        while True:
            view.wake.clear()
            final = view.final is not None
            if not final and view.desired == view.shown and view.message_id is not None:
                return
            gap = FINAL_GAP_S if final else self._gap(view)
            # the first message needs no gap, but waits out errors and flood waits too
            ready = view.not_before
            if view.message_id is not None:
                ready = max(ready, view.last_edit + gap)
            wait = ready - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(view.wake.wait(), wait)
                continue
            ok = await self._apply(view)
            if final and (ok or tries >= MAX_FINAL_TRIES):
                self.views.pop(view.job_id, None)
                return
            tries += 0 if ok else 1
            if not final and view.failures >= MAX_FAILURES:
                return  # the next event tries again, after the backoff

    async def _apply(self, view: _View) -> bool:
        """One Bot API call towards what the view should show; True if it took effect."""
        view.last_edit = time.monotonic()
        try:
            # a final text or the removal answers the job: it goes with the replies;
            # running progress is the first to give way under pressure
            with send_priority(Priority.PROGRESS if view.final is None else Priority.REPLY):
                if view.message_id is None:
                    await self._send_new(view)
                elif view.final == "":
                    await self.bot.delete_message(view.chat_id, view.message_id)
                elif view.final is not None:
                    await self._edit(view, view.final, with_button=False)
                else:
                    await self._edit(view, view.desired, with_button=True)
            view.failures = 0
            return True
        except SendDropped as exc:
            view.not_before = time.monotonic() + exc.retry_in
            return False
        except tg.RetryAfter as exc:
            ra = exc.retry_after
            view.not_before = time.monotonic() + (ra if isinstance(ra, int) else ra.total_seconds())
            return False
        except tg.BadRequest as exc:
            text = exc.message.lower()
            if "not modified" in text:
                view.shown = view.final if view.final is not None else view.desired
                return True
            if "not found" in text:
                view.message_id = None  # the user deleted it: start a new one
                return view.final == ""
            log.warning("progress message refused: %s", exc.message, extra={"job_id": view.job_id})
            return True
        except tg.TelegramError as exc:
            log.info("progress update failed: %s", exc, extra={"job_id": view.job_id})
        # back off: 1, 2, 4 … 30 s between tries, never a retry at once
        view.not_before = time.monotonic() + min(BACKOFF_MAX_S, 2.0**view.failures)
        view.failures += 1
        return False

    async def _send_new(self, view: _View) -> None:
        if view.final == "":
            return
        text = view.final if view.final is not None else view.desired
        msg = await self.bot.send_message(
            view.chat_id,
            text,
            parse_mode=texts.PARSE_MODE,
            reply_markup=None if view.final is not None else cancel_markup(view.job_id),
            reply_parameters=ReplyParameters(
                message_id=view.reply_to, allow_sending_without_reply=True
            )
            if view.reply_to
            else None,
        )
        view.message_id = msg.message_id
        view.shown = text
        await self._save_message_id(view.job_id, msg.message_id)

    async def _edit(self, view: _View, text: str, *, with_button: bool) -> None:
        assert view.message_id is not None
        await self.bot.edit_message_text(
            text,
            view.chat_id,
            view.message_id,
            parse_mode=texts.PARSE_MODE,
            reply_markup=cancel_markup(view.job_id) if with_button else None,
        )
        view.shown = text

    async def _tell_waiters(self, job: Job, text: str) -> None:
        for w in await self.jobs.waiting_chats(job.id):
            if w.progress_message_id is None:
                continue
            with contextlib.suppress(tg.TelegramError):
                await self.bot.edit_message_text(
                    text, w.chat_id, w.progress_message_id, parse_mode=texts.PARSE_MODE
                )
