"""One job event as the bus carries it (in process, over NOTIFY, from the SQLite mirror)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHANNEL", "Event"]

CHANNEL = "mediaferry"  # PostgreSQL LISTEN/NOTIFY channel of job events


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # created | status | progress | cancel | wake | paused | resumed
    job_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self, origin: str) -> str:
        return json.dumps({"k": self.kind, "j": self.job_id, "d": self.data, "o": origin})
