"""ARCHIVE_ORG: items on archive.org (yt-dlp's ArchiveOrg extractor)."""

from __future__ import annotations

from typing import ClassVar

from mediaferry.plan import SourceType
from mediaferry.sources._ytdlp import YtdlpSource

__all__ = ["ArchiveOrgSource"]


class ArchiveOrgSource(YtdlpSource):
    """The Internet Archive's item pages (``archive.org/details/<item>``)."""

    name: ClassVar[SourceType] = SourceType.ARCHIVE_ORG
    example: ClassVar[str] = "https://archive.org/details/Cops1922"
