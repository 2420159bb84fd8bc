"""The bot over MTProto (issue 10): a video over the Bot API's upload limit is sent whole
by the bot's own MTProto session (real python-telegram-bot on the fake Bot API, real
Telethon on the fake MTProto server), then re-sent by its document with no upload and
no download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from telethon.tl import types

from tests.e2e._bot_harness import OTHER, USER, noisy_video, running_bot, unique
from tests.support.fake_mtproto import FakeMTProtoServer
from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer

MB = 1024 * 1024
API = {"telegram_api_id": 611335, "telegram_api_hash": "d524b414d21f4d37f08684c1df41ac9c"}


def _received(server: FakeMTProtoServer, user_id: int) -> list[Any]:
    box = server.world.box(user_id)
    return [m for m in box.messages.values() if m.document is not None]


async def test_a_120_mb_video_goes_whole_over_mtproto_then_is_resent_without_upload(
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_mtproto: FakeMTProtoServer,
    mtproto_public_key: Path,
    media_server: MediaServer,
    media_dir: Path,
) -> None:
    source = noisy_video(media_dir)
    assert source.stat().st_size > 120_000_000
    fake_mtproto.world.add_user("User", user_id=USER)
    fake_mtproto.world.add_user("Other", user_id=OTHER)
    fake_mtproto.world.add_bot("ferrybot", token=fake_telegram.token)
    url = unique(media_server, f"/media/{source.name}")
    key = url.rsplit("k=", 1)[1]

    def downloads() -> int:
        return sum(
            1
            for r in media_server.requests(f"/media/{source.name}")
            if r.query.get("k") == key and r.method == "GET"
        )

    settings: dict[str, Any] = {
        **API,
        "telegram_mtproto_server": fake_mtproto.address,
        "telegram_mtproto_public_key": mtproto_public_key,
        "timeout_deliver_s": 120,
    }
    async with running_bot(tmp_path, fake_telegram, **settings) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        job = await bot.job_status((await bot.wait_jobs())[0].id, "COMPLETED", timeout=120)
        got = _received(fake_mtproto, USER)
        assert len(got) == 1
        doc = got[0].document
        # whole: one document, byte for byte the delivered file, streamable with its facts
        assert job.file_path is not None
        assert doc.size == Path(job.file_path).stat().st_size > 120_000_000
        assert doc.content() == Path(job.file_path).read_bytes()
        video = doc.attribute(types.DocumentAttributeVideo)
        assert video.supports_streaming
        assert (video.w, video.h) == (640, 360)
        assert 9 <= video.duration <= 11
        assert doc.thumb is not None
        # big-file parts of 512 KiB, several connections at once
        uploads = fake_mtproto.stats.requests["upload.saveBigFilePart"]
        assert uploads >= doc.size // (512 * 1024)
        # nothing of it went through the Bot API (no split, no sendVideo/album)
        assert not fake_telegram.calls("sendMediaGroup")
        assert not fake_telegram.calls("sendVideo")
        assert (job.telegram_file_id or "").startswith("mtproto:")
        fetched = downloads()

        # the same link from another user: the stored document again, no upload/download
        fake_telegram.user_sends_text(OTHER, f"/video {url}")
        await fake_mtproto_wait(fake_mtproto, OTHER)
        again = _received(fake_mtproto, OTHER)
        assert [m.document.id for m in again] == [doc.id]
        assert fake_mtproto.stats.requests["upload.saveBigFilePart"] == uploads
        assert downloads() == fetched
        assert len(await bot.jobs()) == 1


async def fake_mtproto_wait(server: FakeMTProtoServer, user_id: int, timeout: float = 30) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not _received(server, user_id):
        assert time.monotonic() < deadline, "nothing arrived over MTProto"
        await asyncio.sleep(0.05)
