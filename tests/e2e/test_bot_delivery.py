"""A link in, playable media out: progress, sendVideo/sendAudio, cache re-send."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

from tests.e2e._bot_harness import (
    OTHER,
    USER,
    big_video,
    ffprobe,
    running_bot,
    top_level_atoms,
    unique,
)
from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer


async def test_link_becomes_streamable_video_with_progress(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer, media_dir: Path
) -> None:
    url = unique(media_server, f"/slow/{big_video(media_dir)}", rate=800_000)
    async with running_bot(tmp_path, fake_telegram) as bot:
        sent = fake_telegram.user_sends_text(USER, f"/video {url}")
        video = await fake_telegram.async_wait_for("sendVideo", timeout=60)
        await fake_telegram.async_wait_for("deleteMessage")
        chat = fake_telegram.chat(USER)
        # the media replied to the user's message and the progress message is gone
        media = [m for m in chat if m.kind == "video"]
        assert len(media) == 1
        assert media[0].raw["reply_to_message"]["message_id"] == sent.message_id
        progress = [
            m for m in fake_telegram.messages_to(USER, include_deleted=True) if m.kind == "text"
        ]
        assert len(progress) == 1 and progress[0].deleted
        shown = [t or "" for t in progress[0].history]
        assert any("Downloading" in t and "%" in t for t in shown), shown
        assert len(shown) == len(set(shown)), "an edit repeated the same text"
        assert video.params["supports_streaming"] in (True, "true")
        assert int(video.params["width"]) == 640 and int(video.params["height"]) == 360
        assert int(video.params["duration"]) == 5
        assert "bot_big" in (media[0].text or "")
        upload = video.files["video"]
        saved = upload.save(tmp_path / "got.mp4")
        atoms = top_level_atoms(saved.read_bytes())
        assert atoms.index("moov") < atoms.index("mdat")
        info = ffprobe(saved)
        assert "codec_name=h264" in info and "codec_name=aac" in info
        job = (await bot.jobs())[0]
        assert job.telegram_file_id == media[0].file.file_id
        assert job.progress_message_id == progress[0].message_id


async def test_audio_job_is_sent_as_tagged_audio(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    url = unique(media_server, "/media/audio.mp3")
    async with running_bot(tmp_path, fake_telegram):
        fake_telegram.user_sends_text(USER, f"/audio {url}")
        call = await fake_telegram.async_wait_for("sendAudio", timeout=60)
        assert call.params["title"] == "audio"
        assert int(call.params["duration"]) == 5
        saved = call.files["audio"].save(tmp_path / "got.m4a")
        info = ffprobe(saved)
        assert (
            "codec_type=audio" in info
            and "codec_type=video" not in info.replace("attached_pic=1", "")
        ) or "attached_pic=1" in info
        assert "TAG:title=audio" in info
        shown = [m for m in fake_telegram.chat(USER) if m.kind == "audio"]
        assert len(shown) == 1 and shown[0].raw["audio"]["title"] == "audio"


async def test_same_link_again_is_resent_by_file_id_without_download(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer, db_url: str
) -> None:
    url = unique(media_server, "/media/h264_aac.mp4")
    key = url.rsplit("k=", 1)[1]

    def downloads() -> int:
        return sum(
            1
            for r in media_server.requests("/media/h264_aac.mp4")
            if r.query.get("k") == key and r.method == "GET"
        )

    async with running_bot(tmp_path, fake_telegram, db_url=db_url) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        first = await fake_telegram.async_wait_for("sendVideo", timeout=60)
        await bot.job_status((await bot.jobs())[0].id, "COMPLETED")
        fetched = downloads()
        assert fetched >= 1
        # another user, another chat: re-sent by file_id, no upload, no download
        fake_telegram.user_sends_text(OTHER, f"/video {url}")
        again = await fake_telegram.async_wait_for("sendVideo", timeout=10, count=2)
        assert again.params["chat_id"] == OTHER
        assert not again.files
        assert again.params["video"] == first.result["video"]["file_id"]
        assert downloads() == fetched
        assert len(await bot.jobs()) == 1
        assert [m.kind for m in fake_telegram.chat(OTHER) if m.from_bot] == ["video"]


async def test_second_chat_on_running_job_gets_it_when_done(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    url = unique(media_server, "/slow/h264_aac.mp4", rate=60_000)
    async with running_bot(tmp_path, fake_telegram) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        await fake_telegram.async_wait_for(
            lambda: any("Downloading" in (m.text or "") for m in fake_telegram.messages_to(USER))
        )
        note = await bot.send(OTHER, f"/video {url}")
        assert "already being fetched" in (note.text or "")
        await fake_telegram.async_wait_for("sendVideo", timeout=60, count=2)
        first, second = [c for c in fake_telegram.calls("sendVideo") if c.ok]
        assert {first.params["chat_id"], second.params["chat_id"]} == {USER, OTHER}
        assert not second.files and second.params["video"] == first.result["video"]["file_id"]
        assert len(await bot.jobs()) == 1


async def test_markup_characters_in_title_are_escaped(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    from urllib.parse import quote

    hostile = "<i>Tom & Jerry <3 *_[x]_* `code` &amp"
    url = unique(
        media_server,
        "/ctype/clip",
        file="h264_aac.mp4",
        type="video/mp4",
        filename=quote(hostile + ".mp4"),
    )
    async with running_bot(tmp_path, fake_telegram):
        fake_telegram.user_sends_text(USER, f"/video {url}")
        await fake_telegram.async_wait_for("sendVideo", timeout=60)
        media = [m for m in fake_telegram.chat(USER) if m.kind == "video"]
        assert len(media) == 1
        caption = media[0].text or ""
        assert caption.startswith(hostile), caption


async def test_link_done_by_the_cli_is_uploaded_without_download(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    url = unique(media_server, "/media/h264_aac.mp4")
    key = url.rsplit("k=", 1)[1]
    async with running_bot(tmp_path, fake_telegram) as bot:
        job = (await bot.services.jobs.create(url, origin="cli")).job
        await bot.job_status(job.id, "COMPLETED", timeout=60)
        fetched = [r for r in media_server.requests() if r.query.get("k") == key]
        fake_telegram.user_sends_text(USER, f"/video {url}")
        call = await fake_telegram.async_wait_for("sendVideo", timeout=30)
        assert call.files  # uploaded from the finished job's file
        assert [r for r in media_server.requests() if r.query.get("k") == key] == fetched
        for _ in range(200):  # the file_id is stored just after the send returns
            if (await bot.services.jobs.get(job.id)).telegram_file_id:
                break
            await asyncio.sleep(0.05)
        assert (await bot.services.jobs.get(job.id)).telegram_file_id == call.result["video"][
            "file_id"
        ]


async def test_a_playlist_range_queues_its_entries_and_delivers_them(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer, media_dir: Path
) -> None:
    entries = "".join(
        f"<item><title>Talk {i}</title><guid>talk-{i}</guid>"
        f'<enclosure url="{html.escape(unique(media_server, "/media/audio.mp3", n=i))}" '
        'type="audio/mpeg" '
        'length="1000"/></item>'
        for i in range(1, 6)
    )
    (media_dir / "bot_feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Talks</title>'
        f"<link>{media_server.base_url}</link><description>d</description>{entries}"
        "</channel></rss>"
    )
    feed = media_server.url("/ctype/talks?file=bot_feed.xml&type=application/rss%2Bxml")
    async with running_bot(tmp_path, fake_telegram) as bot:
        fake_telegram.user_sends_text(USER, f"/audio {feed} 2-3")
        await fake_telegram.async_wait_for("sendAudio", timeout=60, count=2)

        def summary() -> bool:
            return any(
                "2 of 2 entries queued" in (t or "")
                for m in fake_telegram.messages_to(USER, include_deleted=True)
                for t in m.history
            )

        await fake_telegram.async_wait_for(summary, 15)
        titles = sorted(c.params.get("title", "") for c in fake_telegram.calls("sendAudio"))
        assert titles == ["Talk 2", "Talk 3"]
        assert len(await bot.jobs()) == 3  # the playlist and its two entries
