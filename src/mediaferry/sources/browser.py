"""BROWSER: pages whose player only a browser can see, and the last-resort fallback.

For configured domains the page goes straight to Chromium. As the fallback for a
link no other source claims, cheaper steps come first: a HEAD/GET probe (a media
file without an extension), the static HTML parser, then yt-dlp's generic
extractor, and only then the browser.

The browser is Playwright driving the system Chromium (never a downloaded one).
It records responses that are media (video/audio Content-Type, HLS/DASH manifests,
media extensions) and, after scripts ran, the ``src`` of ``<video>``/``<audio>``
elements; the best candidate wins (a manifest, then the wanted kind, then the
largest). Every request the page makes is checked against the URL policy.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from mediaferry.errors import (
    ExtractorError,
    JobError,
    NetworkError,
    ParserError,
    StageTimeout,
    UnsupportedSource,
    UrlRejected,
)
from mediaferry.net.cookies import browser_cookies, cookie_headers
from mediaferry.net.guard_proxy import GuardProxy
from mediaferry.net.page import Probe, fetch_page
from mediaferry.plan import Cookie, JobRequest, MediaPlan, SourceType
from mediaferry.sources._html import media_kind, parse_media_page
from mediaferry.sources._ytdlp import extract_info, plan_from_info
from mediaferry.sources.base import Source
from mediaferry.sources.direct import plan_from_probe, probe_media
from mediaferry.sources.islamic import pick_link
from mediaferry.urls import check_url, resolve_public

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["CHROMIUM_ARGS", "BrowserSource", "Sniffed", "sniff_media"]

log = logging.getLogger(__name__)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_DOM_MEDIA_JS = """() => Array.from(document.querySelectorAll('video, audio, source'))
  .map(e => e.currentSrc || e.src || '').filter(s => s)"""


@dataclass(slots=True)
class Sniffed:
    url: str
    kind: str  # "video" | "audio" | "stream"
    size: int | None = None
    mime: str | None = None
    from_dom: bool = False


def _size(headers: dict[str, str]) -> int | None:
    total = headers.get("content-range", "").rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = headers.get("content-length", "")
    return int(length) if length.isdigit() else None


class _Recorder:
    def __init__(self) -> None:
        self.found: dict[str, Sniffed] = {}

    def add(self, url: str, mime: str | None, size: int | None, from_dom: bool = False) -> None:
        if not url.startswith(("http://", "https://")):
            return
        kind = media_kind(url, mime)
        if kind is None:
            return
        old = self.found.get(url)
        if old is None:
            self.found[url] = Sniffed(url, kind, size, mime, from_dom)
        elif size and not old.size:
            old.size = size

    def on_response(self, response: Any) -> None:
        headers = {k.lower(): v for k, v in response.headers.items()}
        self.add(response.url, headers.get("content-type"), _size(headers))


def best_candidate(found: list[Sniffed], job_type: str) -> Sniffed | None:
    """A manifest first, then the wanted kind, then the largest, then page order."""
    want = "audio" if job_type == "audio" else "video"
    if not found:
        return None
    return max(
        found,
        key=lambda s: (s.kind == "stream", s.kind == want, s.size or 0, -found.index(s)),
    )


class _Guard:
    """Aborts page requests to private/local addresses (unless allowed)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.verdicts: dict[tuple[str, int], bool] = {}

    async def __call__(self, route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and not self.allow_private:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            key = (parts.hostname or "", port)
            if key not in self.verdicts:
                try:
                    await resolve_public(key[0], port, allow_private=False)
                    self.verdicts[key] = True
                except (UrlRejected, NetworkError):
                    self.verdicts[key] = False
            if not self.verdicts[key]:
                await route.abort("blockedbyclient")
                return
        await route.continue_()


async def sniff_media(
    url: str, settings: Settings, cookies: tuple[Cookie, ...] = ()
) -> list[Sniffed]:
    """Load ``url`` in Chromium (with an auth profile's cookies, if any) and return the
    media it requested or embedded."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    recorder = _Recorder()
    guard: GuardProxy | None = None
    launch: dict[str, Any] = {}
    if not settings.allow_private_networks:
        # every connection Chromium makes (page, media, websockets, any redirect) goes
        # through the guarding proxy, which resolves, checks and pins the address, so a
        # name re-resolving between the route check and Chromium's connect gains nothing
        guard = GuardProxy(connect_timeout=settings.http_connect_timeout_s)
        await guard.start()
        session = guard.session()
        launch["proxy"] = {
            "server": guard.url,
            "username": session.user,
            "password": session.password,
        }
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=settings.chromium_path,
                args=CHROMIUM_ARGS,
                headless=True,
                **launch,
            )
            try:
                await _load(browser, url, settings, recorder, cookies)
            finally:
                await browser.close()
    except PlaywrightError as exc:
        raise _browser_error(exc) from exc
    finally:
        if guard is not None:
            await guard.close()
    return list(recorder.found.values())


async def _load(
    browser: Any,
    url: str,
    settings: Settings,
    recorder: _Recorder,
    cookies: tuple[Cookie, ...] = (),
) -> None:
    context = await browser.new_context(user_agent=settings.user_agent, accept_downloads=False)
    if cookies:
        await context.add_cookies(browser_cookies(cookies))
    await context.route("**/*", _Guard(settings.allow_private_networks))
    page = await context.new_page()
    page.on("response", recorder.on_response)
    await page.goto(url, wait_until="domcontentloaded", timeout=settings.browser_timeout_s * 1000)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.browser_settle_s
    while True:
        for src in await page.evaluate(_DOM_MEDIA_JS):
            recorder.add(str(src), None, None, from_dom=True)
        if recorder.found or loop.time() >= deadline:
            break
        await asyncio.sleep(0.1)
    await context.close()


def _cookies_for(request: JobRequest, url: str) -> dict[str, str]:
    return cookie_headers(request.cookies, url)


def _browser_error(exc: Exception) -> JobError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if type(exc).__name__ == "TimeoutError":
        return StageTimeout(f"the page did not finish loading: {text}")
    if "ERR_BLOCKED_BY_CLIENT" in text:
        return UnsupportedSource("links to private or local network addresses are not allowed")
    if "net::ERR_" in text:
        return NetworkError(f"the page could not be loaded: {text}")
    if "Executable doesn't exist" in text or "Failed to launch" in text:
        return ExtractorError(f"Chromium could not be started: {text}")
    return ExtractorError(f"the browser failed: {text}")


class BrowserSource(Source):
    """Pages that need a browser (configured domains), and the fallback for unknown pages."""

    name: ClassVar[SourceType] = SourceType.BROWSER
    example: ClassVar[str] = "https://player.example.org/watch/episode-7"

    async def describe(self, request: JobRequest) -> MediaPlan:
        if not self.suitable(request.url, self.settings):
            plan = await self._without_browser(request)
            if plan is not None:
                return plan
        return await self.describe_with_browser(request)

    async def describe_with_browser(self, request: JobRequest) -> MediaPlan:
        """Load the page in Chromium and describe the best media it used."""
        found = await sniff_media(request.url, self.settings, request.cookies)
        best = best_candidate(found, request.job_type)
        if best is None:
            raise ParserError("no audio or video was found on this page, even in a browser")
        check_url(best.url, allow_private=self.settings.allow_private_networks)
        headers = {"Referer": request.url}
        probe = Probe(best.url, best.mime or "", best.size, best.url.rsplit("/", 1)[-1], best.kind)
        if best.kind != "stream" and best.size is None:
            probe = await probe_media(
                best.url, self.settings, {**headers, **_cookies_for(request, best.url)}
            )
        plan = plan_from_probe(
            probe, self.settings, headers=headers, cookie_file=request.cookie_file
        )
        plan.extra["page_url"] = request.url
        plan.extra["found_by"] = "browser"
        return plan

    async def _without_browser(self, request: JobRequest) -> MediaPlan | None:
        """Probe, static HTML, yt-dlp generic: the first that finds media wins."""
        probe = await probe_media(
            request.url, self.settings, _cookies_for(request, request.url) or None
        )
        if probe.kind is not None:
            return plan_from_probe(probe, self.settings, cookie_file=request.cookie_file)
        if not probe.mime.startswith(("text/html", "application/xhtml")):
            if "xml" in probe.mime or "rss" in probe.mime or "atom" in probe.mime:
                # podcast/lecture feeds: yt-dlp reads them as playlists
                try:
                    info = await extract_info(request.url, self.settings, request)
                except (UnsupportedSource, ExtractorError):
                    info = None
                if info is not None:
                    return plan_from_info(info, request, self.settings)
            # not a page and not media: a plain file, delivered as a document
            plan = plan_from_probe(probe, self.settings, cookie_file=request.cookie_file)
            plan.extra["document"] = True
            return plan
        html, final = await fetch_page(request.url, self.settings, request.cookies)
        page = parse_media_page(html, final)
        link = pick_link(page.links, request.job_type)
        if link is not None and link.origin == "element":
            check_url(link.url, allow_private=self.settings.allow_private_networks)
            media = await probe_media(
                link.url, self.settings, {"Referer": final, **_cookies_for(request, link.url)}
            )
            plan = plan_from_probe(
                media, self.settings, headers={"Referer": final}, cookie_file=request.cookie_file
            )
            plan.title = page.title or plan.title
            return plan
        try:
            info = await extract_info(request.url, self.settings, request)
        except (UnsupportedSource, ExtractorError) as exc:
            log.info("yt-dlp found nothing; trying the browser", extra={"reason": exc.message})
            return None
        return plan_from_info(info, request, self.settings)
