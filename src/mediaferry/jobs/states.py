"""Job statuses, stages and the one transition table (DESIGN.md §4)."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ACTIVE_STATUSES",
    "FINISHED_STATUSES",
    "TRANSITIONS",
    "JobStatus",
    "JobType",
    "Stage",
    "allowed_from",
    "is_allowed",
]


class JobStatus(StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class Stage(StrEnum):
    METADATA = "METADATA"
    CHECK = "CHECK"
    DOWNLOAD = "DOWNLOAD"
    POSTPROCESS = "POSTPROCESS"
    VALIDATE = "VALIDATE"
    DELIVER = "DELIVER"


class JobType(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"


S = JobStatus
TRANSITIONS: frozenset[tuple[JobStatus, JobStatus]] = frozenset(
    {
        (S.PENDING, S.QUEUED),
        (S.QUEUED, S.RUNNING),
        (S.RUNNING, S.COMPLETED),
        (S.RUNNING, S.FAILED),
        (S.RUNNING, S.PENDING),  # retry scheduled, or stale recovery
        (S.PENDING, S.FAILED),
        (S.QUEUED, S.FAILED),
        (S.PENDING, S.CANCELLED),
        (S.QUEUED, S.CANCELLED),
        (S.RUNNING, S.CANCELLED),
        (S.FAILED, S.PENDING),  # manual retry
    }
)

ACTIVE_STATUSES: frozenset[JobStatus] = frozenset({S.PENDING, S.QUEUED, S.RUNNING})
FINISHED_STATUSES: frozenset[JobStatus] = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED})


def is_allowed(src: JobStatus, dst: JobStatus) -> bool:
    return (src, dst) in TRANSITIONS


def allowed_from(dst: JobStatus) -> list[JobStatus]:
    """Every status from which ``dst`` may be reached, in a stable order."""
    return [s for s in JobStatus if (s, dst) in TRANSITIONS]
