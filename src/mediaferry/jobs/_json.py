"""The stable JSON shape of a job, kept free of heavy imports.

The REST API, the bot's admin views and the CLI all print jobs this way; the CLI's
read-only commands (``jobs --json``, ``job ID --json``) build it from plain rows
without loading the ORM (see :mod:`mediaferry.jobs.readonly`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["job_to_dict"]


def job_to_dict(job: Any, events: Sequence[Any] | None = None) -> dict[str, Any]:
    """The stable JSON shape of a job (CLI ``--json`` and the REST API).

    ``job`` is a :class:`~mediaferry.db.models.Job` or anything with the same
    attributes (the CLI's read-only rows); ``events`` likewise :class:`JobEvent` s."""
    out: dict[str, Any] = {
        "id": job.id,
        "url": job.url,
        "source_type": job.source_type,
        "job_type": job.job_type,
        "quality": job.requested_quality,
        "status": job.status,
        "stage": job.stage,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "title": job.final_title or job.title,
        # the performer the result was tagged and sent with (or the Telegram document's)
        "performer": _performer(job),
        "media_id": job.media_id,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
        "speed": job.speed,
        "eta": job.eta,
        "error_type": job.error_type,
        "error_message": job.error_message,
        "file_path": job.file_path,
        "file_size": job.file_size,
        "sha256": job.sha256,
        "archive": job.archive,
        "user_id": job.user_id,
        "chat_id": job.chat_id,
        "not_before": job.not_before.isoformat() if job.not_before else None,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "updated_at": job.updated_at.isoformat() if job.updated_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    telegram = (job.meta or {}).get("telegram")
    if isinstance(telegram, dict) or job.source_type == "TELEGRAM":
        # Telegram jobs (issue 10): where the file came from (null until METADATA knows)
        about = telegram if isinstance(telegram, dict) else {}
        out["chat"] = about.get("chat")
        out["message_id"] = about.get("message_id")
        out["message_date"] = about.get("date")
        out["caption"] = about.get("caption") or None
    if events is not None:
        out["events"] = [
            {
                "id": e.id,
                "type": e.event_type,
                "data": e.data or {},
                "at": e.created_at.isoformat(),
            }
            for e in events
        ]
    return out


def _performer(job: Any) -> str | None:
    meta = job.meta or {}
    processed = meta.get("processed") or {}
    telegram = meta.get("telegram") or {}
    value = processed.get("performer") or telegram.get("performer")
    return str(value) if value else None
