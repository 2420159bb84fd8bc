"""YOUTUBE: videos, shorts, playlists and channels (yt-dlp's Youtube* extractors)."""

from __future__ import annotations

import re
from typing import ClassVar

from mediaferry.plan import SourceType
from mediaferry.sources._ytdlp import YtdlpSource

__all__ = ["YoutubeSource"]


class YoutubeSource(YtdlpSource):
    """YouTube (youtube.com, youtu.be, m.youtube.com, music.youtube.com, shorts)."""

    name: ClassVar[SourceType] = SourceType.YOUTUBE
    ie_prefixes: ClassVar[tuple[str, ...]] = ("Youtube",)
    pattern: ClassVar[re.Pattern[str] | None] = re.compile(
        r"^https?://(?:[\w-]+\.)?(?:youtube\.com|youtu\.be|youtube-nocookie\.com)/", re.I
    )
    example: ClassVar[str] = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
