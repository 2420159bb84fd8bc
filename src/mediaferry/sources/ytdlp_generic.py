"""YTDLP: any other site an installed yt-dlp extractor claims (matched offline).

yt-dlp's Generic extractor, which claims every URL, is not consulted here; pages it
might handle reach it through the BROWSER fallback chain instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from mediaferry.plan import SourceType
from mediaferry.sources._extractors import extractor_key_for, temp_id_for
from mediaferry.sources._ytdlp import YtdlpSource

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["YtdlpGenericSource"]

# Families that have their own source; YTDLP must not claim them.
_OWN_SOURCES = ("Youtube", "Facebook", "ArchiveOrg", "Telegram")


class YtdlpGenericSource(YtdlpSource):
    """Any site with a dedicated yt-dlp extractor (Vimeo, Dailymotion, SoundCloud…)."""

    name: ClassVar[SourceType] = SourceType.YTDLP
    example: ClassVar[str] = "https://vimeo.com/76979871"

    @classmethod
    def suitable(cls, url: str, settings: Settings) -> bool:
        key = extractor_key_for(url)
        return key is not None and not key.startswith(_OWN_SOURCES)

    def media_id(self, url: str) -> str | None:
        # ids are only unique per site: prefix the extractor key
        found = temp_id_for(url)
        return f"{found[0]}:{found[1]}" if found else None
