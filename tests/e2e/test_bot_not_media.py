"""Files that only look like media to ffprobe's catch-all demuxers are documents."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.e2e._bot_harness import USER, running_bot
from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer


@pytest.mark.parametrize(
    ("name", "path"),
    [
        # ffprobe's bintext demuxer claims any *.bin (a 1280x20480 "video")
        ("r.bin", "/media/{file}"),
        # a lying server: says video/mp4, sends random bytes named r.bin
        ("r.bin", "/ctype/clip?file={file}&type=video/mp4&filename=r.bin"),
        # ffprobe's tty demuxer claims *.nfo as an ANSI-art "video"
        ("notes.nfo", "/ctype/notes?file={file}&type=video/mp4&filename=notes.nfo"),
    ],
)
async def test_random_bytes_are_delivered_as_a_document_unchanged(
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    media_server: MediaServer,
    media_dir: Path,
    name: str,
    path: str,
) -> None:
    stored = f"{uuid.uuid4().hex[:10]}-{name}"
    body = os.urandom(400 * 1024)
    (media_dir / stored).write_bytes(body)
    url = media_server.url(path.format(file=stored))
    async with running_bot(tmp_path, fake_telegram) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        call = await fake_telegram.async_wait_for("sendDocument", timeout=60)
        assert call.files["document"].content == body
        job = (await bot.wait_jobs(1))[0]
        job = await bot.job_status(job.id, "COMPLETED", "FAILED", timeout=30)
        assert (job.status, job.error_type) == ("COMPLETED", None)
        assert not fake_telegram.calls("sendVideo") and not fake_telegram.calls("sendAudio")
