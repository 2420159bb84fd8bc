"""Free disk space and the floor below which downloads pause (DESIGN.md §9)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mediaferry.config import Settings
from mediaferry.errors import DiskFull

__all__ = ["DiskGuard", "DiskStatus", "free_bytes"]

GB = 1024**3


def free_bytes(path: Path) -> int:
    """Bytes free to unprivileged users on the filesystem holding ``path``.

    ``path`` need not exist yet: its nearest existing parent is measured.
    """
    current = Path(path).absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return shutil.disk_usage(current).free


@dataclass(frozen=True, slots=True)
class DiskStatus:
    """Free space of the watched folders against the configured floor."""

    free_bytes: int
    floor_bytes: int
    path: Path

    @property
    def is_low(self) -> bool:
        return self.free_bytes < self.floor_bytes


class DiskGuard:
    """Says whether downloads must pause: free space under ``MEDIAFERRY_MIN_FREE_GB``.

    Both ``TMP_ROOT`` and ``ARCHIVE_ROOT`` are watched; the fuller one counts.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = [settings.tmp_dir, settings.archive_dir]

    @property
    def floor_bytes(self) -> int:
        return int(self.settings.min_free_gb * GB)

    def status(self) -> DiskStatus:
        """The watched folder with the least free space."""
        lowest = min(((free_bytes(p), p) for p in self.paths), key=lambda item: item[0])
        return DiskStatus(free_bytes=lowest[0], floor_bytes=self.floor_bytes, path=lowest[1])

    def is_low(self) -> bool:
        """True when free space is under the floor (downloads should wait)."""
        return self.status().is_low

    def ensure_space(self) -> None:
        """Raise :class:`DiskFull` (jobs wait, never fail) when space is low."""
        status = self.status()
        if status.is_low:
            raise DiskFull(
                f"only {status.free_bytes / GB:.1f} GB free under {status.path}, "
                f"the floor is {status.floor_bytes / GB:.1f} GB"
            )
