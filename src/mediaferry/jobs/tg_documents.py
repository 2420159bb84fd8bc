"""Telegram documents met before (issue 10): one document, one job, one library file,
however it is reached.

A Telegram file keeps its document id wherever it is posted, reposted or forwarded.
``telegram_documents`` maps a document (id, size) to the job that fetched it and to the
library item its file became; ``channel_messages`` maps a chat's message to its
document. With them:

- creating a job (:mod:`mediaferry.jobs.tg_dedup`, plain SQL) takes a ``t.me`` link to
  a message seen before (listed by ``tg archive``, or described for another job) as its
  document, without asking Telegram: the job holding that document is a duplicate
  (for a request to archive, only if that job archives it);
- the METADATA stage of any other Telegram job (:meth:`TelegramDocuments.described`),
  a ``t.me`` link's or a file's sent to the bot, remembers the document its message
  holds and, when that document is already in the library, takes the library's file
  instead of downloading it again: the new message just points at the item (the
  archiver links messages and documents to their item); else the file another job
  fetched, if still in the temp folder (:mod:`mediaferry.jobs.earlier`). A job meeting
  a document that the job holding it is fetching right now (two links to one unseen
  document, queued together) waits for that job and takes its file.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mediaferry.db.models import (
    ChannelMessage,
    Job,
    MediaItem,
    TelegramChannel,
    TelegramDocument,
    utcnow,
)
from mediaferry.jobs.earlier import EarlierResults, Reused
from mediaferry.jobs.tg_dedup import DocRef, has_result
from mediaferry.plan import KEEP_ORIGINAL, MediaPlan

if TYPE_CHECKING:
    from mediaferry.db.engine import Database
    from mediaferry.jobs.control import JobControl
    from mediaferry.media.result import Processed

__all__ = ["LibraryItemHook", "TelegramDocuments"]

log = logging.getLogger(__name__)

# (job, library item id) -> the item's file as this job's result, if still intact
LibraryItemHook = Callable[[Job, int], Awaitable["Processed | None"]]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TelegramDocuments:
    """The pipeline's hook after METADATA for Telegram files (see the module doc)."""

    def __init__(
        self,
        db: Database,
        library_item: LibraryItemHook | None = None,
        earlier: EarlierResults | None = None,
        wait_s: float = 3600.0,
    ) -> None:
        self.db = db
        self.library_item = library_item
        self.earlier = earlier
        self.wait_s = wait_s  # the longest wait for another job fetching the document

    async def described(self, job: Job, plan: MediaPlan, ctl: JobControl) -> Reused | None:
        """Remember the document the job's message holds; its library file, if it has
        one, instead of a download, else the file another job fetched (waited for while
        that job is fetching it). Only for files kept as they came (a job that makes
        something else of the file, e.g. audio of a video, downloads)."""
        info = plan.extra.get("telegram")
        if not isinstance(info, dict) or not plan.extra.get(KEEP_ORIGINAL):
            return None
        document_id = _int(info.get("document_id"))
        if document_id is None:
            return None
        doc = DocRef(document_id, plan.size)
        item_id, holder = await self._remember_retried(job, doc, info, plan)
        if info.get("chat_id") is not None and job.media_id != doc.media_id:
            # a t.me link's job: the library knows its file by the document
            await ctl.save(media_id=doc.media_id)
        if self.earlier is not None and item_id is None and holder not in (None, job.id):
            assert holder is not None
            if await self.earlier.running(holder):  # fetching it now: wait, not twice
                await self.earlier.wait_for(holder, ctl, self.wait_s)
                item_id = await self._item_of(doc)
        if item_id is not None and self.library_item is not None:
            kept = await self.library_item(job, item_id)
            if kept is not None:
                log.info("document %d is in the library already: not downloaded again",
                         document_id, extra={"job_id": job.id})  # fmt: skip
                return Reused(kept)
        if self.earlier is None:
            return None
        return await self.earlier.find(
            job, media_id=doc.media_id, job_ids=() if holder is None else (holder,)
        )

    async def _item_of(self, doc: DocRef) -> int | None:
        async with self.db.session() as session:
            known = await session.get(TelegramDocument, doc.document_id)
        if known is None or (doc.size is not None and known.size != doc.size):
            return None
        return known.media_item_id

    async def _remember_retried(
        self, job: Job, doc: DocRef, info: dict[str, Any], plan: MediaPlan
    ) -> tuple[int | None, int | None]:
        """:meth:`_remember`, once more if another job inserted the same rows at once."""
        try:
            return await self._remember(job, doc, info, plan)
        except IntegrityError:
            return await self._remember(job, doc, info, plan)

    async def _remember(
        self, job: Job, doc: DocRef, info: dict[str, Any], plan: MediaPlan
    ) -> tuple[int | None, int | None]:
        """Upsert the chat, the message and the document; the document's library item
        (None when it has none, or the same id comes with another size) and the job
        holding it."""
        chat_id, message_id = _int(info.get("chat_id")), _int(info.get("message_id"))
        async with self.db.session() as session:
            if chat_id is not None and message_id is not None:  # a chat's message (t.me)
                if await session.get(TelegramChannel, chat_id) is None:
                    session.add(TelegramChannel(
                        id=chat_id, title=info.get("chat"), username=info.get("username"),
                        last_message_id=0, updated_at=utcnow(),
                    ))  # fmt: skip
                row = (
                    await session.scalars(
                        select(ChannelMessage).where(
                            ChannelMessage.channel_id == chat_id,
                            ChannelMessage.message_id == message_id,
                        )
                    )
                ).first()
                if row is None:
                    session.add(ChannelMessage(
                        channel_id=chat_id, message_id=message_id,
                        file_unique_id=str(doc.document_id), size=doc.size,
                        mime=(plan.mime or "")[:128] or None, state="QUEUED", job_id=job.id,
                        grouped_id=_int(info.get("grouped_id")),
                    ))  # fmt: skip
                else:
                    row.file_unique_id = str(doc.document_id)
                    row.grouped_id = _int(info.get("grouped_id"))
                    row.job_id = row.job_id or job.id
            known = await session.get(TelegramDocument, doc.document_id)
            if known is None:
                session.add(TelegramDocument(
                    document_id=doc.document_id, access_hash=_int(info.get("access_hash")) or 0,
                    size=doc.size or 0, job_id=job.id, chat_id=chat_id, message_id=message_id,
                ))  # fmt: skip
                return None, job.id
            if doc.size is not None and known.size != doc.size:
                return None, None
            if known.job_id != job.id:
                former = await session.get(Job, known.job_id) if known.job_id else None
                if former is None or not has_result(
                    former.status, former.telegram_file_id, former.file_path
                ):
                    known.job_id = job.id
            if known.media_item_id is None:  # archived before items were linked
                known.media_item_id = await session.scalar(
                    select(MediaItem.id)
                    .where(MediaItem.media_id == doc.media_id)
                    .order_by(MediaItem.id.desc())
                    .limit(1)
                )
            return known.media_item_id, known.job_id
