"""The one Telegram send path against a fake Bot API as strict as the public one:
flood limits, file:// media refused, errors on the first progress message, and a video
over the upload limit delivered in parts."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from telegram import Bot, InputMediaVideo
from telegram.error import BadRequest, RetryAfter

from mediaferry.delivery.ratelimit import Priority, SendDropped
from tests.e2e._bot_harness import USER, big_video, ffprobe, noisy_video, running_bot, unique
from tests.integration.test_web_harness import WebFactory
from tests.integration.test_web_harness import make_web_fixture as make_web_fixture
from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer

MB = 1024 * 1024


async def test_fake_answers_429_when_a_chat_gets_messages_too_fast(
    fake_telegram: FakeTelegram,
) -> None:
    async with Bot(**fake_telegram.bot_kwargs()) as bot:
        with pytest.raises(RetryAfter):
            for i in range(10):
                await bot.send_message(USER, f"message {i}")
        with pytest.raises(RetryAfter):
            for i in range(10):
                await bot.send_message(-100123, f"group message {i}")
    refused = fake_telegram.flood_refusals
    assert [c.params["chat_id"] for c in refused] == [USER, -100123]
    assert all(c.status == 429 and c.result["parameters"]["retry_after"] >= 1 for c in refused)


async def test_fake_answers_429_beyond_30_messages_in_one_second_in_all(
    fake_telegram: FakeTelegram,
) -> None:
    """The global limit is a window: no second may hold more than 30, burst or not."""
    async with Bot(**fake_telegram.bot_kwargs()) as bot:
        start = time.monotonic()
        for chat in range(1, 31):  # 30 different chats: each within its own limit
            await bot.send_message(chat, "hello")
        if time.monotonic() - start > 0.9:  # ~0.1 s here; a second apart proves nothing
            pytest.skip("this machine took over 0.9 s to send 30 messages")
        with pytest.raises(RetryAfter):
            await bot.send_message(31, "one too many")
    refused = fake_telegram.flood_refusals
    assert [c.params["chat_id"] for c in refused] == [31]


def _video_album(path: Path) -> list[InputMediaVideo]:
    # python-telegram-bot turns a path inside InputMedia* into a file:// URI
    return [InputMediaVideo(path), InputMediaVideo(path)]


async def test_fake_refuses_file_uris_like_the_public_server(media_dir: Path) -> None:
    clip = media_dir / "h264_aac.mp4"
    with FakeTelegram() as public:
        async with Bot(**public.bot_kwargs()) as bot:
            with pytest.raises(BadRequest, match=r"(?i)wrong file identifier/http url specified"):
                await bot.send_media_group(USER, _video_album(clip))
        assert not public.messages_to(USER)
    with FakeTelegram(local_mode=True) as local:
        async with Bot(**local.bot_kwargs(), local_mode=True) as bot:
            msgs = await bot.send_media_group(USER, _video_album(clip))
        assert len(msgs) == 2
        stored = local.file(msgs[0].video.file_id)
        assert stored is not None and stored.content == clip.read_bytes()


async def test_video_over_the_upload_limit_arrives_as_an_album_of_uploaded_parts(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer, media_dir: Path
) -> None:
    source = noisy_video(media_dir)
    assert source.stat().st_size > 120_000_000
    url = unique(media_server, f"/media/{source.name}")
    async with running_bot(tmp_path, fake_telegram, timeout_deliver_s=120) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        album = await fake_telegram.async_wait_for("sendMediaGroup", timeout=90)
        job = await bot.job_status((await bot.jobs())[0].id, "COMPLETED", timeout=30)
    items = album.params["media"]
    # every item was an upload (attach://), none a file:// path the server cannot read
    assert all(str(m["media"]).startswith("attach://") for m in items)
    uploads = [album.files[str(m["media"]).removeprefix("attach://")] for m in items]
    assert len(uploads) >= 3
    assert all(len(u.content) <= 50 * MB for u in uploads)
    assert sum(len(u.content) for u in uploads) > 110 * MB
    refused = [c for c in fake_telegram.calls() if c.status == 400]
    assert not refused, [c.result for c in refused]
    shown = [m for m in fake_telegram.chat(USER) if m.kind == "video"]
    assert len(shown) == len(uploads)
    assert all(f"part {i}/{len(uploads)}" in (m.text or "") for i, m in enumerate(shown, 1))
    part = uploads[1].save(tmp_path / "part2.mp4")
    assert "codec_name=h264" in ffprobe(part)
    assert len((job.telegram_file_id or "").split()) == len(uploads)
    assert fake_telegram.flood_refusals == []


def _send_message_attempts(fake: FakeTelegram) -> list[float]:
    return [c.time for c in fake.calls("sendMessage")]


async def test_first_progress_message_backs_off_after_server_errors(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer, media_dir: Path
) -> None:
    url = unique(media_server, f"/slow/{big_video(media_dir)}", rate=500_000)
    fake_telegram.fail_next("sendMessage", times=2, kind="500")
    async with running_bot(tmp_path, fake_telegram) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        await fake_telegram.async_wait_for("sendMessage", timeout=20)
        attempts = _send_message_attempts(fake_telegram)
        assert len(attempts) == 3  # two refusals, then the message: no hammering
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert all(g >= 0.9 for g in gaps), gaps
        await bot.job_status((await bot.jobs())[0].id, "COMPLETED", timeout=60)


async def test_first_progress_message_honours_retry_after(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer, media_dir: Path
) -> None:
    url = unique(media_server, f"/slow/{big_video(media_dir)}", rate=500_000)
    fake_telegram.fail_next("sendMessage", times=1, kind="429", retry_after=3)
    async with running_bot(tmp_path, fake_telegram) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        await fake_telegram.async_wait_for("sendMessage", timeout=20)
        attempts = _send_message_attempts(fake_telegram)
        assert len(attempts) == 2
        assert attempts[1] - attempts[0] >= 2.9
        await bot.job_status((await bot.jobs())[0].id, "COMPLETED", timeout=60)
        assert bot.services.send_limiter.floods == 1


async def test_metrics_count_flood_waits_and_dropped_progress(make_web: WebFactory) -> None:
    web = await make_web(workers=False)
    limiter = web.services.send_limiter
    limiter.flood(USER, 5.0)  # what the Bot API adapter records on a 429
    with pytest.raises(SendDropped):
        async with limiter.slot(USER, Priority.PROGRESS):
            pass
    text = (await web.client.get("/metrics")).text
    assert "mediaferry_telegram_flood_waits_total 1.0" in text
    assert "mediaferry_telegram_progress_dropped_total 1.0" in text
