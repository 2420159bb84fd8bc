"""What a deliverer is, and what it reports back.

A deliverer sends or stores a finished result (Telegram upload, library archive).
It does not write the job: it returns a :class:`Delivery` — the event for the job's
timeline and the job columns it produced (``telegram_file_id``) — and the pipeline
records them. What must be on the timeline *before* a send completes (a delivery
attempt, so a crash mid-send is known) goes through the :class:`EventLog` it is handed.
The result's place and hash (``file_path``, ``file_size``, ``sha256``)
are written once, by the final transition, from the parts as the deliverers left them
(the archiver moves them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mediaferry.db.models import Job
    from mediaferry.media.result import Processed

__all__ = ["Deliverer", "Delivery", "EventLog"]


class EventLog(Protocol):
    """Where a deliverer writes events of the job it delivers, as they happen."""

    async def event(self, event_type: str, data: dict[str, Any] | None = None) -> None: ...


@dataclass(slots=True)
class Delivery:
    """What one deliverer did."""

    event: str | None = None  # e.g. TELEGRAM_SENT, ARCHIVED; None: nothing to record
    data: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Any] = field(default_factory=dict)  # job columns to set on COMPLETED
    moved: bool = False  # the parts now live elsewhere (their paths in ``processed`` changed)


class Deliverer(Protocol):
    """Sends or stores a finished result. Deliverers with a higher ``order`` run later
    (the archiver moves the files, so it runs last)."""

    order: int

    def wants(self, job: Job) -> bool: ...

    async def deliver(self, job: Job, processed: Processed, events: EventLog) -> Delivery: ...
