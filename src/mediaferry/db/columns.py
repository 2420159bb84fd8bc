"""The ``jobs`` table's columns as plain data, for code that reads rows without the ORM.

Which columns hold datetimes (UTC), JSON and booleans decides how a raw row becomes
the values the ORM would give (:class:`mediaferry.db.raw.RowReader`). Standard library
only, so the light ``add`` path reads rows without importing SQLAlchemy; a test checks
this list against :class:`mediaferry.db.models.Job`, column by column.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["JOB_COLUMNS", "utcnow"]

_DT, _JSON, _BOOL = "datetime", "json", "bool"

#: (name, kind) of every column of ``jobs``, in table order; kind is "" for values
#: the drivers already give as Python wants them
JOB_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", ""),
    ("url", ""),
    ("normalized_url", ""),
    ("domain", ""),
    ("source_type", ""),
    ("job_type", ""),
    ("requested_quality", ""),
    ("status", ""),
    ("stage", ""),
    ("attempts", ""),
    ("max_attempts", ""),
    ("not_before", _DT),
    ("job_key", ""),
    ("media_id", ""),
    ("user_id", ""),
    ("chat_id", ""),
    ("message_id", ""),
    ("progress_message_id", ""),
    ("priority", ""),
    ("archive", _BOOL),
    ("origin", ""),
    ("auth_profile_id", ""),
    ("title", ""),
    ("final_title", ""),
    ("bytes_done", ""),
    ("bytes_total", ""),
    ("speed", ""),
    ("eta", ""),
    ("file_path", ""),
    ("file_size", ""),
    ("sha256", ""),
    ("telegram_file_id", ""),
    ("meta", _JSON),
    ("error_type", ""),
    ("error_message", ""),
    ("cancel_requested", _BOOL),
    ("worker_id", ""),
    ("heartbeat_at", _DT),
    ("created_at", _DT),
    ("updated_at", _DT),
    ("started_at", _DT),
    ("finished_at", _DT),
)


def utcnow() -> datetime:
    """Now, aware, in UTC: what every timestamp column stores."""
    return datetime.now(UTC)
