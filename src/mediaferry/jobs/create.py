"""Creating a job: the one implementation, in plain SQL on a :class:`~mediaferry.db.raw.Tx`.

:meth:`JobService.create <mediaferry.jobs.service.JobService.create>` calls it and
turns the row into a ``Job``; ``mediaferry add`` calls it directly with a SQLite
database and prints the row, so queueing a link imports neither SQLAlchemy nor the
download engine. Offline: detection is the detector's (by default
:func:`mediaferry.sources.detect.detect`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

from mediaferry.db.columns import JOB_COLUMNS, utcnow
from mediaferry.db.engine import Database
from mediaferry.db.raw import RowReader, Tx
from mediaferry.errors import LimitExceeded, UrlRejected
from mediaferry.jobs._event import CHANNEL, Event
from mediaferry.jobs._origin import PROCESS_ORIGIN
from mediaferry.jobs.estimate import DESCRIBED_KEY, described_meta
from mediaferry.jobs.states import ACTIVE_STATUSES, JobStatus, JobType
from mediaferry.jobs.tg_dedup import (
    HOLDER_CONDITION,
    LIBRARY_ITEM_SQL,
    DocRef,
    document_of_link,
    hand_over,
    has_result,
    holder_params,
    named_document,
)
from mediaferry.jobs.transition import add_event
from mediaferry.logging import log_context
from mediaferry.plan import MediaPlan, SourceType
from mediaferry.sources.detect import DetectSettings, detect
from mediaferry.sources.quality import QUALITY_WORDS
from mediaferry.telegram.links import parse_message_link
from mediaferry.urls import check_url

__all__ = [
    "JOB_ROWS",
    "QUALITIES",
    "CreateSettings",
    "Created",
    "Detector",
    "JobIntake",
    "TxSource",
    "create_job",
    "detector_for",
    "insert_job",
    "job_key",
    "normalize_quality",
    "type_and_quality",
]

# (url) -> (source type, media id or None); offline and fast
Detector = Callable[[str], tuple[SourceType, str | None]]

QUALITIES = QUALITY_WORDS  # one vocabulary: the format parser accepts every one of them
JOB_ROWS = RowReader(JOB_COLUMNS)


class CreateSettings(DetectSettings, Protocol):
    """What creating a job reads of the settings."""

    @property
    def allow_private_networks(self) -> bool: ...
    @property
    def max_url_length(self) -> int: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def max_queue_length(self) -> int: ...
    @property
    def max_active_per_user(self) -> int: ...
    @property
    def max_jobs_per_user_hour(self) -> int: ...
    @property
    def max_jobs_per_chat_hour(self) -> int: ...
    @property
    def database_url(self) -> str: ...


class TxSource(Protocol):
    """A database that opens plain-SQL transactions (:class:`~mediaferry.db.engine.Database`)."""

    is_postgres: bool

    def tx(self) -> AbstractAsyncContextManager[Tx]: ...


@dataclass(slots=True)
class Created:
    values: dict[str, Any]  # every column of the job, as the ORM would give them
    created: bool  # False: an identical job already existed and is returned

    @property
    def job(self) -> Any:
        """The job as an object with a ``Job``'s attributes (for ``job_to_dict``)."""
        return SimpleNamespace(**self.values)


def detector_for(settings: DetectSettings) -> Detector:
    """Detection as the engine does it: source type and media id, offline."""
    return lambda url: detect(url, settings)


_ACTIVE_SQL = ", ".join(f"'{st.value}'" for st in sorted(ACTIVE_STATUSES))
_INSERT_COLUMNS = (
    "url, normalized_url, domain, source_type, job_type, requested_quality, status, job_key,"
    " media_id, user_id, chat_id, message_id, priority, archive, origin, title, meta,"
    " max_attempts, bytes_done, attempts, cancel_requested, created_at, updated_at"
)
_INSERT_JOB_SQL = (
    f"INSERT INTO jobs ({_INSERT_COLUMNS}) VALUES"
    f" ({', '.join(':' + c.strip() for c in _INSERT_COLUMNS.split(','))}) RETURNING id"
)
_DUPLICATES_SQL = (
    f"SELECT {JOB_ROWS.select_list} FROM jobs WHERE job_key = :key"
    f" AND status IN ({_ACTIVE_SQL}, 'COMPLETED') ORDER BY id DESC LIMIT 5"
)
# Each count stops at its limit (``LIMIT :cap``): a create costs the same with 10 or
# 100,000 jobs waiting.
_LIMITS_SQL = (
    "SELECT"
    f" (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE status IN ({_ACTIVE_SQL})"
    " LIMIT :queue_cap) q),"
    " (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE user_id = :user"
    f" AND status IN ({_ACTIVE_SQL}) LIMIT :user_cap) u),"
    " (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE user_id = :user"
    " AND created_at >= :hour_ago LIMIT :user_hour_cap) uh),"
    " (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE chat_id = :chat"
    " AND created_at >= :hour_ago LIMIT :chat_hour_cap) ch)"
)
_HOLDER_SQL = f"SELECT {JOB_ROWS.select_list} FROM jobs WHERE {HOLDER_CONDITION}"
_ITEM_JOB_SQL = (
    f"SELECT {JOB_ROWS.select_list} FROM jobs"
    " WHERE id = :id AND status = 'COMPLETED' AND file_path = :path"
)
_CHAT_ARCHIVES_SQL = "SELECT archive_mode FROM chat_settings WHERE chat_id = :chat"
_IS_ITEM_SQL = "SELECT 1 FROM media_items WHERE path = :path LIMIT 1"
_JOB_DEFAULTS = dict.fromkeys(JOB_ROWS.names)  # every other column starts NULL

_ITEMS_RE = re.compile(r"^\s*\d+(?:\s*-\s*\d+)?(?:\s*,\s*\d+(?:\s*-\s*\d+)?)*\s*$")


def normalize_quality(quality: str | None) -> str:
    q = (quality or "best").strip().lower()
    if q.isdigit():
        q += "p"
    if q not in QUALITIES:
        raise UrlRejected(
            f"unknown quality {quality!r}; use one of best, worst, 1080p, 720p, audio …"
        )
    return q


def type_and_quality(job_type: str, quality: str | None, priority: int) -> tuple[str, str]:
    """The checked job type and quality (an audio job's quality is an audio one)."""
    try:
        jtype = JobType(job_type).value
    except ValueError:
        raise UrlRejected(f"unknown job type {job_type!r}; use video or audio") from None
    qual = normalize_quality(quality)
    if jtype == JobType.AUDIO and not qual.startswith("audio"):
        qual = "audio"
    if not -1000 <= priority <= 1000:
        raise UrlRejected("priority must be between -1000 and 1000")
    return jtype, qual


def job_key(source_type: str, identity: str, job_type: str, quality: str) -> str:
    raw = "\x1f".join((source_type, identity, job_type, quality))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


async def notify_in(tx: Tx, kind: str, job_id: int, origin: str, **data: Any) -> None:
    """On PostgreSQL, NOTIFY inside the transaction: other processes hear of the job
    exactly when it is committed, even if this process exits right after."""
    if tx.is_postgres:
        payload = Event(kind, job_id, data).to_json(origin)
        await tx.one(
            "SELECT pg_notify(:channel, :payload)", {"channel": CHANNEL, "payload": payload}
        )


async def create_job(
    db: TxSource,
    settings: CreateSettings,
    detector: Detector,
    url: str,
    *,
    origin_tag: str,
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
) -> Created:
    """Create a job, or return the identical active/completed one (dedup).

    See :meth:`JobService.create <mediaferry.jobs.service.JobService.create>` for the
    options; ``origin_tag`` marks the NOTIFY this process sends (its bus's origin).
    """
    checked = check_url(
        url,
        allow_private=settings.allow_private_networks,
        max_length=settings.max_url_length,
    )
    jtype, qual = type_and_quality(job_type, quality, priority)
    source_type, detected_id = detector(checked.url)
    if source_type == SourceType.UNSUPPORTED:
        raise UrlRejected("this link is not supported")
    document = None
    if source_type == SourceType.TELEGRAM:  # a t.me link must name a message (issue 10)
        link = parse_message_link(checked.url)
        # its document, if known: the same file whatever the link (jobs/tg_dedup.py)
        document = named_document(media_id, meta, plan)
        if document is None and media_id is None:
            async with db.tx() as tx:
                document = await document_of_link(tx, link)
        if document is not None and media_id is None:
            media_id = document.media_id
    media_id = media_id or detected_id
    identity = media_id or checked.normalized
    meta = dict(meta) if meta else None
    if plan is not None and plan.entries is None:
        meta = {**(meta or {}), DESCRIBED_KEY: described_meta(plan)}
    if playlist_items:
        if not _ITEMS_RE.match(playlist_items):
            raise UrlRejected(f"invalid playlist range {playlist_items!r}; use e.g. 1-10 or 5,7,9")
        playlist_items = playlist_items.replace(" ", "")
        meta = {**(meta or {}), "playlist_items": playlist_items}
        identity += f"#items={playlist_items}"
    key = job_key(source_type.value, identity, jtype, qual)
    asked = {
        "url": checked.url,
        "normalized_url": checked.normalized,
        "domain": checked.host or None,
        "source_type": source_type.value,
        "job_type": jtype,
        "requested_quality": qual,
        "media_id": media_id,
        "user_id": user_id,
        "chat_id": chat_id,
        "message_id": message_id,
        "priority": priority,
        "archive": archive,
        "origin": origin,
        "title": title,
        "meta": meta,
    }
    return await insert_job(db, settings, key, asked, enforce_limits, origin_tag, document)


async def insert_job(
    db: TxSource,
    settings: CreateSettings,
    key: str,
    asked: dict[str, Any],
    enforce_limits: bool,
    origin_tag: str,
    document: DocRef | None = None,
) -> Created:
    """Insert the job ``asked`` describes (its checked columns, from ``url`` to
    ``meta``), or return the active/completed duplicate with the same ``key`` (or, for
    a Telegram ``document``, the job holding it: the same file via another link)."""
    url, user_id, chat_id = asked["url"], asked["user_id"], asked["chat_id"]
    with log_context(user_id=user_id, chat_id=chat_id, url_domain=asked["domain"]):
        async with db.tx() as tx:
            if tx.is_postgres:
                await tx.one("SELECT pg_advisory_xact_lock(hashtext(:k))", {"k": key})
            # a request to archive is answered only by a job that archives (issue 10)
            archived = bool(asked["archive"])
            existing = await _find_duplicate(tx, key, archived)
            if existing is None and document is not None:
                existing = await _holder(tx, document, archived)
            if existing is not None:
                await add_event(
                    tx,
                    existing["id"],
                    "DEDUP",
                    {"url": url, "user_id": user_id, "chat_id": chat_id},
                )
                return Created(existing, created=False)
            if enforce_limits:
                if tx.is_postgres:
                    # counts and insert as one step, or concurrent creates all see
                    # room under a cap (SQLite's writer lock already does this)
                    await tx.one("SELECT pg_advisory_xact_lock(hashtext('mf:limits'))", {})
                await _check_limits(tx, settings, user_id, chat_id)
            now = utcnow()
            values: dict[str, Any] = {
                **asked,
                "status": JobStatus.PENDING.value,
                "job_key": key,
                "max_attempts": settings.max_attempts,
                "bytes_done": 0,
                "attempts": 0,
                "cancel_requested": False,
                "created_at": now,
                "updated_at": now,
            }
            row = await tx.one(_INSERT_JOB_SQL, values)
            assert row is not None
            job_id = int(row[0])
            await add_event(
                tx,
                job_id,
                "CREATED",
                {"url": url, "source_type": asked["source_type"], "job_type": asked["job_type"]},
            )
            if document is not None:  # its former job failed or lost its file
                await hand_over(tx, document, job_id)
            await notify_in(tx, "created", job_id, origin_tag)
    return Created({**_JOB_DEFAULTS, **values, "id": job_id}, created=True)


async def _find_duplicate(tx: Tx, key: str, archived: bool = False) -> dict[str, Any] | None:
    """The newest active job with this key, or completed one whose result still exists;
    when the request wants the file ``archived``, only a job that archives it."""
    rows = await tx.all(_DUPLICATES_SQL, {"key": key})
    for row in rows:
        job = JOB_ROWS.values(row, postgres=tx.is_postgres)
        if archived:
            if await _archives(tx, job):
                return job
        elif (
            job["status"] != JobStatus.COMPLETED
            or job["telegram_file_id"]
            or _file_exists(job["file_path"])
        ):
            return job
    return None


async def _archives(tx: Tx, job: dict[str, Any]) -> bool:
    """The job keeps its file in the library: an active job asked to (or in a chat with
    archive mode on), or a completed one whose file is a library item. A job that
    was not (``add`` without ``--archive``) does not answer a request to archive: that
    becomes a job of its own, which takes the earlier job's file if it is still there
    (:mod:`mediaferry.jobs.earlier`)."""
    if JobStatus(job["status"]) in ACTIVE_STATUSES:
        if job["archive"]:
            return True
        if job["chat_id"] is None:
            return False
        row = await tx.one(_CHAT_ARCHIVES_SQL, {"chat": job["chat_id"]})
        return bool(row and row[0])
    if job["status"] != JobStatus.COMPLETED or not _file_exists(job["file_path"]):
        return False
    return await tx.one(_IS_ITEM_SQL, {"path": job["file_path"]}) is not None


async def _holder(tx: Tx, document: DocRef, archived: bool = False) -> dict[str, Any] | None:
    """The job holding ``document`` if it is active or still has its result; when the
    request wants the file ``archived``, the job whose library item holds the document,
    else the holder only if it archives it."""
    params = holder_params(document)
    row = await tx.one(_HOLDER_SQL, params)
    holder = JOB_ROWS.values(row, postgres=tx.is_postgres) if row is not None else None
    if holder is not None and not has_result(
        holder["status"], holder["telegram_file_id"], holder["file_path"]
    ):
        holder = None
    if not archived:
        return holder
    item = await tx.one(LIBRARY_ITEM_SQL, params)
    if item is not None and _file_exists(item[0]):
        # in the library: its job, else the holder (else a new job takes the item's file)
        if item[1] is not None:
            found = await tx.one(_ITEM_JOB_SQL, {"id": item[1], "path": item[0]})
            if found is not None:
                return JOB_ROWS.values(found, postgres=tx.is_postgres)
        return holder
    if holder is not None and await _archives(tx, holder):
        return holder
    return None


def _file_exists(path: str | None) -> bool:
    return bool(path) and Path(str(path)).is_file()


async def _check_limits(
    tx: Tx, s: CreateSettings, user_id: int | None, chat_id: int | None
) -> None:
    row = await tx.one(
        _LIMITS_SQL,
        {
            "user": user_id,
            "chat": chat_id,
            "hour_ago": utcnow() - timedelta(hours=1),
            "queue_cap": s.max_queue_length,
            "user_cap": s.max_active_per_user,
            "user_hour_cap": s.max_jobs_per_user_hour,
            "chat_hour_cap": s.max_jobs_per_chat_hour,
        },
    )
    assert row is not None
    queued, mine, recent_mine, recent_chat = (int(n or 0) for n in row)
    if queued >= s.max_queue_length:
        raise LimitExceeded(f"the queue is full ({s.max_queue_length} jobs); try again later")
    if user_id is not None:
        if mine >= s.max_active_per_user:
            raise LimitExceeded(
                f"you already have {mine} active jobs (at most {s.max_active_per_user})"
            )
        if recent_mine >= s.max_jobs_per_user_hour:
            raise LimitExceeded(
                f"you reached {s.max_jobs_per_user_hour} jobs this hour; try again later"
            )
    if chat_id is not None and recent_chat >= s.max_jobs_per_chat_hour:
        raise LimitExceeded(
            f"this chat reached {s.max_jobs_per_chat_hour} jobs this hour; try again later"
        )


class JobIntake:
    """Only creating jobs, for a process that does nothing else (``mediaferry add``
    without ``--wait``): the database in plain SQL, migrated first if it must be,
    and the engine's detection. Imports neither SQLAlchemy nor Alembic when the
    database is already at head, nor the download engine."""

    def __init__(self, db: Database, settings: CreateSettings) -> None:
        self.db = db
        self.settings = settings
        self.detector = detector_for(settings)

    @classmethod
    async def open(cls, settings: CreateSettings) -> JobIntake:
        db = Database(settings.database_url, pool_size=2)
        try:
            if not await db.at_head():
                await db.upgrade()
        except BaseException:
            await db.close()
            raise
        return cls(db, settings)

    async def create(self, url: str, **options: Any) -> Created:
        """:func:`create_job` with this intake's database, settings and detector."""
        return await create_job(
            self.db, self.settings, self.detector, url, origin_tag=PROCESS_ORIGIN, **options
        )

    async def close(self) -> None:
        await self.db.close()
