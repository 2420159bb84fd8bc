"""A link in, playable media out: progress, sendVideo/sendAudio, cache re-send."""

from __future__ import annotations

from pathlib import Path

from tests.e2e._bot_harness import OTHER, USER, ffprobe, running_bot, top_level_atoms, unique
from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer


async def test_link_becomes_streamable_video_with_progress(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    url = unique(media_server, "/slow/h264_aac.mp4", rate=50_000)
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
            m
            for m in fake_telegram.messages_to(USER, include_deleted=True)
            if m.kind == "text"
        ]
        assert len(progress) == 1 and progress[0].deleted
        shown = [t or "" for t in progress[0].history]
        assert any("Downloading" in t and "%" in t for t in shown), shown
        assert len(shown) == len(set(shown)), "an edit repeated the same text"
        assert video.params["supports_streaming"] in (True, "true")
        assert int(video.params["width"]) == 320 and int(video.params["height"]) == 240
        assert int(video.params["duration"]) == 5
        assert "h264_aac" in media[0].text
        upload = video.files["video"]
        saved = upload.save(tmp_path / "got.mp4")
        atoms = top_level_atoms(saved.read_bytes())
        assert atoms.index("moov") < atoms.index("mdat")
        info = ffprobe(saved)
        assert "codec_name=h264" in info and "codec_name=aac" in info
        job = (await bot.jobs())[0]
        assert job.telegram_file_id == media[0].file.file_id
        assert job.progress_message_id == progress[0].message_id
