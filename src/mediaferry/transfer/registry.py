"""Pick the transfer backend for a plan by its protocol (and, for direct files, size).

=========  =========================================================
protocol   backend
=========  =========================================================
http       HttpTransfer; files over ``aria2_min_size_mb`` → aria2c
aria2      Aria2Transfer (segmented, resumable)
torrent    Aria2Transfer (magnet links and .torrent files)
ytdlp/hls  YtdlpTransfer (child process per download)
=========  =========================================================
"""

from __future__ import annotations

import asyncio
import shutil
from typing import TYPE_CHECKING, Any

from mediaferry.errors import UnsupportedSource
from mediaferry.transfer.aria2 import Aria2Transfer
from mediaferry.transfer.http import HttpTransfer
from mediaferry.transfer.ytdlp import YtdlpTransfer

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.sources.base import MediaPlan
    from mediaferry.transfer.base import Transfer

__all__ = ["TransferRegistry"]


class TransferRegistry:
    """One instance of each backend, created on first use, closed together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._backends: dict[str, Transfer] = {}

    def _get(self, name: str) -> Transfer:
        if name not in self._backends:
            factories = {"http": HttpTransfer, "aria2": Aria2Transfer, "ytdlp": YtdlpTransfer}
            self._backends[name] = factories[name](self.settings)
        return self._backends[name]

    def backend_name(self, plan: MediaPlan) -> str:
        """Which backend ``plan`` goes to: "http", "aria2" or "ytdlp"."""
        protocol = plan.protocol
        if protocol == "http":
            threshold = self.settings.aria2_min_size_mb * 1024 * 1024
            return "aria2" if plan.size is not None and plan.size > threshold else "http"
        if protocol in ("aria2", "torrent"):
            return "aria2"
        if protocol in ("ytdlp", "hls"):
            return "ytdlp"
        raise UnsupportedSource(f"no transfer backend for protocol {protocol!r}")

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
