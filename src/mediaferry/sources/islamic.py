"""ISLAMIC: lecture sites (Way2Allah, IslamWay and configured siblings).

The page is fetched with the SSRF-safe client and parsed for ``<audio>``,
``<video>``, ``<source>`` and download links; the title and speaker come from the
page. A page without any media is a PARSER_ERROR (the site's layout changed).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

import httpx

from mediaferry.errors import ParserError
from mediaferry.sources._html import MediaLink, PageMedia, parse_media_page
from mediaferry.sources.base import JobRequest, MediaPlan, Source, SourceType
from mediaferry.sources.direct import Probe, plan_from_probe, probe_url
from mediaferry.transfer.http import error_from_response, make_client, map_httpx_error
from mediaferry.urls import check_url

if TYPE_CHECKING:
    from pathlib import Path

    from mediaferry.config import Settings

__all__ = ["IslamicSource", "fetch_page", "pick_link"]

MAX_PAGE_BYTES = 5 * 1024 * 1024


def host_in(url: str, domains: list[str]) -> bool:
    """Is ``url``'s host one of ``domains`` or a subdomain of one?"""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    return any(host == d or host.endswith("." + d) for d in domains)


async def fetch_page(
    url: str, settings: Settings, cookie_file: Path | None = None
) -> tuple[str, str]:
    """``(html, final url)`` of a web page, size-capped, through the SSRF-safe client;
    with ``cookie_file`` (an auth profile) each request carries the cookies for its URL."""
    from mediaferry.jobs.auth import cookie_request_hook

    hook = cookie_request_hook(cookie_file)
    hooks = {"request": [hook]} if hook is not None else {}
    try:
        async with (
            make_client(settings, event_hooks=hooks) as client,
            client.stream("GET", url) as resp,
        ):
            if resp.status_code >= 400:
                raise error_from_response(resp)
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > MAX_PAGE_BYTES:
                    break
            encoding = resp.charset_encoding or "utf-8"
            return body.decode(encoding, errors="replace"), str(resp.url)
    except httpx.HTTPError as exc:
        raise map_httpx_error(exc) from exc


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

    @classmethod
    def suitable(cls, url: str, settings: Settings) -> bool:
        return url.lower().startswith(("http://", "https://")) and host_in(
            url, settings.islamic_domains
        )

    def media_id(self, url: str) -> str | None:
        match = re.search(r"(\d{3,})", urlsplit(url).path)
        return match.group(1) if match else None

    async def describe(self, request: JobRequest) -> MediaPlan:
        html, final = await fetch_page(request.url, self.settings, request.cookie_file)
        page = parse_media_page(html, final)
        link = pick_link(page.links, request.job_type)
        if link is None:
            raise ParserError("no audio or video was found on this page")
        check_url(link.url, allow_private=self.settings.allow_private_networks)
        return await self._plan(link, page, final, request)

    async def _plan(
        self, link: MediaLink, page: PageMedia, page_url: str, request: JobRequest
    ) -> MediaPlan:
        from mediaferry.jobs.auth import cookie_headers

        headers = {"Referer": page_url}
        probe: Probe | None = None
        if link.kind != "stream":
            try:
                probe = await probe_url(
                    link.url,
                    self.settings,
                    {**headers, **cookie_headers(request.cookie_file, link.url)},
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
