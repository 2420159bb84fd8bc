"""Job events between processes sharing one SQLite file.

PostgreSQL carries events with LISTEN/NOTIFY. SQLite has no such channel, so when
``PRAGMA data_version`` says another connection committed, this mirror reads what
changed — new STATUS_CHANGED rows, and the progress of jobs running elsewhere —
and turns it into the same bus events a local worker would have published.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from mediaferry.jobs._event import Event

if TYPE_CHECKING:
    from mediaferry.jobs.bus import EventBus

__all__ = ["SqliteMirror"]

_Progress = tuple[Any, ...]


class SqliteMirror:
    def __init__(self, bus: EventBus, path: str) -> None:
        self.bus = bus
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout=1000")
        self.version = self._version()
        self.last_event_id = self._max_event_id()
        self.progress: dict[int, _Progress] = {}

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def _max_event_id(self) -> int:
        try:
            row = self.conn.execute("SELECT max(id) FROM job_events").fetchone()
        except sqlite3.Error:
            return 0
        return int(row[0] or 0)

    def changed(self) -> bool:
        version = self._version()
        if version == self.version:
            return False
        self.version = version
        return True

    def poll(self) -> list[Event]:
        events: list[Event] = []
        rows = self.conn.execute(
            "SELECT id, job_id, data, origin FROM job_events WHERE id > ? AND event_type = "
            "'STATUS_CHANGED' ORDER BY id LIMIT 1000",
            (self.last_event_id,),
        ).fetchall()
        for event_id, job_id, raw, origin in rows:
            self.last_event_id = max(self.last_event_id, int(event_id))
            if origin == self.bus.origin:
                continue  # this process wrote it and announced it itself
            data = (json.loads(raw) if raw else None) or {}
            status = data.get("to")
            if status:
                events.append(
                    Event(
                        "status",
                        int(job_id),
                        {"status": status, "error_type": data.get("error_type")},
                    )
                )
        running = self.conn.execute(
            "SELECT id, stage, bytes_done, bytes_total, speed, eta, worker_id FROM jobs "
            "WHERE status = 'RUNNING'"
        ).fetchall()
        seen: set[int] = set()
        for job_id, stage, done, total, speed, eta, worker_id in running:
            seen.add(job_id)
            if worker_id in self.bus.local_workers:
                continue
            current = (stage, done)
            previous = self.progress.get(job_id)
            if previous == current:
                continue
            self.progress[job_id] = current
            if previous is None or previous[0] != stage:
                events.append(Event("stage", job_id, {"stage": stage}))
            events.append(
                Event(
                    "progress",
                    job_id,
                    {
                        "bytes_done": done,
                        "bytes_total": total,
                        "speed": speed,
                        "eta": eta,
                        "stage": stage,
                    },
                )
            )
        for job_id in list(self.progress):
            if job_id not in seen:
                del self.progress[job_id]
        return events

    def close(self) -> None:
        self.conn.close()
