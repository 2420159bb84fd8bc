"""Live workers, counted one way for every interface (bot /health, web health and
metrics, the CLI).

A worker pool is *live* while its heartbeat is younger than three heartbeat intervals
(at least 5 s): one missed beat is noise, three mean it is gone or stuck — and, on this
host, while its process exists (a worker killed a second ago is not live, so
``add --wait`` runs its jobs itself instead of waiting for a dead worker). (Stale
recovery waits longer, ``stale_after_s``, before it takes a worker's jobs away.)
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from mediaferry.db.models import utcnow
from mediaferry.jobs._proc import pid_alive

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.db.engine import Database

__all__ = ["WorkerStats", "live_after_s", "worker_stats"]

_SQL = "SELECT hostname, pid, capacity, running FROM workers WHERE heartbeat_at >= :cutoff"


@dataclass(frozen=True, slots=True)
class WorkerStats:
    alive: int  # worker pools with a fresh heartbeat
    capacity: int  # jobs they can run at once, together
    running: int  # jobs they run now

    def as_dict(self) -> dict[str, int]:
        return {"alive": self.alive, "capacity": self.capacity, "running": self.running}


def live_after_s(settings: Settings) -> float:
    """How old a heartbeat may be for its worker to count as live."""
    return max(3 * settings.heartbeat_s, 5.0)


async def worker_stats(db: Database, settings: Settings) -> WorkerStats:
    cutoff = utcnow() - timedelta(seconds=live_after_s(settings))
    async with db.tx() as tx:
        rows = await tx.all(_SQL, {"cutoff": cutoff})
    host = socket.gethostname()
    live = [r for r in rows if r[0] != host or pid_alive(int(r[1]))]
    return WorkerStats(
        len(live), sum(int(r[2] or 0) for r in live), sum(int(r[3] or 0) for r in live)
    )
