"""YTDLP: any other site an installed yt-dlp extractor claims (matched offline).

yt-dlp's Generic extractor, which claims every URL, is not consulted here; pages it
might handle reach it through the BROWSER fallback chain instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from mediaferry.plan import SourceType
from mediaferry.sources._ytdlp import YtdlpSource

if TYPE_CHECKING:
    pass

__all__ = ["YtdlpGenericSource"]


class YtdlpGenericSource(YtdlpSource):
    """Any site with a dedicated yt-dlp extractor (Vimeo, Dailymotion, SoundCloud…)."""

    name: ClassVar[SourceType] = SourceType.YTDLP
    example: ClassVar[str] = "https://vimeo.com/76979871"
