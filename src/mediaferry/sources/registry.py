"""The sources, in the order :mod:`.detect` asks them, and describing a link.

Detection itself (which source claims a link, its media id) is :mod:`.detect`,
offline and without importing any source; it is re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediaferry.errors import ExtractorError, ParserError, UnsupportedSource
from mediaferry.plan import YTDLP_INFO, JobRequest, MediaPlan, SourceType
from mediaferry.sources._ytdlp import plan_from_info
from mediaferry.sources.archive_org import ArchiveOrgSource
from mediaferry.sources.base import Source
from mediaferry.sources.browser import BrowserSource
from mediaferry.sources.detect import FALLBACK, ORDER, detect_source, media_id_for
from mediaferry.sources.direct import DirectSource
from mediaferry.sources.facebook import FacebookSource
from mediaferry.sources.islamic import IslamicSource
from mediaferry.sources.telegram import TelegramSource
from mediaferry.sources.torrent import TorrentSource
from mediaferry.sources.unsupported import UnsupportedLink
from mediaferry.sources.youtube import YoutubeSource
from mediaferry.sources.ytdlp_generic import YtdlpGenericSource

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = [
    "FALLBACK",
    "SOURCES",
    "describe",
    "detect_source",
    "media_id_for",
    "replan",
    "source_class",
    "source_for",
]

_BY_TYPE: dict[SourceType, type[Source]] = {
    cls.name: cls
    for cls in (
        UnsupportedLink,
        TelegramSource,
        TorrentSource,
        IslamicSource,
        BrowserSource,
        YoutubeSource,
        FacebookSource,
        ArchiveOrgSource,
        DirectSource,
        YtdlpGenericSource,
    )
}
#: every source, in the order detection asks them
SOURCES: tuple[type[Source], ...] = tuple(_BY_TYPE[t] for t in ORDER)


def source_class(source_type: SourceType | str) -> type[Source]:
    """The class registered for ``source_type``."""
    return _BY_TYPE[SourceType(source_type)]


def source_for(source_type: SourceType | str, settings: Settings) -> Source:
    """An instance of the source for ``source_type``."""
    return source_class(source_type)(settings)


async def describe(
    request: JobRequest, source_type: SourceType | str, settings: Settings
) -> MediaPlan:
    """Describe ``request`` with its source; a site source that finds nothing falls back
    to the browser (ISLAMIC parser failure, YTDLP "unsupported"/extractor failure)."""
    source = source_for(source_type, settings)
    try:
        return await source.describe(request)
    except (ParserError, UnsupportedSource, ExtractorError) as exc:
        if SourceType(source_type) not in (SourceType.ISLAMIC, SourceType.YTDLP):
            raise
        browser = BrowserSource(settings)
        try:
            return await browser.describe_with_browser(request)
        except ParserError:
            raise exc from None


def replan(
    plan: MediaPlan, described_for: JobRequest, request: JobRequest, settings: Settings
) -> MediaPlan | None:
    """``plan`` (described for ``described_for``) made fit for ``request`` without the
    network, or None when only a new description will do.

    A yt-dlp plan carries its info dict, so any quality or job type is chosen from it
    again; any other plan fits only the job type and quality it was described for.
    """
    info = plan.extra.get(YTDLP_INFO)
    if isinstance(info, dict):
        return plan_from_info(info, request, settings)
    same = (described_for.job_type, described_for.quality) == (request.job_type, request.quality)
    return plan if same and plan.entries is None else None
