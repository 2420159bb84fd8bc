"""Pick the transfer backend for a plan by its protocol (and, for direct files, size).

The protocol table is built from each backend's declared ``protocols``
(:data:`BACKENDS`); adding a backend is adding it there. Today:

=========  =========================================================
protocol   backend
=========  =========================================================
http       HttpTransfer; files over ``aria2_min_size_mb``: BigFileTransfer
           (HTTP, the rest to aria2c when one connection is slow)
aria2      Aria2Transfer (segmented, resumable)
torrent    Aria2Transfer (magnet links and .torrent files)
ytdlp/hls  YtdlpTransfer (child process per download)
telegram   TelegramTransfer (MTProto, parallel parts; issue 10)
telegram-  BotApiTransfer (a file sent to the bot, through the Bot API's
botapi     getFile: up to 20 MB; issue 10)
=========  =========================================================
"""

from __future__ import annotations

import asyncio
import shutil
from typing import TYPE_CHECKING, Any

from mediaferry.errors import UnsupportedSource
from mediaferry.transfer.aria2 import Aria2Transfer
from mediaferry.transfer.base import Transfer
from mediaferry.transfer.bigfile import BigFileTransfer
from mediaferry.transfer.botapi import BotApiTransfer
from mediaferry.transfer.http import HttpTransfer
from mediaferry.transfer.telegram import TelegramTransfer
from mediaferry.transfer.ytdlp import YtdlpTransfer

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.plan import MediaPlan
    from mediaferry.telegram.clients import TelegramClients

__all__ = ["BACKENDS", "PROTOCOLS", "TransferRegistry"]

BACKENDS: tuple[type[Transfer], ...] = (
    HttpTransfer,
    Aria2Transfer,
    YtdlpTransfer,
    TelegramTransfer,
    BotApiTransfer,
)


def _protocol_table(backends: tuple[type[Transfer], ...]) -> dict[str, type[Transfer]]:
    table: dict[str, type[Transfer]] = {}
    for backend in backends:
        for protocol in backend.protocols:
            if protocol in table:
                raise ValueError(f"protocol {protocol!r} claimed twice")
            table[protocol] = backend
    return table


PROTOCOLS: dict[str, type[Transfer]] = _protocol_table(BACKENDS)
# big direct files start on HTTP and may go on in aria2c (see backend_name)
_BIG_HTTP = BigFileTransfer.name


class TransferRegistry:
    """One instance of each backend, created on first use, closed together."""

    def __init__(self, settings: Settings, telegram: TelegramClients | None = None) -> None:
        self.settings = settings
        self.telegram = telegram  # the process's Telegram clients (issue 10)
        self._backends: dict[str, Transfer] = {}

    def _get(self, name: str) -> Transfer:
        if name == "telegram" and name not in self._backends:
            self._backends[name] = TelegramTransfer(self.settings, self.telegram)
        if name == _BIG_HTTP and name not in self._backends:
            http, aria2 = self._get(HttpTransfer.name), self._get(Aria2Transfer.name)
            assert isinstance(http, HttpTransfer) and isinstance(aria2, Aria2Transfer)
            self._backends[name] = BigFileTransfer(self.settings, http, aria2)
        if name not in self._backends:
            factory = next(b for b in BACKENDS if b.name == name)
            self._backends[name] = factory(self.settings)
        return self._backends[name]

    def backend_name(self, plan: MediaPlan) -> str:
        """Which backend ``plan`` goes to: "http", "http+aria2", "aria2", "ytdlp"..."""
        backend = PROTOCOLS.get(plan.protocol)
        if backend is None:
            raise UnsupportedSource(f"no transfer backend for protocol {plan.protocol!r}")
        if backend is HttpTransfer:
            threshold = self.settings.aria2_min_size_mb * 1024 * 1024
            if plan.size is not None and plan.size > threshold:
                return _BIG_HTTP
        return backend.name

    def for_plan(self, plan: MediaPlan) -> Transfer:
        """The backend that fetches ``plan``."""
        return self._get(self.backend_name(plan))

    async def aria2_health(self) -> dict[str, Any]:
        """Is aria2c usable? Its daemon starts on first use; once started, it must answer."""
        if shutil.which(self.settings.aria2c_path) is None:
            return {"ok": False, "error": "aria2c not installed"}
        backend = self._backends.get("aria2")
        if not isinstance(backend, Aria2Transfer) or not backend.daemon.alive:
            return {"ok": True, "daemon": "not started (starts on first use)"}
        try:
            async with asyncio.timeout(5):
                version = await backend.daemon.call("aria2.getVersion")
        except Exception as exc:  # unreachable daemon, whatever the reason
            return {"ok": False, "daemon": "running", "error": type(exc).__name__}
        return {"ok": True, "daemon": "running", "version": version.get("version")}

    async def close(self) -> None:
        """Close every backend that was started (the aria2c daemon, HTTP clients)."""
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            await backend.close()
