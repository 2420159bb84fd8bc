"""FACEBOOK: videos, reels and watch links (yt-dlp's Facebook* extractors)."""

from __future__ import annotations

from typing import ClassVar

from mediaferry.plan import SourceType
from mediaferry.sources._ytdlp import YtdlpSource

__all__ = ["FacebookSource"]


class FacebookSource(YtdlpSource):
    """Facebook (facebook.com videos and reels, fb.watch short links)."""

    name: ClassVar[SourceType] = SourceType.FACEBOOK
    example: ClassVar[str] = "https://www.facebook.com/watch/?v=10153231379946729"
