"""Sources that read the web at describe time: Islamic pages, direct probes, the browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaferry.config import Settings
from mediaferry.errors import ParserError, UnsupportedSource
from mediaferry.plan import JobRequest, SourceType
from mediaferry.sources.browser import BrowserSource
from mediaferry.sources.direct import DirectSource
from mediaferry.sources.islamic import IslamicSource
from mediaferry.sources.registry import describe, detect_source
from mediaferry.sources.telegram import TelegramSource
from mediaferry.transfer.registry import TransferRegistry
from tests.support.media_server import MediaServer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        allow_private_networks=True,
        data_dir=tmp_path,
        islamic_domains=["127.0.0.1"],
        browser_settle_s=3,
        browser_timeout_s=20,
    )


def req(url: str, job_type: str = "video") -> JobRequest:
    return JobRequest(job_id=1, url=url, job_type=job_type, quality="best")


async def test_islamic_lecture_page(media_server: MediaServer, settings: Settings) -> None:
    url = media_server.url("/pages/islamic.html")
    assert detect_source(url, settings) == SourceType.ISLAMIC
    plan = await IslamicSource(settings).describe(req(url, "audio"))
    assert plan.url == media_server.media_url("audio.mp3")
    assert plan.protocol == "http" and plan.ext == "mp3"
    assert plan.title == "فضل العلم" and plan.uploader == "محمد المثال"
    assert plan.size == (media_server.root / "audio.mp3").stat().st_size
    assert plan.headers["Referer"] == url
    video = await IslamicSource(settings).describe(req(url, "video"))
    assert video.url == media_server.media_url("h264_aac.mp4")


@pytest.mark.parametrize("page", ["nomedia.html", "broken.html"])
async def test_islamic_page_without_media_is_a_parser_error(
    media_server: MediaServer, settings: Settings, page: str
) -> None:
    with pytest.raises(ParserError):
        await IslamicSource(settings).describe(req(media_server.url(f"/pages/{page}")))


async def test_extensionless_media_is_recognised_by_content_type(
    media_server: MediaServer, settings: Settings
) -> None:
    url = media_server.url("/ctype/stream?file=audio.m4a&type=audio/mp4&filename=talk.m4a")
    plain = settings.model_copy(update={"islamic_domains": []})
    assert detect_source(url, plain) == SourceType.BROWSER  # unknown until probed
    plan = await describe(req(url, "audio"), SourceType.BROWSER, settings)
    assert plan.protocol == "http" and plan.mime == "audio/mp4" and plan.title == "talk"


async def test_direct_link_that_is_a_page_is_refused(
    media_server: MediaServer, settings: Settings
) -> None:
    url = media_server.url("/ctype/fake.mp4?file=cover.jpg&type=image/jpeg")
    with pytest.raises(UnsupportedSource, match="not a media file"):
        await DirectSource(settings).describe(req(url))


async def test_browser_finds_a_javascript_injected_video(
    media_server: MediaServer, settings: Settings
) -> None:
    url = media_server.url("/pages/js_player.html")
    plan = await BrowserSource(settings).describe_with_browser(req(url))
    assert plan.url == media_server.media_url("h264_aac.mp4")
    assert plan.protocol == "http" and plan.extra["found_by"] == "browser"


async def test_fallback_chain_reaches_the_browser(
    media_server: MediaServer, settings: Settings
) -> None:
    url = media_server.url("/pages/js_player.html")
    assert detect_source(url, settings.model_copy(update={"islamic_domains": []})) == (
        SourceType.BROWSER
    )
    plan = await BrowserSource(settings).describe(req(url))
    assert plan.url == media_server.media_url("h264_aac.mp4")


async def test_browser_refuses_private_pages_when_not_allowed(
    media_server: MediaServer, tmp_path: Path
) -> None:
    strict = Settings(data_dir=tmp_path, browser_timeout_s=10)
    with pytest.raises(UnsupportedSource):
        await BrowserSource(strict).describe_with_browser(
            req(media_server.url("/pages/js_player.html"))
        )


async def test_telegram_links_without_api_id_say_mtproto_is_off(settings: Settings) -> None:
    with pytest.raises(UnsupportedSource) as info:
        await TelegramSource(settings).describe(req("https://t.me/chan/5"))
    assert info.value.message == (
        "Telegram over MTProto is off: set MEDIAFERRY_TELEGRAM_API_ID and "
        "MEDIAFERRY_TELEGRAM_API_HASH (from my.telegram.org)"
    )


async def test_transfer_registry_routes_by_protocol_and_size(
    media_server: MediaServer, settings: Settings
) -> None:
    small = await DirectSource(settings).describe(req(media_server.media_url("long.mp4")))
    registry = TransferRegistry(settings.model_copy(update={"aria2_min_size_mb": 0}))
    try:
        # over the (zero) threshold: HTTP first, aria2c when one connection is slow
        assert registry.backend_name(small) == "http+aria2"
        registry.settings = settings
        assert registry.backend_name(small) == "http"
        small.protocol = "torrent"
        assert registry.for_plan(small).name == "aria2"
        small.protocol = "ytdlp"
        assert registry.for_plan(small).name == "ytdlp"
        small.protocol = "ftp"
        with pytest.raises(UnsupportedSource):
            registry.for_plan(small)
    finally:
        await registry.close()
