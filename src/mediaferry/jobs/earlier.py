"""Another job's downloaded file as this job's result (issue 10): nothing fetched twice.

A request to archive is answered only by a job that archives (see
:func:`mediaferry.jobs.create.insert_job`): ``mediaferry add URL`` and then
``add URL --archive`` (or ``tg archive`` of the chat a ``t.me`` link came from) are two
jobs. The second one need not download again while the first one's result is still in
the temp area: :meth:`EarlierResults.find` takes it, checked against the size and
sha256 VALIDATE measured, and hard-links it (or copies it, across file systems) into
the job's own temp folder, whose files the deliverers then use as if just downloaded
(the archiver moves them into the library; the earlier job keeps its own).

The same file is the same job key (any source), or the same Telegram document (its
media id ``tgdoc:<id>``, or the job holding it in ``telegram_documents``; such jobs keep
the document as it came, whatever their type). A job holding the document that is
still downloading it is waited for (:meth:`EarlierResults.wait_for`) instead of
downloading it a second time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from mediaferry.db.models import Job, TelegramDocument
from mediaferry.delivery.archive import result_limit
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.tg_dedup import parse_media_id
from mediaferry.media.result import Processed, processed_from_meta
from mediaferry.media.validate import sha256_file

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.db.engine import Database
    from mediaferry.files.storage import Storage
    from mediaferry.jobs.control import JobControl

__all__ = ["EarlierResults", "Reused"]

log = logging.getLogger(__name__)

_CANDIDATES = 10
_POLL_S = 0.25


@dataclass(slots=True)
class Reused:
    """A result nothing was downloaded for: the library's file (``from_job`` None) or
    the files of job ``from_job``, linked into this job's temp folder."""

    processed: Processed
    from_job: int | None = None
    telegram: dict[str, Any] | None = None  # the earlier job's Telegram details


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:  # another file system, or no hard links there
        shutil.copyfile(src, dest)


class EarlierResults:
    """Finds, checks and takes a completed job's files for another job (module doc)."""

    def __init__(self, settings: Settings, db: Database, storage: Storage) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage

    async def find(
        self, job: Job, *, media_id: str | None = None, job_ids: Collection[int] = ()
    ) -> Reused | None:
        """The newest completed job's result for the same file as ``job`` (its job key;
        the Telegram document ``media_id``, default the job's own; ``job_ids``) whose
        files are all still in the temp area, unchanged; linked into ``job``'s."""
        media_id = media_id or job.media_id
        document_id = parse_media_id(media_id)
        same = [Job.job_key == job.job_key]
        ids = set(job_ids)
        async with self.db.session() as session:
            if document_id is not None:  # a Telegram document is kept as it came
                same.append(Job.media_id == media_id)
                holder = await session.get(TelegramDocument, document_id)
                if holder is not None and holder.job_id is not None:
                    ids.add(holder.job_id)
            if ids:
                same.append(Job.id.in_(ids))
            rows = await session.scalars(
                select(Job)
                .where(or_(*same), Job.id != job.id, Job.status == JobStatus.COMPLETED.value)
                .order_by(Job.id.desc())
                .limit(_CANDIDATES)
            )
            candidates = list(rows.all())
        limit = result_limit(self.settings, job)
        for earlier in candidates:
            processed = self._in_temp(earlier)
            if processed is None or not await self._unchanged(processed, limit, earlier.id):
                continue
            taken = await asyncio.to_thread(self._take, job.id, earlier.id, processed)
            telegram = (earlier.meta or {}).get("telegram")
            log.info("the file of job %d is this job's result: not downloaded again",
                     earlier.id, extra={"job_id": job.id})  # fmt: skip
            return Reused(taken, earlier.id, telegram if isinstance(telegram, dict) else None)
        return None

    def _in_temp(self, earlier: Job) -> Processed | None:
        """The earlier job's result, if it is one file (or a collection: not a file
        split to fit Telegram) whose files are all in that job's temp folder."""
        saved = (earlier.meta or {}).get("processed")
        processed = processed_from_meta(saved) if isinstance(saved, dict) else None
        if processed is None or (len(processed.parts) > 1 and not processed.collection):
            return None
        home = (self.storage.jobs_root / str(earlier.id)).resolve()
        if not all(p.path.resolve().is_relative_to(home) for p in processed.parts):
            return None  # e.g. moved into the library: the archive's re-use finds it
        return processed

    async def _unchanged(self, processed: Processed, limit: int, earlier_id: int) -> bool:
        for part in processed.parts:
            size = part.path.stat().st_size
            if size != part.size or size > limit or not part.sha256:
                return False
            if await sha256_file(part.path) != part.sha256:
                log.warning("the file of job %d changed on disk: not used", earlier_id)
                return False
        return True

    def _take(self, job_id: int, earlier_id: int, processed: Processed) -> Processed:
        """Link (or copy) the files under ``job_id``'s temp folder, same relative paths."""
        home = (self.storage.jobs_root / str(earlier_id)).resolve()
        work = self.storage.tmp_dir_for(job_id)

        def taken(path: Path) -> Path:
            source = path.resolve()
            dest = work / source.relative_to(home)
            _link_or_copy(source, dest)
            return dest

        def optional(path: Path | None) -> Path | None:
            inside = path is not None and path.resolve().is_relative_to(home)
            return taken(path) if path is not None and inside and path.is_file() else None

        parts = [
            replace(p, path=taken(p.path), thumbnail=optional(p.thumbnail)) for p in processed.parts
        ]
        extras = [kept for e in processed.extras if (kept := optional(e)) is not None]
        return Processed(
            processed.kind, parts, processed.title, processed.performer, processed.album,
            extras=extras, collection=processed.collection,
        )  # fmt: skip

    async def running(self, job_id: int) -> bool:
        async with self.db.tx() as tx:
            row = await tx.one("SELECT status FROM jobs WHERE id = :id", {"id": job_id})
        return row is not None and row[0] == JobStatus.RUNNING.value

    async def wait_for(self, job_id: int, ctl: JobControl, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) while job ``job_id`` runs: it is fetching the
        same file. True if it stopped running in time."""
        await ctl.event("WAITING", {"message": f"job #{job_id} is fetching the same file"})
        deadline = time.monotonic() + timeout
        while await self.running(job_id):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_S)
        return True
