"""ISLAMIC: lecture sites (Way2Allah, IslamWay and configured siblings).

The page is fetched with the SSRF-safe client and parsed for ``<audio>``,
``<video>``, ``<source>`` and download links; the title and speaker come from the
page. A page without any media is a PARSER_ERROR (the site's layout changed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from mediaferry.errors import ParserError
from mediaferry.net.cookies import cookie_headers
from mediaferry.net.page import Probe, fetch_page
from mediaferry.plan import JobRequest, MediaPlan, SourceType
from mediaferry.sources._html import MediaLink, PageMedia, parse_media_page
from mediaferry.sources.base import Source
from mediaferry.sources.direct import plan_from_probe, probe_media
from mediaferry.urls import check_url

if TYPE_CHECKING:
    pass

__all__ = ["IslamicSource", "pick_link"]


def pick_link(links: list[MediaLink], job_type: str) -> MediaLink | None:
    """The best link for the job: its own kind first, players before download links."""
    if not links:
        return None
    want = "audio" if job_type == "audio" else "video"
    origin_rank = {"element": 2, "meta": 1, "link": 0}

    def score(link: MediaLink) -> tuple[int, int, int]:
        kind = 2 if link.kind == want else 1 if link.kind == "stream" else 0
        return kind, origin_rank.get(link.origin, 0), -links.index(link)

    return max(links, key=score)


class IslamicSource(Source):
    """Islamic lecture sites whose pages carry audio/video players or download links."""

    name: ClassVar[SourceType] = SourceType.ISLAMIC
    example: ClassVar[str] = "https://way2allah.com/khotab-item-148211.htm"

    async def describe(self, request: JobRequest) -> MediaPlan:
        html, final = await fetch_page(request.url, self.settings, request.cookies)
        page = parse_media_page(html, final)
        link = pick_link(page.links, request.job_type)
        if link is None:
            raise ParserError("no audio or video was found on this page")
        check_url(link.url, allow_private=self.settings.allow_private_networks)
        return await self._plan(link, page, final, request)

    async def _plan(
        self, link: MediaLink, page: PageMedia, page_url: str, request: JobRequest
    ) -> MediaPlan:
        headers = {"Referer": page_url}
        probe: Probe | None = None
        if link.kind != "stream":
            try:
                probe = await probe_media(
                    link.url,
                    self.settings,
                    {**headers, **cookie_headers(request.cookies, link.url)},
                )
            except ParserError:
                probe = None
        if probe is None:
            probe = Probe(link.url, "", None, link.url.rsplit("/", 1)[-1], link.kind)
        plan = plan_from_probe(
            probe,
            self.settings,
            headers=headers,
            uploader=page.speaker,
            cookie_file=request.cookie_file,
            media_id=self.media_id(page_url),
        )
        plan.title = page.title or plan.title
        plan.extra["page_url"] = page_url
        plan.extra["alternatives"] = [x.url for x in page.links if x.url != link.url][:10]
        return plan
