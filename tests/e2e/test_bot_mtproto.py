"""The bot over MTProto (issue 10), real python-telegram-bot on the fake Bot API and
real Telethon on the fake MTProto server: a video over the Bot API's upload limit is
sent whole by the bot's own MTProto session, then re-sent by its document with no upload
and no download; audio goes with title, performer and cover; a supergroup is addressed
with the bot's own access hash."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telethon.tl import types

from tests.e2e._bot_harness import OTHER, USER, big_video, noisy_video, running_bot, unique
from tests.support.fake_mtproto import FakeMTProtoServer, FakeUser
from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer

MB = 1024 * 1024
API = {"telegram_api_id": 611335, "telegram_api_hash": "d524b414d21f4d37f08684c1df41ac9c"}


@dataclass
class Mt:
    """Both fakes, with the users and the bot on the MTProto side too."""

    fake: FakeTelegram
    server: FakeMTProtoServer
    key: Path
    media: MediaServer
    media_dir: Path
    bot: FakeUser

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            **API,
            "telegram_mtproto_server": self.server.address,
            "telegram_mtproto_public_key": self.key,
            **overrides,
        }

    def received(self, user_id: int) -> list[Any]:
        box = self.server.world.box(user_id)
        return [m for m in box.messages.values() if m.document is not None]


@pytest.fixture
def mt(
    fake_telegram: FakeTelegram,
    fake_mtproto: FakeMTProtoServer,
    mtproto_public_key: Path,
    media_server: MediaServer,
    media_dir: Path,
) -> Mt:
    world = fake_mtproto.world
    world.add_user("User", user_id=USER)
    world.add_user("Other", user_id=OTHER)
    bot = world.add_bot("ferrybot", token=fake_telegram.token)
    return Mt(fake_telegram, fake_mtproto, mtproto_public_key, media_server, media_dir, bot)


async def until(condition: Callable[[], Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def test_a_120_mb_video_goes_whole_over_mtproto_then_is_resent_without_upload(
    tmp_path: Path, mt: Mt
) -> None:
    source = noisy_video(mt.media_dir)
    assert source.stat().st_size > 120_000_000
    url = unique(mt.media, f"/media/{source.name}")
    key = url.rsplit("k=", 1)[1]

    def downloads() -> int:
        return sum(
            1
            for r in mt.media.requests(f"/media/{source.name}")
            if r.query.get("k") == key and r.method == "GET"
        )

    async with running_bot(tmp_path, mt.fake, **mt.settings(timeout_deliver_s=120)) as bot:
        mt.fake.user_sends_text(USER, f"/video {url}")
        job = await bot.job_status((await bot.wait_jobs())[0].id, "COMPLETED", timeout=120)
        got = mt.received(USER)
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
        uploads = mt.server.stats.requests["upload.saveBigFilePart"]
        assert uploads >= doc.size // (512 * 1024)
        # nothing of it went through the Bot API (no split, no sendVideo/album)
        assert not mt.fake.calls("sendMediaGroup")
        assert not mt.fake.calls("sendVideo")
        assert (job.telegram_file_id or "").startswith("mtproto:")
        fetched = downloads()

        # the same link from another user: the stored document again, no upload/download
        mt.fake.user_sends_text(OTHER, f"/video {url}")
        await until(lambda: mt.received(OTHER))
        again = mt.received(OTHER)
        assert [m.document.id for m in again] == [doc.id]
        assert mt.server.stats.requests["upload.saveBigFilePart"] == uploads
        assert downloads() == fetched
        assert len(await bot.jobs()) == 1


def _lecture(media_dir: Path) -> Path:
    """A minute of 192 kb/s AAC noise (over 1 MiB once extracted) with a picture track
    and its own title/artist tags: an /audio job's M4A with a cover."""
    path = media_dir / "mtproto_lecture.mp4"
    if not path.exists():
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
             "-f", "lavfi", "-i", "testsrc2=size=480x360:rate=2:duration=60",
             "-f", "lavfi", "-i", "anoisesrc=duration=60:color=pink:amplitude=0.3",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "192k", "-shortest",
             "-metadata", "title=Night Lecture", "-metadata", "artist=Sheikh Test", str(tmp)],
            check=True,
        )  # fmt: skip
        tmp.replace(path)
    return path


# a 1 MB Bot API upload limit: small files go whole over MTProto
SMALL_LIMIT = {"telegram_upload_limit_mb": 1}


async def test_audio_over_the_limit_goes_over_mtproto_with_title_performer_and_cover(
    tmp_path: Path, mt: Mt
) -> None:
    url = unique(mt.media, f"/media/{_lecture(mt.media_dir).name}")
    async with running_bot(tmp_path, mt.fake, **mt.settings(**SMALL_LIMIT)) as bot:
        mt.fake.user_sends_text(USER, f"/audio {url}")
        job = await bot.job_status((await bot.wait_jobs())[0].id, "COMPLETED", timeout=60)
    assert job.file_path is not None and Path(job.file_path).stat().st_size > MB
    (got,) = mt.received(USER)
    doc = got.document
    assert doc.content() == Path(job.file_path).read_bytes()
    assert doc.mime_type.startswith("audio/")
    audio = doc.attribute(types.DocumentAttributeAudio)
    assert (audio.title, audio.performer) == ("Night Lecture", "Sheikh Test")
    assert not audio.voice and 59 <= audio.duration <= 61
    # the cover arrived: a JPEG Telegram keeps (under 200 kB, at most 320 px a side)
    assert mt.server.world.ignored_thumbs == []
    assert doc.thumb is not None and max(doc.thumb[:2]) <= 320
    assert not mt.fake.calls("sendAudio") and not mt.fake.calls("sendDocument")
    assert (job.telegram_file_id or "").startswith("mtproto:")


async def test_a_supergroup_gets_the_file_over_mtproto_with_the_bots_own_access_hash(
    tmp_path: Path, mt: Mt
) -> None:
    world = mt.server.world
    members = [world.users[USER], world.users[OTHER], mt.bot]
    group = world.add_channel("Team", megagroup=True, members=members)
    chat_id = int(f"-100{group.id}")  # the Bot API's id of the same chat
    url = unique(mt.media, f"/media/{big_video(mt.media_dir)}")

    def posted() -> list[Any]:
        return [m for m in group.messages.values() if m.document is not None]

    async with running_bot(tmp_path, mt.fake, **mt.settings(**SMALL_LIMIT)) as bot:
        mt.fake.user_sends_text(USER, f"/video {url}", chat_id=chat_id, chat_type="supergroup")
        job = await bot.job_status((await bot.wait_jobs())[0].id, "COMPLETED", timeout=60)
        assert [m.author_id for m in posted()] == [mt.bot.id]
        doc = posted()[0].document
        assert job.file_path is not None
        assert doc.content() == Path(job.file_path).read_bytes()
        assert doc.attribute(types.DocumentAttributeVideo).supports_streaming
        uploaded = mt.server.stats.requests["upload.saveFilePart"]
        # the same link again in the group: the stored document, no upload
        mt.fake.user_sends_text(OTHER, f"/video {url}", chat_id=chat_id, chat_type="supergroup")
        await until(lambda: len(posted()) == 2)
    assert [m.document.id for m in posted()] == [doc.id, doc.id]
    assert mt.server.stats.requests["upload.saveFilePart"] == uploaded
    # the bot asked its own access hash of the chat once (a send with 0 is refused)
    assert mt.server.stats.requests["channels.getChannels"] == 1
    assert not mt.fake.calls("sendVideo")
    # its MTProto session (an auth key) is readable by the service's user only
    session = tmp_path / "data" / "telegram" / "bot.session"
    assert session.stat().st_mode & 0o777 == 0o600
    assert session.parent.stat().st_mode & 0o777 == 0o700


async def test_a_document_the_bot_sent_is_re_sent_whatever_t_me_link_names_it(
    tmp_path: Path, mt: Mt
) -> None:
    world = mt.server.world
    reader = world.add_user("Reader", username="reader")  # the user account reading chats
    lectures = world.add_channel("Lectures", username="lectures", members=[reader])
    reposts = world.add_channel("Reposts", username="reposts", members=[reader])
    data = (mt.media_dir / "h264_aac.mp4").read_bytes()
    clip = world.add_video(data, duration=5, w=320, h=240, file_name="clip.mp4")
    post = world.post(lectures, "a clip", media=clip)
    repost = world.post(reposts, "the clip again", media=clip)
    settings = mt.settings(telegram_user_session=mt.server.session_string(reader))
    async with running_bot(tmp_path, mt.fake, **settings) as bot:
        mt.fake.user_sends_text(USER, f"/video https://t.me/lectures/{post.id}")
        first = await mt.fake.async_wait_for("sendVideo", timeout=60)
        await bot.job_status((await bot.wait_jobs())[0].id, "COMPLETED")
        file_id = first.result["video"]["file_id"]
        served = mt.server.stats.file_bytes_served
        assert served == len(data)

        # a bare link to the repost: the keyboard's description names the same document
        sent = mt.fake.user_sends_text(OTHER, f"https://t.me/reposts/{repost.id}")
        keyboard = await bot.reply_to(OTHER, sent.message_id)
        video = next(d for text, d in keyboard.buttons if text.startswith("🎬") and d)
        mt.fake.user_presses_button(OTHER, keyboard, video)
        second = await mt.fake.async_wait_for("sendVideo", timeout=30, count=2)
        # the message seen before, by its other link, as a command: found without Telegram
        mt.fake.user_sends_text(OTHER, f"/audio https://t.me/c/{lectures.id}/{post.id}")
        third = await mt.fake.async_wait_for("sendVideo", timeout=30, count=3)
        for call in (second, third):  # re-sent by file_id: no upload, no download
            assert call.params["chat_id"] == OTHER
            assert not call.files and call.params["video"] == file_id
        assert mt.server.stats.file_bytes_served == served
        assert len(await bot.jobs()) == 1
