"""Operator notifications through Apprise (``MEDIAFERRY_NOTIFY_URLS``).

Core code never waits on this: it publishes a local ``notify`` event on the bus
(``event`` = one of :data:`~mediaferry.config.NOTIFY_EVENTS`, ``text``), the wiring
hands each to :meth:`Notifier.add`, and this sink sends them off the hot path.
Events within ``NOTIFY_BATCH_S`` of the first one become one message ("ten failures
in a minute are one message"); sending runs in a thread with a timeout; a failed send
is logged and dropped. The URLs hold secrets (tokens, passwords) and are registered
with the log redactor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

from mediaferry.config import ENV_PREFIX, Settings
from mediaferry.errors import ConfigError
from mediaferry.logging import add_secret

__all__ = ["Notifier", "build_apprise"]

log = logging.getLogger(__name__)

_TITLES = {
    "follow_new": "new items",
    "job_failed": "job failed",
    "follow_failing": "follow failing",
    "auth_degraded": "auth profile degraded",
    "disk_low": "disk space low",
    "worker_lost": "worker lost",
}


def _redact_url(url: str) -> str:
    scheme, sep, _rest = url.partition("://")
    return f"{scheme}://…" if sep else "…"


def build_apprise(urls: list[str]) -> Any:
    """An ``apprise.Apprise`` with every URL, or ConfigError naming the variable."""
    import apprise

    # Apprise logs refused URLs and send failures with the URL in them: our own lines
    # say what failed without the secret
    logging.getLogger("apprise").setLevel(logging.CRITICAL)
    sink = apprise.Apprise()
    for url in urls:
        add_secret(url)
        rest = url.partition("://")[2]
        if rest:
            add_secret(rest)
        if not sink.add(url):
            raise ConfigError(
                f"invalid setting {ENV_PREFIX}NOTIFY_URLS: {_redact_url(url)} is not a "
                "notification URL Apprise understands"
            )
    return sink


class Notifier:
    """Batches ``notify`` bus events and sends them with Apprise."""

    def __init__(self, settings: Settings, *, sink: Any = None) -> None:
        self.settings = settings
        self.events = set(settings.notify_events)
        self.sink = sink if sink is not None else build_apprise(settings.notify_urls)
        self.sent = 0  # messages sent (tests, metrics)
        self._pending: list[tuple[str, str]] = []
        self._flush_task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.notify_urls)

    async def close(self) -> None:
        if self._flush_task is not None and not self._flush_task.done():
            self._flush_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush_task
        await self.flush()  # what was pending still goes out

    def add(self, event: str, text: str) -> None:
        if event not in self.events or not self.enabled:
            return
        self._pending.append((event, text[:500]))
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.settings.notify_batch_s)
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        counts = Counter(event for event, _ in pending)
        title = "Mediaferry: " + ", ".join(
            f"{n} × {_TITLES.get(e, e)}" if n > 1 else _TITLES.get(e, e) for e, n in counts.items()
        )
        lines = [f"- {text}" for _, text in pending[:50]]
        if len(pending) > 50:
            lines.append(f"… and {len(pending) - 50} more")
        body = "\n".join(lines)
        try:
            ok = await asyncio.wait_for(
                asyncio.to_thread(self.sink.notify, body=body, title=title), 30
            )
        except Exception as exc:  # a notification never hurts the service
            log.warning("notification failed: %s", type(exc).__name__)
            return
        if ok:
            self.sent += 1
        else:
            log.warning("notification was not accepted by %d target(s)", len(self.sink))
