"""Fault switches and counters, set and read by tests while the server runs.

All switches are one-shot unless stated; they are safe to flip from the test thread.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["ConnectionStats", "Faults", "Stats"]


@dataclass
class ConnectionStats:
    """What one TCP connection did: transport, bytes each way, requests, file bytes served."""

    number: int
    transport: str = "?"
    bytes_in: int = 0
    bytes_out: int = 0
    file_bytes_served: int = 0
    uploaded_bytes: int = 0
    throttled_seconds: float = 0.0  # time the throughput cap held this connection back
    capped_bytes_out: int = 0  # bytes written under the throughput cap's accounting
    capped_bytes_in: int = 0  # bytes read under the throughput cap's accounting
    containers_in: int = 0  # msg_containers the client sent
    containers_out: int = 0  # msg_containers the server sent (acks + answer)
    requests: Counter[str] = field(default_factory=Counter)
    user_id: int | None = None
    closed: bool = False
    dropped: bool = False


class Stats:
    """Counters across all connections, for asserting parallelism and resume."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.connections: list[ConnectionStats] = []
        self.get_file_offsets: list[tuple[int, int, int]] = []  # (doc/photo id, offset, limit)
        self.file_bytes_by_document: Counter[int] = Counter()  # bytes served per doc/photo id
        # which connections (their numbers) served each doc/photo: a download's parallelism
        self.connections_by_document: dict[int, set[int]] = {}
        self.in_flight_get_file = 0
        self.unimplemented: Counter[str] = Counter()  # methods the fake does not answer
        self.crashes: list[str] = []  # methods whose handler raised (a bug in the fake)
        self.max_in_flight_get_file = 0

    def new_connection(self) -> ConnectionStats:
        with self._lock:
            stats = ConnectionStats(number=len(self.connections) + 1)
            self.connections.append(stats)
            return stats

    def count_request(self, conn: ConnectionStats, method: str) -> None:
        with self._lock:
            self.requests[method] += 1
            conn.requests[method] += 1

    def record_get_file(
        self,
        file_id: int,
        offset: int,
        limit: int,
        served: int,
        conn: ConnectionStats | None = None,
    ) -> None:
        with self._lock:
            self.get_file_offsets.append((file_id, offset, limit))
            self.file_bytes_by_document[file_id] += served
            if conn is not None and served:
                self.connections_by_document.setdefault(file_id, set()).add(conn.number)

    def in_flight(self, delta: int) -> None:
        """upload.getFile requests received and not yet answered (max: parallelism)."""
        with self._lock:
            self.in_flight_get_file += delta
            self.max_in_flight_get_file = max(self.max_in_flight_get_file, self.in_flight_get_file)

    @property
    def file_bytes_served(self) -> int:
        return sum(c.file_bytes_served for c in self.connections)

    def connections_serving_files(self) -> int:
        """How many connections served file bytes: >1 means the client fetched in parallel."""
        return sum(1 for c in self.connections if c.file_bytes_served)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.get_file_offsets.clear()
            self.file_bytes_by_document.clear()
            self.connections_by_document.clear()
            self.max_in_flight_get_file = 0
            for conn in self.connections:
                conn.requests.clear()
                conn.file_bytes_served = conn.uploaded_bytes = 0


class Faults:
    """One-shot failures and a throughput cap.

    - ``drop_after_bytes(n, file_bytes_only=False, incoming=False)``: the connection whose
      outgoing bytes push the total past ``n`` (counted from now, over all connections; with
      ``file_bytes_only`` only ``upload.getFile`` payload counts) is cut mid-packet, once.
      With ``incoming`` it counts what clients send (uploads): the packet that crosses ``n``
      is thrown away unprocessed and the connection cut.
    - ``expire_file_reference(doc_id)``: the next ``upload.getFile`` of that document fails
      with ``FILE_REFERENCE_EXPIRED`` and the document gets a new reference, once.
    - ``flood_wait(method, seconds)``: the next call of ``method`` (TL name such as
      ``"upload.getFile"``) fails with ``FLOOD_WAIT_<seconds>``, once (``times`` for more).
    - ``throughput_cap``: bytes per second per connection (None: unlimited).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.throughput_cap: int | None = None
        self._drop_budget: int | None = None
        self._drop_file_only = False
        self._drop_incoming = False
        self._expire_refs: set[int] = set()
        self._floods: dict[str, list[int]] = {}
        self.drops_done = 0
        self.floods_done: list[tuple[str, int]] = []
        self.references_expired: list[int] = []

    # -- arming ---------------------------------------------------------------------------
    def drop_after_bytes(
        self, n: int, *, file_bytes_only: bool = False, incoming: bool = False
    ) -> None:
        with self._lock:
            self._drop_budget = n
            self._drop_file_only = file_bytes_only
            self._drop_incoming = incoming

    def expire_file_reference(self, document_id: int) -> None:
        with self._lock:
            self._expire_refs.add(document_id)

    def flood_wait(self, method: str, seconds: int, *, times: int = 1) -> None:
        with self._lock:
            self._floods.setdefault(method, []).extend([seconds] * times)

    def clear(self) -> None:
        with self._lock:
            self.throughput_cap = None
            self._drop_budget = None
            self._expire_refs.clear()
            self._floods.clear()

    # -- used by the server ---------------------------------------------------------------
    @property
    def drop_counts_file_bytes(self) -> bool:
        return self._drop_file_only

    def take_drop(self, nbytes: int, *, incoming: bool = False) -> int | None:
        """How many of ``nbytes`` may still pass before the cut, or None for no cut."""
        with self._lock:
            if self._drop_budget is None or incoming != self._drop_incoming:
                return None
            if nbytes <= self._drop_budget:
                self._drop_budget -= nbytes
                return None
            allowed, self._drop_budget = self._drop_budget, None
            self.drops_done += 1
            return allowed

    def take_expired_reference(self, document_id: int) -> bool:
        with self._lock:
            if document_id in self._expire_refs:
                self._expire_refs.discard(document_id)
                self.references_expired.append(document_id)
                return True
            return False

    def take_flood(self, method: str) -> int | None:
        with self._lock:
            queue = self._floods.get(method)
            if not queue:
                return None
            seconds = queue.pop(0)
            self.floods_done.append((method, seconds))
            return seconds
