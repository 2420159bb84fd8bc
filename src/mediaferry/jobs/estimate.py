"""What a link is, before a job exists: for the bot's quality keyboard.

:meth:`JobService.estimate <mediaferry.jobs.service.JobService.estimate>` describes a
link once (size, duration, the real qualities with their sizes) and hands back the
plan; the job created from the user's choice keeps it (``meta["described"]``), so the
pipeline's METADATA stage re-uses it instead of extracting the link a second time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mediaferry.db.columns import utcnow
from mediaferry.plan import JobRequest, MediaPlan, SourceType, plan_from_dict, plan_to_dict

__all__ = [
    "DESCRIBED_KEY",
    "ESTIMATE_JOB_TYPE",
    "ESTIMATE_QUALITY",
    "Describer",
    "Estimate",
    "described_meta",
    "kept_plan",
]

Describer = Callable[[JobRequest, SourceType], Awaitable[MediaPlan]]
DESCRIBED_KEY = "described"
# what the keyboard's description asks for; a job that wants something else re-plans
# from the kept yt-dlp info (or describes again, for other sources)
ESTIMATE_JOB_TYPE = "video"
ESTIMATE_QUALITY = "best"


@dataclass(slots=True)
class Estimate:
    """What the keyboard can say about a link before anything is downloaded."""

    source: SourceType
    size: int | None = None
    duration: float | None = None
    qualities: dict[str, int | None] | None = None  # "720p" → estimated bytes
    plan: MediaPlan | None = None  # the description; the job created from it keeps it


def described_meta(plan: MediaPlan) -> dict[str, Any]:
    """The ``meta["described"]`` entry of a job created from an estimate."""
    return {
        "at": utcnow().isoformat(),
        "job_type": ESTIMATE_JOB_TYPE,
        "quality": ESTIMATE_QUALITY,
        "plan": plan_to_dict(plan),
    }


def kept_plan(
    entry: Any, job_id: int, url: str, max_age_s: float
) -> tuple[MediaPlan, JobRequest, float] | None:
    """The kept plan, the request it was described for and its age in seconds, if it
    is younger than ``max_age_s``; None when absent, unreadable or stale."""
    if not isinstance(entry, dict) or max_age_s <= 0:
        return None
    try:
        age = (utcnow() - datetime.fromisoformat(str(entry["at"]))).total_seconds()
        plan = plan_from_dict(dict(entry["plan"]))
        described_for = JobRequest(job_id, url, str(entry["job_type"]), str(entry["quality"]))
    except (KeyError, TypeError, ValueError):
        return None
    if not 0 <= age <= max_age_s:
        return None
    return plan, described_for, age
