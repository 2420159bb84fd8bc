"""Telegram misbehaving: flood waits, an outage, and a restart in the middle of a job."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e._bot_harness import USER, big_video, running_bot, unique
from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer


def _downloads(server: MediaServer, url: str) -> int:
    key = url.rsplit("k=", 1)[1]
    return sum(1 for r in server.requests() if r.query.get("k") == key and r.method == "GET")


def _progress_text(fake: FakeTelegram, needle: str) -> object:
    return next((m for m in fake.messages_to(USER) if needle in (m.text or "")), None)


async def test_flood_wait_is_honoured_without_downloading_again(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    url = unique(media_server, "/media/h264_aac.mp4")
    fake_telegram.fail_next("sendVideo", times=1, kind="429", retry_after=2)
    # retry_max_s caps an error's own Retry-After at 4x; keep it above the flood wait
    async with running_bot(tmp_path, fake_telegram, retry_max_s=5) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        ok = await fake_telegram.async_wait_for("sendVideo", timeout=60)
        refused = [c for c in fake_telegram.calls("sendVideo") if c.status == 429]
        assert len(refused) == 1
        assert ok.time - refused[0].time >= 1.9
        assert _downloads(media_server, url) == 1
        job = await bot.job_status((await bot.jobs())[0].id, "COMPLETED")
        assert job.attempts == 1  # the flood wait cost one attempt, not a new download
        assert len([m for m in fake_telegram.chat(USER) if m.kind == "video"]) == 1


async def test_telegram_down_for_a_while_then_delivered_once(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer, media_dir: Path
) -> None:
    url = unique(media_server, f"/slow/{big_video(media_dir)}", rate=1_000_000)
    async with running_bot(tmp_path, fake_telegram, max_attempts=6, retry_max_s=5):
        fake_telegram.user_sends_text(USER, f"/video {url}")
        await fake_telegram.async_wait_for(
            lambda: _progress_text(fake_telegram, "Downloading"), timeout=30
        )
        fake_telegram.set_down(True)
        await fake_telegram.async_wait_for(
            lambda: [c for c in fake_telegram.calls("sendVideo") if c.status == 502], timeout=60
        )
        await asyncio.sleep(2.5)  # the outage goes on for a while
        fake_telegram.set_down(False)
        await fake_telegram.async_wait_for("sendVideo", timeout=60)
        await fake_telegram.async_wait_for(
            lambda: not any(m.kind == "text" for m in fake_telegram.messages_to(USER)), timeout=20
        )
        assert _downloads(media_server, url) == 1
        assert len([m for m in fake_telegram.chat(USER) if m.kind == "video"]) == 1


async def test_restart_mid_download_continues_the_same_message(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer, media_dir: Path
) -> None:
    url = unique(media_server, f"/slow/{big_video(media_dir)}", rate=1_000_000)
    async with running_bot(tmp_path, fake_telegram) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        progress = await fake_telegram.async_wait_for(
            lambda: _progress_text(fake_telegram, "%"), timeout=30
        )
        job_id = (await bot.jobs())[0].id
    assert progress is not None
    edits_before = progress.edits  # type: ignore[attr-defined]
    async with running_bot(tmp_path, fake_telegram) as bot:
        await fake_telegram.async_wait_for("sendVideo", timeout=60)
        job = await bot.job_status(job_id, "COMPLETED")
        await fake_telegram.async_wait_for("deleteMessage", timeout=10)
    texts = [m for m in fake_telegram.messages_to(USER, include_deleted=True) if m.kind == "text"]
    assert [m.message_id for m in texts] == [job.progress_message_id]
    assert texts[0].edits > edits_before and texts[0].deleted
    assert len([c for c in fake_telegram.calls("sendVideo") if c.ok]) == 1
