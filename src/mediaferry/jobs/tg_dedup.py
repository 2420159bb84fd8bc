"""Telegram documents when a job is created (issue 10), in plain SQL on a
:class:`~mediaferry.db.raw.Tx`: the light ``add`` path imports no SQLAlchemy.

A Telegram file keeps its document id wherever it is posted, reposted or forwarded.
``channel_messages`` maps a chat's message to its document, ``telegram_documents`` a
document (id, size) to the job holding it. The document a ``t.me`` link's job is about
is found without asking Telegram: named by the caller (``tg archive``, follows) or by
the bot keyboard's estimate (:func:`named_document`), or the document of a message seen
before (:func:`document_of_link`: listed by ``tg archive``, or described for another
job, see :mod:`mediaferry.jobs.tg_documents`). :func:`~mediaferry.jobs.create.create_job` then
returns the job holding that document as a duplicate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mediaferry.jobs.states import ACTIVE_STATUSES, JobStatus
from mediaferry.plan import TELEGRAM_DOCUMENT, MediaPlan

if TYPE_CHECKING:
    from mediaferry.db.raw import Tx
    from mediaferry.telegram.links import MessageLink

__all__ = [
    "HOLDER_CONDITION",
    "LIBRARY_ITEM_SQL",
    "DocRef",
    "document_of_link",
    "hand_over",
    "has_result",
    "holder_params",
    "named_document",
    "parse_media_id",
]


@dataclass(frozen=True, slots=True)
class DocRef:
    """A Telegram document: its id, and its size when known (the same id with another
    size is not the same file)."""

    document_id: int
    size: int | None = None

    @property
    def media_id(self) -> str:
        return f"{TELEGRAM_DOCUMENT}{self.document_id}"


def parse_media_id(media_id: str | None) -> int | None:
    """The document id of a ``tgdoc:<id>`` media id, else None."""
    if not media_id or not media_id.startswith(TELEGRAM_DOCUMENT):
        return None
    try:
        return int(media_id.removeprefix(TELEGRAM_DOCUMENT))
    except ValueError:
        return None


def has_result(status: str, telegram_file_id: str | None, file_path: str | None) -> bool:
    """An active job, or a completed one whose result still exists (a Telegram file id,
    or its file on disk): what a job holding a document may be."""
    if JobStatus(status) in ACTIVE_STATUSES:
        return True
    if status != JobStatus.COMPLETED:
        return False
    return bool(telegram_file_id) or bool(file_path and os.path.isfile(file_path))


# the job holding a document: ``WHERE id = (…)`` with :func:`holder_params`
HOLDER_CONDITION = (
    "id = (SELECT job_id FROM telegram_documents WHERE document_id = :doc"
    " AND (size = :size OR :any_size = 1))"
)


# the library item holding a document: (path, job id), with :func:`holder_params`
LIBRARY_ITEM_SQL = (
    "SELECT i.path, i.job_id FROM telegram_documents d JOIN media_items i"
    " ON i.id = d.media_item_id WHERE d.document_id = :doc AND (d.size = :size OR :any_size = 1)"
)


def holder_params(doc: DocRef) -> dict[str, Any]:
    return {"doc": doc.document_id, "size": doc.size or 0, "any_size": int(doc.size is None)}


_LINK_BY_NAME_SQL = (
    "SELECT m.file_unique_id, m.size, m.grouped_id FROM channel_messages m"
    " JOIN telegram_channels c ON c.id = m.channel_id"
    " WHERE c.username = :username AND m.message_id = :message_id"
)
_LINK_BY_ID_SQL = (
    "SELECT file_unique_id, size, grouped_id FROM channel_messages"
    " WHERE channel_id = :channel_id AND message_id = :message_id"
)


async def document_of_link(tx: Tx, link: MessageLink) -> DocRef | None:
    """The document of the message ``link`` names, if that message was seen before.
    None for an item of an album linked without ``?single`` (the link is the album)."""
    if link.chat.username:
        params: dict[str, Any] = {"username": link.chat.username, "message_id": link.message_id}
        row = await tx.one(_LINK_BY_NAME_SQL, params)
    elif link.chat.channel_id is not None:
        params = {"channel_id": link.chat.channel_id, "message_id": link.message_id}
        row = await tx.one(_LINK_BY_ID_SQL, params)
    else:
        return None
    if row is None or not row[0] or (row[2] is not None and not link.single):
        return None
    try:
        document_id = int(row[0])
    except ValueError:
        return None
    return DocRef(document_id, int(row[1]) if row[1] is not None else None)


def named_document(
    media_id: str | None, meta: dict[str, Any] | None, plan: MediaPlan | None
) -> DocRef | None:
    """The Telegram document a job's caller names: its ``media_id`` (with the size in
    ``meta``, as ``tg archive`` and follows give it), else the keyboard's ``plan``."""
    about = (meta or {}).get("telegram")
    size = about.get("size") if isinstance(about, dict) else None
    named = parse_media_id(media_id)
    if named is not None:
        return DocRef(named, size if isinstance(size, int) else None)
    if plan is not None and plan.entries is None:
        described = parse_media_id(plan.media_id)
        if described is not None:
            return DocRef(described, plan.size)
    return None


async def hand_over(tx: Tx, doc: DocRef, job_id: int) -> None:
    """``job_id`` now holds ``doc`` (its former job failed, or its file is gone)."""
    await tx.run(
        "UPDATE telegram_documents SET job_id = :job WHERE document_id = :doc",
        {"job": job_id, "doc": doc.document_id},
    )
