"""Archive mode (DESIGN.md §9): keep delivered media in the library.

:class:`Archiver` is the last deliverer of a job whose request (``job.archive``) or
chat (``ChatSettings.archive_mode``) asks for it. It moves each part into
``ARCHIVE_ROOT/<source>/<yyyy-mm>/<title> [<id>].<ext>`` (updating the parts' paths
in place) and records one :class:`MediaItem` per part, from the size, sha256 and
probe VALIDATE measured: nothing is probed or hashed again. It does not write the job;
the pipeline saves the moved paths and the final transition records ``file_path``.
:meth:`Archiver.find_reusable` lets the pipeline serve a re-request from the archive
instead of downloading again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update

from mediaferry.db.models import (
    ChannelMessage,
    ChatSettings,
    Job,
    MediaItem,
    TelegramDocument,
    utcnow,
)
from mediaferry.delivery.base import Delivery, EventLog
from mediaferry.errors import MediaError
from mediaferry.files.template import render_template
from mediaferry.media.postprocess import runner_for
from mediaferry.media.probe import ProbeInfo, probe
from mediaferry.media.result import Kind, Part, Processed
from mediaferry.media.validate import sha256_file
from mediaferry.plan import REPLY_ARCHIVED, REPLY_KEY, TELEGRAM_DOCUMENT

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.db.engine import Database
    from mediaferry.files.storage import Storage

__all__ = ["MTPROTO_SEND_LIMIT", "REUSED_KEY", "Archiver", "result_limit", "thumbnail_beside"]

log = logging.getLogger(__name__)

REUSED_KEY = "reused_archive"  # set in job.meta by the pipeline's re-use hook
MTPROTO_SEND_LIMIT = 2000 * 1024 * 1024  # what the bot sends whole over MTProto
_PART_SUFFIX = re.compile(r" \(part \d+ of \d+\)$")


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


class Archiver:
    """A :class:`~mediaferry.delivery.base.Deliverer` that archives, run last."""

    order = 100  # after every deliverer that reads the temp files (Telegram upload)

    def __init__(self, settings: Settings, db: Database, storage: Storage) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage
        self.runner = runner_for(settings)

    # -- deliverer ---------------------------------------------------------
    def wants(self, job: Job) -> bool:
        """Cheap pre-check; a chat's archive mode is read from the DB in ``deliver``."""
        reused = bool((job.meta or {}).get(REUSED_KEY))
        return bool(job.archive) or job.chat_id is not None or reused

    async def archive_wanted(self, job: Job) -> bool:
        """True when the job, or its chat's settings, ask for the archive."""
        if job.archive:
            return True
        if job.chat_id is None:
            return False
        async with self.db.session() as session:
            chat = await session.get(ChatSettings, job.chat_id)
        return bool(chat is not None and chat.archive_mode)

    async def deliver(self, job: Job, processed: Processed, events: EventLog) -> Delivery:
        """Move the parts into the archive (their paths change in ``processed``) and
        record them in the library."""
        in_archive = all(_inside(p.path, self.storage.archive_root) for p in processed.parts)
        if not (in_archive or await self.archive_wanted(job)):
            return Delivery()
        when = utcnow()
        total = len(processed.parts)
        for number, part in enumerate(processed.parts, start=1):
            if not _inside(part.path, self.storage.archive_root):
                title = _title_of(processed, part, number, total)
                named = templated_path(job, processed, part.path.suffix)  # issue 10
                dest = (
                    self.storage.archive_path_relative(named)
                    if named is not None
                    else self.storage.archive_path_for(
                        job.source_type, title, job.media_id, part.path.suffix, when
                    )
                )
                part.path = await asyncio.to_thread(self.storage.move_into_archive, part.path, dest)
                log.info("archived %s", dest, extra={"job_id": job.id})
                await self._keep_thumbnail(part)
        await self._keep_extras(job, processed, when)
        items = await self._record(job, processed)
        await self._link_document(job, items)
        data: dict[str, Any] = {"paths": [i.path for i in items], "items": [i.id for i in items]}
        if processed.extras:
            data["extras"] = [str(extra) for extra in processed.extras]
        return Delivery("ARCHIVED", data, moved=not in_archive)

    async def _keep_extras(self, job: Job, processed: Processed, when: datetime) -> None:
        """The download's other files (a torrent's cover, notes) go into the archive too,
        named after the result: nothing of it is silently dropped."""
        kept: list[Path] = []
        for extra in processed.extras:
            if _inside(extra, self.storage.archive_root) or not extra.is_file():
                kept.append(extra)
                continue
            dest = self.storage.archive_path_for(
                job.source_type, f"{processed.title or 'untitled'} - {extra.stem}",
                job.media_id, extra.suffix or ".bin", when,
            )  # fmt: skip
            kept.append(await asyncio.to_thread(self.storage.move_into_archive, extra, dest))
        processed.extras = kept

    async def _keep_thumbnail(self, part: Part) -> None:
        """The part's thumbnail goes beside it as ``<name>.jpg`` (what media servers look
        for), so a re-send from the archive has its picture too."""
        thumb = part.thumbnail
        sidecar = thumbnail_beside(part.path)
        if thumb is None or sidecar is None or not thumb.is_file():
            return
        try:
            part.thumbnail = await asyncio.to_thread(self.storage.move_into_archive, thumb, sidecar)
        except OSError as exc:  # a missing thumbnail never fails a job
            log.warning("thumbnail not archived: %s", exc)

    async def _record(self, job: Job, processed: Processed) -> list[MediaItem]:
        """One MediaItem per part (existing ones are kept), in one transaction."""
        paths = [str(p.path) for p in processed.parts]
        async with self.db.session() as session:
            found = await session.scalars(select(MediaItem).where(MediaItem.path.in_(paths)))
            existing = {item.path: item for item in found.all()}
        items: list[MediaItem] = []
        for number, part in enumerate(processed.parts, start=1):
            item = existing.get(str(part.path))
            if item is None:
                item = await self._new_item(job, processed, part, number)
            items.append(item)
        new = [i for i in items if i.id is None]
        if new:
            async with self.db.session() as session:
                session.add_all(new)
        return items

    async def _link_document(self, job: Job, items: Sequence[MediaItem]) -> None:
        """A Telegram document's file is in the library (issue 10): the document and
        every message holding it point at its item, so the document is not fetched
        again for another message (jobs/tg_documents.py)."""
        document_id = _telegram(job).get("document_id")
        if not isinstance(document_id, int) or len(items) != 1 or items[0].id is None:
            return
        item_id = items[0].id
        async with self.db.session() as session:
            await session.execute(
                update(TelegramDocument)
                .where(TelegramDocument.document_id == document_id)
                .values(media_item_id=item_id)
            )
            await session.execute(
                update(ChannelMessage)
                .where(ChannelMessage.file_unique_id == str(document_id))
                .values(media_item_id=item_id)
            )

    async def _new_item(self, job: Job, processed: Processed, part: Part, number: int) -> MediaItem:
        info = part.probe
        if info is None and processed.kind != "document":
            info = await self._probe(part.path)  # a result saved before probes were kept
        size = part.path.stat().st_size
        sha = part.sha256 if size == part.size else None
        if sha is None:
            sha = await sha256_file(part.path)
        return MediaItem(
            job_id=job.id,
            job_key=job.job_key,
            path=str(part.path),
            title=_title_of(processed, part, number, len(processed.parts)),
            performer=part.performer or processed.performer,
            album=processed.album,
            duration=part.duration if part.duration is not None else _duration(info),
            container=info.format_name.split(",")[0][:32] if info else None,
            video_codec=info.video.codec[:32] if info and info.video else None,
            audio_codec=info.audio.codec[:32] if info and info.audio else None,
            file_format=(part.path.suffix.lstrip(".").lower() or None),
            size=size,
            sha256=sha,
            source_type=job.source_type,
            origin_url=job.url,
            media_id=job.media_id,
            chat_id=job.chat_id,
            channel_id=_telegram(job).get("chat_id"),  # issue 10: the Telegram chat
            message_id=_telegram(job).get("message_id"),
            created_at=utcnow(),
        )

    async def _probe(self, path: Path) -> ProbeInfo | None:
        try:
            return await probe(path, runner=self.runner)
        except MediaError:
            return None

    # -- re-use ------------------------------------------------------------
    async def find_reusable(self, job: Job) -> Processed | None:
        """The archived result of the same media (same job key, or same source and
        media id for the same job type) whose files are all still there, unchanged."""
        same_media = []
        if job.media_id and job.media_id.startswith(TELEGRAM_DOCUMENT):
            # a Telegram document is kept as it came: the same file whatever the job type
            same_media.append(MediaItem.media_id == job.media_id)
        elif job.media_id:
            kind = (
                MediaItem.video_codec.is_not(None)
                if job.job_type == "video"
                else and_(MediaItem.video_codec.is_(None), MediaItem.audio_codec.is_not(None))
            )
            same_media.append(
                and_(
                    MediaItem.source_type == job.source_type,
                    MediaItem.media_id == job.media_id,
                    kind,
                )
            )
        async with self.db.session() as session:
            rows = await session.scalars(
                select(MediaItem)
                .where(or_(MediaItem.job_key == job.job_key, *same_media))
                .order_by(MediaItem.id.desc())
                .limit(50)
            )
            found = list(rows.all())
        groups: dict[int | None, list[MediaItem]] = {}
        for item in found:
            groups.setdefault(item.job_id, []).append(item)
        for items in groups.values():  # newest archived first
            items.sort(key=lambda i: i.id)
            if await self._intact(job, items):
                return await self._processed(items)
        return None

    async def item_result(self, job: Job, item_id: int) -> Processed | None:
        """The library item ``item_id`` as ``job``'s result, if its file is intact."""
        async with self.db.session() as session:
            item = await session.get(MediaItem, item_id)
        if item is None or not await self._intact(job, [item]):
            return None
        return await self._processed([item])

    async def _intact(self, job: Job, items: Sequence[MediaItem]) -> bool:
        limit = result_limit(self.settings, job)
        for item in items:
            path = Path(item.path)
            if not path.is_file() or path.stat().st_size != item.size or item.size > limit:
                return False
            if item.sha256 and await sha256_file(path) != item.sha256:
                log.warning("archived file changed on disk: %s", path, extra={"job_id": job.id})
                return False
        return True

    async def _processed(self, items: Sequence[MediaItem]) -> Processed:
        parts: list[Part] = []
        for item in items:
            path = Path(item.path)
            info = await self._probe(path) if item.video_codec else None
            width, height = info.display_size if info else (None, None)
            sidecar = thumbnail_beside(path)
            thumb = sidecar if sidecar is not None and sidecar.is_file() else None
            parts.append(
                Part(path, item.size, item.duration, width, height, thumb, info, item.sha256)
            )
        first = items[0]
        kind: Kind = "video" if first.video_codec else "audio" if first.audio_codec else "document"
        title = _PART_SUFFIX.sub("", first.title or "") or None
        return Processed(kind, parts, title, first.performer, first.album)


def result_limit(settings: Settings, job: Job) -> int:
    """The largest file a result of ``job`` may be: the server's limit, and what can be
    sent to the job's chat (2000 MB when the bot sends over MTProto); a file sent to be
    archived only gets a confirmation back."""
    limit = settings.max_file_size_bytes
    if job.chat_id is not None and (job.meta or {}).get(REPLY_KEY) != REPLY_ARCHIVED:
        bot_mtproto = settings.bot_mtproto_enabled
        limit = min(limit, MTPROTO_SEND_LIMIT if bot_mtproto else settings.upload_limit_bytes)
    return limit


def _telegram(job: Job) -> dict[str, Any]:
    value = (job.meta or {}).get("telegram")
    return value if isinstance(value, dict) else {}


def templated_path(job: Job, processed: Processed, suffix: str) -> PurePosixPath | None:
    """The archive path a job's template asks for (Telegram archiving), or None."""
    meta = job.meta or {}
    template = meta.get("archive_template")
    if not template:
        return None
    values = {k: str(v) for k, v in (meta.get("template_values") or {}).items() if v is not None}
    values["title"] = processed.title or values.get("title") or "untitled"
    values["performer"] = processed.performer or values.get("performer") or "Unknown"
    if processed.album:
        values["album"] = processed.album
    values["ext"] = suffix.lstrip(".").lower() or values.get("ext") or "bin"
    return render_template(str(template), values)


def thumbnail_beside(path: Path) -> Path | None:
    """Where an archived file's thumbnail lives: same name, ``.jpg`` (none for images)."""
    if path.suffix.lower() in {".jpg", ".jpeg"}:
        return None
    return path.with_suffix(".jpg")


def _title_of(processed: Processed, part: Part, number: int, total: int) -> str | None:
    """A collection's parts (an album's tracks) have their own titles; a split file's
    parts are numbered."""
    if processed.collection and part.title:
        return part.title
    return _part_title(processed.title, number, total)


def _part_title(title: str | None, number: int, total: int) -> str | None:
    if total == 1:
        return title
    return f"{title or 'untitled'} (part {number} of {total})"


def _duration(info: ProbeInfo | None) -> float | None:
    return info.duration if info else None
