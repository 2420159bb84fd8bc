"""The Telegram deliverer: sends a finished job to its chat as playable media.

``sendVideo`` (dimensions, duration, thumbnail, ``supports_streaming``), ``sendAudio``
(title, performer, duration, cover) or ``sendDocument``; split parts go in order as
albums of up to 10. The resulting ``file_id`` s are stored on the job, so the same media
asked again (same ``job_key``, in any chat) is re-sent by ``file_id`` without a download.

python-telegram-bot's exceptions are translated into Mediaferry errors here and nowhere
else: flood waits and network failures are retryable ``TelegramError`` s (the engine
retries from DELIVER without downloading again), a refused request is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import select
from telegram import (
    Bot,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaVideo,
    Message,
    ReplyParameters,
)
from telegram import error as tg

from mediaferry.config import Settings
from mediaferry.db.engine import Database
from mediaferry.db.models import Job, JobEvent
from mediaferry.db.waiters import Waiter, Waiters
from mediaferry.delivery.base import Delivery, EventLog
from mediaferry.delivery.caption import PARSE_MODE, caption, plain_caption
from mediaferry.delivery.mtproto import RANDOM_IDS_EVENT, MtprotoRoute, is_mtproto_id
from mediaferry.delivery.ratelimit import Priority, send_priority
from mediaferry.errors import JobError, SizeLimitExceeded, TelegramError
from mediaferry.media.result import Part, Processed
from mediaferry.plan import REPLY_ARCHIVED, REPLY_KEY

__all__ = ["TelegramDeliverer", "TelegramRejected", "delivery_outcome", "translate_error"]

log = logging.getLogger(__name__)
InputMedia = InputMediaVideo | InputMediaAudio | InputMediaDocument
ALBUM_MAX = 10
ATTEMPT_EVENT = "DELIVERY_ATTEMPT"
CHUNK_EVENT = "DELIVERY_CHUNK"  # one album (or single part) of several confirmed
OUTCOME_EVENT = "DELIVERY_OUTCOME"
# attempts whose outcome is unknown (the answer was lost) after which one more is allowed:
# the Bot API has no idempotency key, so at most one duplicate per job
MAX_UNCERTAIN = 1
WAITER_TRIES = 3  # a waiting chat's re-send, tried again after flood waits
# transport failures that mean the request never reached Telegram in full
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout,
             httpx.WriteError)  # fmt: skip


class TelegramRejected(TelegramError):
    """Telegram refused the request (not worth retrying)."""

    retryable = False


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def translate_error(exc: tg.TelegramError, attempts: int = 0) -> JobError:
    """A python-telegram-bot exception as a Mediaferry error (the one boundary)."""
    if isinstance(exc, tg.RetryAfter):
        wait = _seconds(exc.retry_after)
        return TelegramError(f"flood wait of {wait:.0f}s", retry_after=wait)
    if isinstance(exc, tg.NetworkError) and "too large" in exc.message.lower():
        return SizeLimitExceeded("Telegram refused the file as too large")
    if isinstance(exc, tg.TimedOut):
        return TelegramError(f"Telegram timed out: {exc.message}")
    if isinstance(exc, tg.NetworkError) and not isinstance(exc, tg.BadRequest):
        # Telegram down: wait a little longer each time instead of burning attempts
        return TelegramError(
            f"Telegram unreachable: {exc.message}", retry_after=min(60.0, 2.0 * 2**attempts)
        )
    return TelegramRejected(f"Telegram refused the request: {exc.message}")


def delivery_outcome(exc: tg.TelegramError) -> str:
    """``"not_sent"`` when Telegram cannot have acted on the request, else ``"unknown"``.

    An answer from the server (a refusal, a flood wait, a 5xx page) or a failure before
    the request was fully written means nothing was sent; a timeout or a dropped
    connection while waiting for the answer leaves the outcome unknown.
    """
    if not isinstance(exc, tg.NetworkError) or isinstance(exc, tg.BadRequest):
        return "not_sent"
    cause = exc.__cause__
    if not isinstance(cause, httpx.TransportError) or isinstance(cause, _NOT_SENT):
        return "not_sent"
    return "unknown"


class _History:
    """What earlier DELIVER attempts of a job left in its events."""

    def __init__(self, events: Sequence[JobEvent]) -> None:
        attempts: dict[int, str | None] = {}
        last = 0
        self.sent_ids: list[str] | None = None
        self.chunks: dict[int, list[str]] = {}  # first part index → ids Telegram confirmed
        self.random_ids: list[int] | None = None  # MTProto route (issue 10)
        for ev in events:
            data = ev.data or {}
            n = int(data.get("attempt") or 0)
            if ev.event_type == "STATUS_CHANGED":
                if data.get("from") == "FAILED":
                    # a manual retry: the user asked for another try, whatever came before
                    last = max(last, *attempts) if attempts else last
                    attempts.clear()
            elif ev.event_type == CHUNK_EVENT:
                self.chunks[int(data.get("start") or 0)] = [str(i) for i in data["file_ids"]]
            elif ev.event_type == RANDOM_IDS_EVENT:
                self.random_ids = [int(i) for i in data.get("random_ids") or []]
            elif ev.event_type == ATTEMPT_EVENT:
                attempts[n] = None
            elif ev.event_type == OUTCOME_EVENT:
                attempts[n] = str(data.get("outcome"))
                if data.get("outcome") == "sent":
                    self.sent_ids = [str(i) for i in data.get("file_ids") or []]
        self.attempts = max(attempts, default=last)
        # no outcome written (the process died mid-send) counts as unknown
        self.uncertain = sum(1 for o in attempts.values() if o in (None, "unknown"))
        if self.random_ids:  # MTProto sends are idempotent (random_id): never uncertain
            self.uncertain = 0


def file_id_of(message: Message) -> str:
    for media in (message.video, message.audio, message.document, message.animation):
        if media is not None:
            return media.file_id
    raise TelegramRejected("Telegram answered without a file")


def _reply(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


def _part_caption(processed: Processed, part: Part, url: str, number: int, total: int) -> str:
    """A split file's parts are numbered; a collection's parts (the tracks of an album)
    carry their own titles. The first part lists the download's other files."""
    also = [extra.name for extra in processed.extras] if number == 1 else []
    if processed.collection:
        return caption(part.title or processed.title, url, None, also)
    return caption(processed.title, url, (number, total) if total > 1 else None, also)


def _dur(value: float | None) -> int | None:
    return round(value) if value else None


class TelegramDeliverer:
    """A :class:`~mediaferry.delivery.base.Deliverer` for jobs that came from Telegram."""

    order = 0

    def __init__(
        self,
        bot: Bot,
        db: Database,
        settings: Settings | None = None,
        waiters: Waiters | None = None,
        mtproto: MtprotoRoute | None = None,
    ) -> None:
        self.bot = bot
        self.db = db
        # issue 10: files over the Bot API's limit go whole through the bot's MTProto session
        self.mtproto = mtproto
        self.waiters = waiters or Waiters(db)
        self.upload_timeout = settings.telegram_upload_timeout_s if settings else 300.0
        # only a local Bot API server (--local) reads files by path (file:// URIs)
        self.local_mode = settings.telegram_local_mode if settings else False

    def wants(self, job: Job) -> bool:
        # a file sent to the bot to be archived is not sent back: the chat gets a
        # confirmation instead (issue 10)
        archived_only = (job.meta or {}).get(REPLY_KEY) == REPLY_ARCHIVED
        return (
            job.chat_id is not None and job.origin in ("telegram", "follow") and not archived_only
        )

    async def deliver(self, job: Job, processed: Processed, events: EventLog) -> Delivery:
        assert job.chat_id is not None
        history = await self._history(job.id)
        if history.sent_ids:
            # an earlier attempt got through (a later deliverer failed): not again
            ids = history.sent_ids
        else:
            if history.uncertain > MAX_UNCERTAIN:
                raise TelegramRejected(
                    f"{history.uncertain} deliveries ended without an answer; the media may "
                    "already be in the chat, so it is not sent again"
                )
            n = history.attempts + 1
            if self.mtproto is not None and self.mtproto.wanted(processed):
                return await self._via_mtproto(job, processed, events, history, n)
            await events.event(
                ATTEMPT_EVENT, {"attempt": n, "route": "botapi", "uncertain": history.uncertain}
            )

            async def confirmed(start: int, chunk_ids: list[str]) -> None:
                # a retry skips what Telegram already confirmed (several albums)
                await events.event(
                    CHUNK_EVENT, {"attempt": n, "start": start, "file_ids": chunk_ids}
                )

            try:
                ids = await self.send_processed(
                    job,
                    processed,
                    job.chat_id,
                    job.message_id,
                    done=history.chunks,
                    on_chunk=confirmed,
                )
            except tg.TelegramError as exc:
                outcome = delivery_outcome(exc)
                await events.event(
                    OUTCOME_EVENT, {"attempt": n, "outcome": outcome, "error": type(exc).__name__}
                )
                raise translate_error(exc, job.attempts) from exc
            await events.event(OUTCOME_EVENT, {"attempt": n, "outcome": "sent", "file_ids": ids})
        return await self._sent(job, ids)

    async def _via_mtproto(
        self, job: Job, processed: Processed, events: EventLog, history: _History, n: int
    ) -> Delivery:
        """Whole, over the bot's MTProto session; random_ids recorded before the first
        send make a retry safe (Telegram refuses the duplicate), so no attempt is
        "uncertain" here."""
        assert self.mtproto is not None and job.chat_id is not None
        randoms = self.mtproto.random_ids(processed, history.random_ids)
        if randoms != history.random_ids:
            await events.event(RANDOM_IDS_EVENT, {"random_ids": randoms})
        await events.event(ATTEMPT_EVENT, {"attempt": n, "route": "mtproto"})
        cap = plain_caption(processed.title, job.url)
        try:
            with send_priority(Priority.RESULT):
                ids = await self.mtproto.send(job, processed, job.chat_id, randoms, cap)
        except JobError as exc:
            failed = {"attempt": n, "outcome": "failed", "error": exc.error_type.value}
            await events.event(OUTCOME_EVENT, failed)
            raise
        await events.event(
            OUTCOME_EVENT, {"attempt": n, "outcome": "sent", "route": "mtproto", "file_ids": ids}
        )
        return await self._sent(job, ids)

    async def _sent(self, job: Job, ids: list[str]) -> Delivery:
        file_ids = "\n".join(ids)
        job.telegram_file_id = file_ids
        with send_priority(Priority.RESULT):
            await self.send_to_waiters(job)
        return Delivery(
            "TELEGRAM_SENT",
            {"chat_id": job.chat_id, "file_ids": len(ids)},
            columns={"telegram_file_id": file_ids},
        )

    async def _history(self, job_id: int) -> _History:
        async with self.db.session() as session:
            rows = await session.execute(
                select(JobEvent)
                .where(
                    JobEvent.job_id == job_id,
                    JobEvent.event_type.in_(
                        (
                            ATTEMPT_EVENT,
                            OUTCOME_EVENT,
                            RANDOM_IDS_EVENT,
                            CHUNK_EVENT,
                            "STATUS_CHANGED",
                        )
                    ),
                )
                .order_by(JobEvent.id)
            )
            return _History(list(rows.scalars().all()))

    # -- sending files -----------------------------------------------------------
    async def send_processed(
        self,
        job: Job,
        processed: Processed,
        chat_id: int,
        reply_to: int | None,
        *,
        done: dict[int, list[str]] | None = None,
        on_chunk: Callable[[int, list[str]], Awaitable[None]] | None = None,
    ) -> list[str]:
        """Send every part (albums of up to 10); ``done`` holds chunks already sent
        (by first part index), ``on_chunk`` hears of each chunk Telegram confirms."""
        with send_priority(Priority.RESULT):
            return await self._send_parts(job, processed, chat_id, reply_to, done, on_chunk)

    async def _send_parts(
        self,
        job: Job,
        processed: Processed,
        chat_id: int,
        reply_to: int | None,
        done: dict[int, list[str]] | None,
        on_chunk: Callable[[int, list[str]], Awaitable[None]] | None,
    ) -> list[str]:
        parts = processed.parts
        total = len(parts)
        ids: list[str] = []
        index = 0
        while index < total:
            chunk = parts[index : index + ALBUM_MAX]
            earlier = (done or {}).get(index)
            if earlier is not None and len(earlier) == len(chunk):
                ids.extend(earlier)
                index += len(chunk)
                continue
            start = len(ids)
            if len(chunk) == 1:
                cap = _part_caption(processed, chunk[0], job.url, index + 1, total)
                msg = await self._send_one(processed, chunk[0], chat_id, reply_to, cap)
                ids.append(file_id_of(msg))
            else:
                with contextlib.ExitStack() as files:
                    media = [
                        self._input_media(processed, part, job, (index + i + 1, total), files)
                        for i, part in enumerate(chunk)
                    ]
                msgs = await self.bot.send_media_group(
                    chat_id,
                    media,
                    reply_parameters=_reply(reply_to),
                    read_timeout=self.upload_timeout,
                )
                ids.extend(file_id_of(m) for m in msgs)
            if on_chunk is not None and total > len(chunk):
                await on_chunk(index, ids[start:])
            index += len(chunk)
        return ids

    async def _send_one(
        self, processed: Processed, part: Part, chat_id: int, reply_to: int | None, cap: str
    ) -> Message:
        common: dict[str, Any] = {
            "caption": cap,
            "parse_mode": PARSE_MODE,
            "reply_parameters": _reply(reply_to),
            "read_timeout": self.upload_timeout,
            "filename": part.path.name,
        }
        thumb = part.thumbnail if part.thumbnail and part.thumbnail.is_file() else None
        if processed.kind == "video":
            return await self.bot.send_video(
                chat_id,
                part.path,
                duration=_dur(part.duration),
                width=part.width,
                height=part.height,
                thumbnail=thumb,
                supports_streaming=True,
                **common,
            )
        if processed.kind == "audio":
            return await self.bot.send_audio(
                chat_id,
                part.path,
                duration=_dur(part.duration),
                title=part.title or processed.title,
                performer=part.performer or processed.performer,
                thumbnail=thumb,
                **common,
            )
        return await self.bot.send_document(chat_id, part.path, thumbnail=thumb, **common)

    def _file(self, path: Path, files: contextlib.ExitStack) -> Path | IO[bytes]:
        """What InputMedia* should get for a file on disk.

        python-telegram-bot turns a path inside InputMedia* into a ``file://`` URI, which
        only a local Bot API server accepts; for any other server the file is opened (and
        read into the request) so it is uploaded.
        """
        if self.local_mode:
            return path
        return files.enter_context(path.open("rb"))

    def _input_media(
        self,
        processed: Processed,
        part: Part,
        job: Job,
        n: tuple[int, int],
        files: contextlib.ExitStack,
    ) -> InputMedia:
        cap = _part_caption(processed, part, job.url, *n)
        thumb = (
            self._file(part.thumbnail, files)
            if part.thumbnail and part.thumbnail.is_file()
            else None
        )
        media = self._file(part.path, files)
        common: dict[str, Any] = {
            "caption": cap,
            "parse_mode": PARSE_MODE,
            "filename": part.path.name,
        }
        if processed.kind == "video":
            return InputMediaVideo(
                media,
                width=part.width,
                height=part.height,
                duration=_dur(part.duration),
                supports_streaming=True,
                thumbnail=thumb,
                **common,
            )
        if processed.kind == "audio":
            return InputMediaAudio(
                media,
                duration=_dur(part.duration),
                title=part.title or processed.title,
                performer=part.performer or processed.performer,
                thumbnail=thumb,
                **common,
            )
        return InputMediaDocument(media, thumbnail=thumb, **common)

    # -- re-sending by file_id -----------------------------------------------------
    async def resend(self, job: Job, chat_id: int, reply_to: int | None) -> None:
        """Send a delivered job again by its stored file_id(s): no upload, no download."""
        ids = (job.telegram_file_id or "").split()
        if not ids:
            raise TelegramRejected("nothing was delivered for this job yet")
        kind = str(((job.meta or {}).get("processed") or {}).get("kind") or "document")
        title = job.final_title or job.title
        if any(is_mtproto_id(i) for i in ids):  # sent over MTProto: re-sent the same way
            if self.mtproto is None:
                raise TelegramRejected("this file was sent over MTProto, which is off now")
            with send_priority(Priority.RESULT):
                await self.mtproto.resend(ids, chat_id, plain_caption(title, job.url))
            return
        try:
            with send_priority(Priority.RESULT):
                await self._resend_ids(ids, kind, title, job.url, chat_id, reply_to)
        except tg.TelegramError as exc:
            raise translate_error(exc) from exc

    async def _resend_ids(
        self,
        ids: Sequence[str],
        kind: str,
        title: str | None,
        url: str,
        chat_id: int,
        reply_to: int | None,
    ) -> None:
        total = len(ids)
        if total == 1:
            opts: dict[str, Any] = {
                "caption": caption(title, url),
                "parse_mode": PARSE_MODE,
                "reply_parameters": _reply(reply_to),
            }
            if kind == "video":
                await self.bot.send_video(chat_id, ids[0], **opts)
            elif kind == "audio":
                await self.bot.send_audio(chat_id, ids[0], **opts)
            else:
                await self.bot.send_document(chat_id, ids[0], **opts)
            return
        cls = {"video": InputMediaVideo, "audio": InputMediaAudio}.get(kind, InputMediaDocument)
        for start in range(0, total, ALBUM_MAX):
            chunk = ids[start : start + ALBUM_MAX]
            media = [
                cls(
                    fid,
                    caption=caption(title, url, (start + i + 1, total)),
                    parse_mode="HTML",
                )
                for i, fid in enumerate(chunk)
            ]
            if len(media) == 1:
                await self._resend_ids(chunk, kind, title, url, chat_id, reply_to)
            else:
                await self.bot.send_media_group(chat_id, media, reply_parameters=_reply(reply_to))

    # -- other chats waiting on the same job ----------------------------------------
    async def send_to_waiters(self, job: Job) -> None:
        """Best effort: a waiter that cannot be reached does not fail the job.

        Safe to call more than once and from several places (the deliverer, the bot
        when the job completes, a chat that started waiting just then): each waiter is
        claimed before its copy is sent, so it gets exactly one.
        """
        for waiter in await self.waiters.pending(job.id):
            if not await self.waiters.claim(waiter.id):
                continue  # someone else is sending it
            if not await self._resend_to_waiter(job, waiter):
                await self.waiters.release(waiter.id)

    async def _resend_to_waiter(self, job: Job, waiter: Waiter) -> bool:
        """Re-send to one waiting chat; a flood wait is waited out (a few times)."""
        for attempt in range(WAITER_TRIES):
            try:
                await self.resend(job, waiter.chat_id, waiter.message_id)
            except JobError as exc:
                flood = isinstance(exc.__cause__, tg.RetryAfter) and exc.retry_after
                if not flood or attempt == WAITER_TRIES - 1:
                    log.warning("could not send to waiting chat: %s", exc, extra={"job_id": job.id})
                    return False
                await asyncio.sleep(min(float(exc.retry_after or 1.0), 60.0))
                continue
            if waiter.progress_message_id:
                await self._delete(waiter.chat_id, waiter.progress_message_id)
            return True
        return False

    async def _delete(self, chat_id: int, message_id: int) -> None:
        try:
            await self.bot.delete_message(chat_id, message_id)
        except tg.TelegramError as exc:
            log.debug("could not delete message %s: %s", message_id, exc)
