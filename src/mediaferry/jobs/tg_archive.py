"""Archive a Telegram chat's media (issue 10): one ordinary job per media message.

Lists the chat's history with the user account (paged, filtered server-side), and
creates one TELEGRAM job per matching message through the job service. The media id
of each job is the Telegram document id, so the same file posted in two chats (or
listed again) is one job: a second run returns the jobs as duplicates and downloads
nothing. ``telegram_channels.last_message_id`` is the chat's high-water mark: a run
over the whole chat (``--kind all``, no search, dates or limit) only lists newer
messages and returns the older ones' jobs from ``channel_messages``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from mediaferry.db.engine import Database
from mediaferry.db.models import ChannelMessage, Job, TelegramChannel, TelegramDocument, utcnow
from mediaferry.errors import LimitExceeded, UrlRejected
from mediaferry.files.template import DEFAULT_TEMPLATE, check_template
from mediaferry.jobs.service import JobService
from mediaferry.jobs.states import ACTIVE_STATUSES, JobStatus
from mediaferry.jobs.tg_dedup import DocRef
from mediaferry.telegram.chats import KINDS, Chat, Kind, MediaMessage, iter_media, resolve_chat
from mediaferry.telegram.clients import TelegramClients
from mediaferry.telegram.links import message_url, parse_chat

__all__ = ["ArchiveOptions", "ArchiveResult", "archive_chat", "check_options", "job_args_for"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ArchiveOptions:
    kind: str = "all"
    limit: int | None = None
    since: date | None = None
    until: date | None = None
    search: str | None = None
    template: str = DEFAULT_TEMPLATE
    priority: int = 0
    connections: int | None = None  # --parallel: kept on each job (None: TELEGRAM_CONNECTIONS)

    @property
    def whole_chat(self) -> bool:
        """A run that looks at every message: it may use and move the high-water mark."""
        return self.kind == "all" and not (self.search or self.since or self.until or self.limit)


@dataclass(slots=True)
class ArchiveResult:
    chat: Chat
    jobs: list[Job] = field(default_factory=list)
    created: int = 0
    duplicates: int = 0
    refused: list[dict[str, str]] = field(default_factory=list)
    listed: int = 0


def check_options(options: ArchiveOptions) -> None:
    """Bad options are one-line :class:`UrlRejected` errors, before anything is done."""
    if options.kind not in KINDS:
        raise UrlRejected(f"unknown --kind {options.kind!r}; use {', '.join(KINDS)}")
    if options.limit is not None and options.limit < 1:
        raise UrlRejected("--limit must be at least 1")
    if options.since and options.until and options.since > options.until:
        raise UrlRejected("--since is after --until")
    if options.connections is not None and not 1 <= options.connections <= 16:
        raise UrlRejected("--parallel must be between 1 and 16")
    if not -1000 <= options.priority <= 1000:
        raise UrlRejected("--priority must be between -1000 and 1000")
    check_template(options.template)


def _title(media: MediaMessage) -> str | None:
    if media.title:
        return media.title
    if media.file_name:
        return media.file_name.rsplit(".", 1)[0] or media.file_name
    line = next((ln.strip() for ln in media.caption.splitlines() if ln.strip()), "")
    return line[:200] or None


def _meta(
    chat: Chat, media: MediaMessage, template: str, connections: int | None = None
) -> dict[str, Any]:
    when = media.date
    telegram: dict[str, Any] = {
        "chat": chat.display,
        "chat_id": chat.id,
        "username": chat.username,
        "message_id": media.message_id,
        "document_id": media.document_id,
        "size": media.size,
        "kind": media.kind,
        "performer": media.performer,
        "caption": media.caption[:1000],
        "date": when.isoformat() if when else None,
    }
    if connections is not None:  # --parallel, for whichever process runs the job
        telegram["connections"] = connections
    return {
        "telegram": telegram,
        "archive_template": template,
        "template_values": {
            "chat": chat.display,
            "chat_id": chat.id,
            "username": chat.username or "",
            "performer": media.performer,
            "title": _title(media),
            "ext": media.ext,
            "message_id": media.message_id,
            "date": f"{when:%Y-%m-%d}" if when else "",
            "year": f"{when:%Y}" if when else "",
            "month": f"{when:%m}" if when else "",
            "document_id": media.document_id,
        },
    }


def job_args_for(
    chat: Chat, media: MediaMessage, template: str = DEFAULT_TEMPLATE
) -> dict[str, Any]:
    """What :meth:`JobService.create` needs for one media message besides its URL (also
    used by follows of Telegram chats): dedup by document id, the archive template."""
    audio = media.kind in ("audio", "voice")
    return {
        "job_type": "audio" if audio else "video",
        "quality": "audio" if audio else "best",
        "title": media.title,
        "media_id": DocRef(media.document_id).media_id,
        "meta": _meta(chat, media, template),
    }


async def _remember_chat(db: Database, chat: Chat) -> int:
    """Upsert the chat row; returns its high-water mark."""
    async with db.session() as session:
        row = await session.get(TelegramChannel, chat.id)
        if row is None:
            session.add(TelegramChannel(id=chat.id, title=chat.title, username=chat.username,
                                        last_message_id=0, updated_at=utcnow()))  # fmt: skip
            return 0
        row.title, row.username, row.updated_at = chat.title, chat.username, utcnow()
        return int(row.last_message_id or 0)


async def _record(db: Database, chat: Chat, done: list[tuple[MediaMessage, Job, bool]]) -> None:
    """One transaction per listed page: which job each message became, which job holds
    each document (dedup by document id), and the library item a message's document
    already has (the new message just points at it)."""
    if not done:
        return
    ids = [media.message_id for media, _, _ in done]
    docs = {media.document_id for media, _, _ in done}
    async with db.session() as session:
        found = await session.scalars(
            select(ChannelMessage).where(
                ChannelMessage.channel_id == chat.id, ChannelMessage.message_id.in_(ids)
            )
        )
        rows = {row.message_id: row for row in found.all()}
        held = await session.scalars(
            select(TelegramDocument).where(TelegramDocument.document_id.in_(docs))
        )
        known = {doc.document_id: doc for doc in held.all()}
        for media, job, created in done:
            doc = known.get(media.document_id)
            if doc is None:
                doc = TelegramDocument(
                    document_id=media.document_id, access_hash=media.access_hash,
                    size=media.size, job_id=job.id, chat_id=chat.id,
                    message_id=media.message_id,
                )  # fmt: skip
                known[media.document_id] = doc
                session.add(doc)
            elif created:  # its former job failed or lost its file: this one holds it
                doc.job_id = job.id
            row = rows.get(media.message_id)
            if row is None:
                session.add(ChannelMessage(
                    channel_id=chat.id, message_id=media.message_id,
                    file_unique_id=str(media.document_id), size=media.size,
                    mime=(media.mime or "")[:128] or None, state="QUEUED", job_id=job.id,
                    grouped_id=media.grouped_id, media_item_id=doc.media_item_id,
                ))  # fmt: skip
            else:
                row.job_id = job.id
                row.file_unique_id = str(media.document_id)
                row.grouped_id = media.grouped_id
                row.media_item_id = doc.media_item_id or row.media_item_id


async def _earlier_jobs(db: Database, chat: Chat, below: int) -> list[Job]:
    """The jobs of messages at or below the high-water mark (a whole-chat re-run)."""
    async with db.session() as session:
        ids = (
            await session.scalars(
                select(ChannelMessage.job_id)
                .where(
                    ChannelMessage.channel_id == chat.id,
                    ChannelMessage.message_id <= below,
                    ChannelMessage.job_id.is_not(None),
                )
                .order_by(ChannelMessage.message_id.desc())
            )
        ).all()
        if not ids:
            return []
        jobs = (await session.scalars(select(Job).where(Job.id.in_(set(ids))))).all()
    by_id = {j.id: j for j in jobs}
    seen: set[int] = set()
    out = []
    for jid in ids:
        if jid in by_id and jid not in seen:
            seen.add(jid)
            out.append(by_id[jid])
    return out


async def _first_unarchived(db: Database, chat: Chat, below: int) -> int | None:
    """The first message at or below the high-water mark whose job neither archives it
    nor failed, while its document is not in the library: a link added before a run
    answered by that job (as ``tg archive`` did before a request to archive had to be
    answered by a job that archives). A whole-chat run lists again from there."""
    async with db.session() as session:
        first = await session.scalar(
            select(ChannelMessage.message_id)
            .join(Job, Job.id == ChannelMessage.job_id)
            .where(
                ChannelMessage.channel_id == chat.id,
                ChannelMessage.message_id <= below,
                ChannelMessage.media_item_id.is_(None),
                Job.archive.is_(False),
                Job.status.in_([s.value for s in (*ACTIVE_STATUSES, JobStatus.COMPLETED)]),
            )
            .order_by(ChannelMessage.message_id)
            .limit(1)
        )
    return int(first) if first is not None else None


async def _set_mark(db: Database, chat: Chat, mark: int) -> None:
    async with db.session() as session:
        row = await session.get(TelegramChannel, chat.id)
        if row is not None and mark > int(row.last_message_id or 0):
            row.last_message_id = mark
            row.updated_at = utcnow()


async def archive_chat(
    jobs: JobService,
    telegram: TelegramClients,
    chat_text: str,
    options: ArchiveOptions,
) -> ArchiveResult:
    """Queue one job per matching media message of the chat ``chat_text`` names
    (through ``jobs``, whose database also keeps what was seen of the chat)."""
    check_options(options)
    db = jobs.db
    ref = parse_chat(chat_text)
    client = await telegram.user()
    chat = await resolve_chat(client, ref)
    if chat.kind != "channel":
        raise UrlRejected(
            f"{chat.display} is not a channel or supergroup; only those can be archived"
        )
    mark = await _remember_chat(db, chat)
    min_id = mark if options.whole_chat else 0
    if min_id and (unarchived := await _first_unarchived(db, chat, min_id)) is not None:
        min_id = unarchived - 1
    result = ArchiveResult(chat)
    highest = 0
    # the lowest message a job could not be made for (a full queue, a limit): the mark
    # stays below it, so the next whole-chat run lists it again
    retry_from: int | None = None
    kind: Kind = options.kind  # type: ignore[assignment]
    async for page in iter_media(
        client, chat, kind=kind, search=options.search, since=options.since,
        until=options.until, min_id=min_id, limit=options.limit,
    ):  # fmt: skip
        done: list[tuple[MediaMessage, Job, bool]] = []
        for media in page:
            result.listed += 1
            highest = max(highest, media.message_id)
            # an album's item alone (without ?single its link stands for the whole album)
            url = message_url(chat.ref, media.message_id, single=media.grouped_id is not None)
            if media.size == 0:
                result.refused.append({"url": url, "error": "the file is empty (0 bytes)"})
                continue
            audio = media.kind in ("audio", "voice")
            try:
                created = await jobs.create(
                    url,
                    job_type="audio" if audio else "video",
                    quality="audio" if audio else "best",
                    priority=options.priority,
                    archive=True,
                    origin="cli",
                    title=media.title,  # tags or the file name may name it later
                    media_id=DocRef(media.document_id).media_id,
                    meta=_meta(chat, media, options.template, options.connections),
                )
            except (UrlRejected, LimitExceeded) as exc:
                result.refused.append({"url": url, "error": exc.message})
                retry_from = min(retry_from or media.message_id, media.message_id)
                continue
            result.jobs.append(created.job)
            result.created += int(created.created)
            result.duplicates += int(not created.created)
            done.append((media, created.job, created.created))
        await _record(db, chat, done)
    if min_id:
        known = {j.id for j in result.jobs}
        earlier = [j for j in await _earlier_jobs(db, chat, min_id) if j.id not in known]
        result.jobs.extend(earlier)
        result.duplicates += len(earlier)
    if retry_from is not None:
        highest = min(highest, retry_from - 1)
    if options.whole_chat and highest > mark:
        await _set_mark(db, chat, highest)
    log.info(
        "archive of %s: %d listed, %d jobs created, %d duplicates, %d refused",
        chat.display, result.listed, result.created, result.duplicates, len(result.refused),
    )  # fmt: skip
    return result
