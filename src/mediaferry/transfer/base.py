"""Transfer backends: they fetch what a source described.

A backend is chosen by :attr:`MediaPlan.protocol`. It streams into ``dest_dir``
(a job's own temp folder), reports progress through a :class:`ProgressSink`, and
on cancellation (``asyncio.CancelledError``) stops its transfer, kills any child
process and removes partial files before re-raising.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.files.digest import FileDigest
    from mediaferry.plan import MediaPlan

__all__ = ["Progress", "ProgressSink", "Transfer", "TransferResult"]


@dataclass(slots=True)
class Progress:
    bytes_done: int = 0
    bytes_total: int | None = None
    speed: float | None = None  # bytes per second
    eta: float | None = None  # seconds
    # a short human note while the transfer waits, e.g. "Telegram asks to wait 30 s"
    note: str | None = None


class ProgressSink(Protocol):
    """Called often and cheaply; throttling to the database happens behind it."""

    def __call__(self, progress: Progress) -> None: ...


@dataclass(slots=True)
class TransferResult:
    path: Path
    size: int
    downloader: str
    extra_files: tuple[Path, ...] = ()  # e.g. a thumbnail written next to the media
    # the sha256 of ``path`` computed while it was written, if the backend could
    digest: FileDigest | None = None
    tool_version: str | None = None  # e.g. the yt-dlp version that fetched it


class Transfer(ABC):
    """A backend; the registry builds one per process as ``Backend(settings)``."""

    name: ClassVar[str]
    protocols: ClassVar[tuple[str, ...]]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    async def fetch(
        self, plan: MediaPlan, dest_dir: Path, progress: ProgressSink
    ) -> TransferResult:
        """Fetch ``plan`` into ``dest_dir``; return the final (renamed) file."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release shared resources (daemons, clients)."""
