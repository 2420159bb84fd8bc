"""Big direct files: one fast connection first, aria2c's parallel ones when it is slow.

A file over ``aria2_min_size_mb`` starts on :class:`HttpTransfer` (one connection; on
plain HTTP the body goes to disk inside the kernel, as fast as curl). A fast link
keeps it there to the end. When, ``aria2_handoff_after_s`` into the download, that
connection carries less than ``aria2_handoff_below_mb_s`` and the server takes
ranges, the transfer stops with every received byte in ``download.part`` and
:class:`Aria2Transfer` fetches the rest over ``aria2_connections`` connections,
going on from those bytes (many servers cap each connection, not the link).

An attempt that finds aria2c's control file (``download.part.aria2``: an earlier
attempt was handed over and stopped) goes straight back to aria2c, which knows which
pieces it has; one that finds only ``download.part`` resumes it over HTTP.
``aria2_handoff_after_s = 0`` sends big files to aria2c from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from mediaferry.errors import StageTimeout
from mediaferry.net.http import filename_from_url
from mediaferry.transfer.base import Transfer, TransferResult
from mediaferry.transfer.http import PART, HandOff, SlowLink, safe_leaf

if TYPE_CHECKING:
    from pathlib import Path

    from mediaferry.config import Settings
    from mediaferry.plan import MediaPlan
    from mediaferry.transfer.aria2 import Aria2Transfer
    from mediaferry.transfer.base import Progress, ProgressSink
    from mediaferry.transfer.http import HttpTransfer

__all__ = ["BigFileTransfer"]

CONTROL = PART + ".aria2"  # aria2c's record of the pieces it has


class BigFileTransfer(Transfer):
    """HTTP first, then aria2c for the rest of a big file on a slow connection."""

    name = "http+aria2"
    protocols = ()  # chosen by size for "http" plans (see TransferRegistry)

    def __init__(self, settings: Settings, http: HttpTransfer, aria2: Aria2Transfer) -> None:
        self.settings = settings
        self.http = http
        self.aria2 = aria2

    async def fetch(
        self, plan: MediaPlan, dest_dir: Path, progress: ProgressSink
    ) -> TransferResult:
        part = dest_dir / PART
        after = self.settings.aria2_handoff_after_s
        if after == 0:
            return await self.aria2.fetch(plan, dest_dir, progress)
        if (dest_dir / CONTROL).exists():  # an earlier attempt's aria2c download
            return await self._rest(plan, dest_dir, part, progress, None)
        hand_off = HandOff(self.settings.aria2_handoff_below_mb_s * 1e6, after)
        try:
            return await self.http.fetch(plan, dest_dir, progress, hand_off=hand_off)
        except SlowLink as slow:
            return await self._rest(plan, dest_dir, part, progress, slow.name)

    async def _rest(
        self,
        plan: MediaPlan,
        dest_dir: Path,
        part: Path,
        sink: ProgressSink,
        name: str | None,
    ) -> TransferResult:
        """aria2c fetches what ``part`` lacks; the result gets the server's file name."""

        def known(progress: Progress) -> None:  # not aria2c's "0 of ?" before it starts
            if progress.bytes_total:
                sink(progress)

        try:
            fetched = await self.aria2.fetch(plan, dest_dir, known, part=part)
        except (asyncio.CancelledError, StageTimeout):
            for leftover in (part, dest_dir / CONTROL):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise
        final = dest_dir / safe_leaf(name or filename_from_url(plan.url), plan)
        fetched.path.replace(final)
        fetched.path = final
        return fetched
