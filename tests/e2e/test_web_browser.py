"""The web page in Debian's Chromium (Playwright): key prompt, a live download, cancel,
job detail and library search, with no reload; a Telegram job's wait, chat and message."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from mediaferry.db.models import MediaItem
from tests.integration.test_web_harness import API_KEY, Web, WebFactory
from tests.integration.test_web_harness import make_web_fixture as make_web_fixture
from tests.support.fake_mtproto import FakeMTProtoServer
from tests.support.media_server import MediaServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The page does not care which database is behind the API: SQLite only."""
    return f"sqlite+aiosqlite:///{tmp_path / 'mf.db'}"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def _add_library_item(web: Web) -> None:
    folder = web.services.settings.archive_dir / "direct" / "2024-05"
    folder.mkdir(parents=True)
    song = folder / "Blue Monday.mp3"
    song.write_bytes(b"ID3" + b"\0" * 4096)
    async with web.services.db.session() as session:
        session.add(
            MediaItem(
                path=str(song),
                title="Blue Monday",
                performer="New Order",
                file_format="mp3",
                size=song.stat().st_size,
            )
        )


async def _submit(page: Page, url: str) -> None:
    await page.fill("#url", url)
    await page.select_option("#type", "video")
    await page.select_option("#quality", "best")
    await page.click("#submit")


async def test_page_submits_watches_cancels_and_searches(
    make_web: WebFactory, media_server: MediaServer, browser: Browser, tmp_path: Path
) -> None:
    web = await make_web()
    await _add_library_item(web)
    page = await browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(web.url)

    # the API needs a key: the page asks once and keeps it
    await expect(page.locator("#key-panel")).to_be_visible()
    await page.fill("#key-input", API_KEY)
    await page.click("#key-form button")
    await expect(page.locator("#key-panel")).to_be_hidden()
    await expect(page.locator("#live")).to_have_text("live", timeout=10_000)
    assert await page.evaluate("localStorage.getItem('mediaferry.apiKey')") == API_KEY
    await page.evaluate("window.__noReload = true")

    # a link from the media server: progress bar to done, live
    await _submit(page, media_server.url("/media/h264_aac.mp4"))
    await expect(page.locator("#form-msg")).to_contain_text("Added job")
    done = page.locator('li.job[data-status="COMPLETED"]')
    await expect(done).to_have_count(1, timeout=60_000)
    await expect(done.locator(".bar")).to_have_attribute("data-state", "done")
    await expect(done.locator(".bar")).to_have_attribute("aria-valuenow", "100")
    await expect(done.locator("a.download")).to_be_visible()
    href = await done.locator("a.download").get_attribute("href")
    assert href is not None and href.endswith(f"key={API_KEY}")

    # another, slow one: cancel it from the page
    await _submit(page, media_server.url("/slow/long.mp4?rate=20000"))
    running = page.locator('li.job[data-status="RUNNING"]')
    await expect(running).to_have_count(1, timeout=30_000)
    await running.locator("button.cancel").click()
    cancelled = page.locator('li.job[data-status="CANCELLED"]')
    await expect(cancelled).to_have_count(1, timeout=15_000)
    await expect(cancelled.locator(".bar")).to_have_attribute("data-state", "stopped")

    # library search
    await page.fill("#lib-q", "blue")
    await page.click("#lib-form button")
    await expect(page.locator("#lib-results li")).to_have_count(1)
    await expect(page.locator("#lib-results")).to_contain_text("Blue Monday")
    await expect(page.locator("#lib-results")).to_contain_text("New Order")

    assert await page.evaluate("window.__noReload") is True
    shot = tmp_path / "page.png"
    await page.screenshot(path=str(shot), full_page=True)

    # job detail: the event timeline
    await done.locator("a.title").click()
    await expect(page.locator("#detail")).to_be_visible()
    await expect(page.locator("#detail-events")).to_contain_text("created")
    await expect(page.locator("#detail-events")).to_contain_text("download finished")
    await page.screenshot(path=str(tmp_path / "detail.png"))
    await page.click("#detail-close")

    # narrow screens get the same page, still usable
    await page.set_viewport_size({"width": 390, "height": 800})
    await page.screenshot(path=str(tmp_path / "narrow.png"), full_page=True)
    assert errors == []
    assert shot.stat().st_size > 10_000


async def test_page_follows_a_feed(
    make_web: WebFactory, media_server: MediaServer, browser: Browser, tmp_path: Path
) -> None:
    from tests.support.feed_server import FeedServer

    feed = FeedServer()
    try:
        feed.publish("Episode 1", media_server.url("/media/audio.mp3?page-follow=1"))
        web = await make_web(workers=False)
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(web.url)
        await page.fill("#key-input", API_KEY)
        await page.click("#key-form button")
        await expect(page.locator("#follows-empty")).to_be_visible()
        await page.fill("#follow-url", feed.url("/rss.xml"))
        await page.select_option("#follow-type", "audio")
        await page.click("#follow-form button")
        await expect(page.locator("#follow-msg")).to_contain_text("Following #1: Test podcast")
        await expect(page.locator("#follows li")).to_have_count(1)
        feed.publish("Episode 2", media_server.url("/media/audio.mp3?page-follow=2"))
        await page.click("#follows li button:has-text('Check now')")
        await expect(page.locator("#follow-msg")).to_contain_text("new item(s) queued")
        await page.click("#follows li button:has-text('Pause')")
        await expect(page.locator("#follows li")).to_contain_text("paused")
        assert (await web.services.follows.get(1)).paused
        await page.fill("#follow-url", feed.url("/page.html"))
        await page.click("#follow-form button")
        await expect(page.locator("#follow-msg")).to_contain_text("not a playlist", timeout=30_000)
        await page.screenshot(path=str(tmp_path / "following.png"), full_page=True)
        await page.click("#follows li button:has-text('Remove')")
        await expect(page.locator("#follows li")).to_have_count(0)
        assert errors == []
    finally:
        feed.close()


async def test_page_shows_a_telegram_jobs_wait_message_and_chat(
    make_web: WebFactory,
    browser: Browser,
    fake_mtproto: FakeMTProtoServer,
    mtproto_public_key: Path,
) -> None:
    world = fake_mtproto.world
    me = world.add_user("Reader", username="reader")
    chan = world.add_channel("Lectures", username="lectures", members=[me])
    doc = world.add_document(os.urandom(3 * 1024 * 1024 + 7), file_name="talk.bin")
    msg = world.post(chan, "a talk on patience", media=doc)
    web = await make_web(
        telegram_api_id=611335,
        telegram_api_hash="d524b414d21f4d37f08684c1df41ac9c",
        telegram_mtproto_server=fake_mtproto.address,
        telegram_mtproto_public_key=mtproto_public_key,
        telegram_user_session=fake_mtproto.session_string(me),
        progress_interval_s=0.1,
    )
    page = await browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(web.url)
    await page.fill("#key-input", API_KEY)
    await page.click("#key-form button")
    await expect(page.locator("#live")).to_have_text("live", timeout=10_000)

    # Telegram asks to wait: the job's line says so while it waits
    fake_mtproto.faults.flood_wait("upload.getFile", 3)
    r = await web.client.post(
        "/api/jobs", json={"url": f"https://t.me/lectures/{msg.id}", "archive": True}
    )
    assert r.status_code == 201, r.text
    row = page.locator(f'li.job[data-job-id="{r.json()["id"]}"]')
    await expect(row).to_contain_text("Telegram asks to wait 3 s", timeout=15_000)
    await expect(row).to_have_attribute("data-status", "COMPLETED", timeout=30_000)
    await expect(row).not_to_contain_text("asks to wait")

    # the detail names the chat, the message and its caption
    await row.locator("a.title").click()
    await expect(page.locator("#detail-meta")).to_contain_text("Lectures")
    await expect(page.locator("#detail-meta")).to_contain_text(f"#{msg.id}")
    await expect(page.locator("#detail-meta")).to_contain_text("a talk on patience")
    await expect(page.locator("#detail-events")).to_contain_text("waiting: Telegram asks")
    await page.click("#detail-close")

    # the library, by the chat it was archived from
    await page.fill("#lib-q", "talk")
    await page.fill("#lib-chat", "@lectures")
    await page.click("#lib-form button")
    await expect(page.locator("#lib-results li")).to_have_count(1)
    await page.fill("#lib-chat", "@elsewhere")
    await page.click("#lib-form button")
    await expect(page.locator("#lib-msg")).to_have_text("Nothing found.")
    assert errors == []
