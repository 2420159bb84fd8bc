"""YOUTUBE: videos, shorts, playlists and channels (yt-dlp's Youtube* extractors)."""

from __future__ import annotations

from typing import ClassVar

from mediaferry.plan import SourceType
from mediaferry.sources._ytdlp import YtdlpSource

__all__ = ["YoutubeSource"]


class YoutubeSource(YtdlpSource):
    """YouTube (youtube.com, youtu.be, m.youtube.com, music.youtube.com, shorts)."""

    name: ClassVar[SourceType] = SourceType.YOUTUBE
    example: ClassVar[str] = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
