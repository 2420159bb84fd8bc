"""ARCHIVE_ORG: items on archive.org (yt-dlp's ArchiveOrg extractor)."""

from __future__ import annotations

import re
from typing import ClassVar

from mediaferry.plan import SourceType
from mediaferry.sources._ytdlp import YtdlpSource

__all__ = ["ArchiveOrgSource"]


class ArchiveOrgSource(YtdlpSource):
    """The Internet Archive's item pages (``archive.org/details/<item>``)."""

    name: ClassVar[SourceType] = SourceType.ARCHIVE_ORG
    ie_prefixes: ClassVar[tuple[str, ...]] = ("ArchiveOrg",)
    pattern: ClassVar[re.Pattern[str] | None] = re.compile(
        r"^https?://(?:www\.)?archive\.org/(?:details|embed)/", re.I
    )
    example: ClassVar[str] = "https://archive.org/details/Cops1922"
