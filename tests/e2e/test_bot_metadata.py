"""Metadata kept, seen from Telegram (issue 12, step 4): a link to an MP3 arrives as the
same MP3 (not one frame re-encoded) with its own title and artist in ``sendAudio``; a
file with hostile tags still arrives, with a valid, bounded caption and file name."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from mutagen.id3 import APIC, ID3, TIT2, TPE1

from mediaferry.media.tags import MAX_TAG_CHARS
from tests.e2e._bot_harness import USER, running_bot, unique
from tests.support.fake_telegram import MAX_CAPTION, FakeTelegram
from tests.support.media_server import MediaServer

FF = ["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-y"]


def mp3(path: Path, *meta: str) -> Path:
    tags = [arg for kv in meta for arg in ("-metadata", kv)]
    subprocess.run(
        [*FF, "-f", "lavfi", "-i", "sine=frequency=620:duration=4", "-c:a", "libmp3lame",
         "-b:a", "96k", *tags, str(path)],
        check=True,
    )  # fmt: skip
    return path


def packet_hashes(path: Path) -> list[str]:
    out = subprocess.run(
        [*FF, "-i", str(path), "-map", "0:a", "-c", "copy", "-f", "framemd5", "-"],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if not line.startswith("#")]


async def test_an_mp3_link_arrives_stream_copied_with_its_own_tags(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    name = f"01_track-{uuid.uuid4().hex[:8]}.mp3"
    src = mp3(media_server.root / name, "title=Morning Adhkar", "artist=Sheikh Example")
    # the bare link's keyboard goes unanswered: the chat's default is used, soon
    async with running_bot(tmp_path, fake_telegram, ask_timeout_s=0.5):
        fake_telegram.user_sends_text(USER, unique(media_server, f"/media/{name}"))
        call = await fake_telegram.async_wait_for("sendAudio", timeout=60)
    assert (call.params["title"], call.params["performer"]) == ("Morning Adhkar", "Sheikh Example")
    upload = call.files["audio"]
    assert upload.filename.endswith(".mp3")
    got = upload.save(tmp_path / "got.mp3")
    assert packet_hashes(got) == packet_hashes(src)  # stream copy: equal packet checksums
    assert str(ID3(got)["TIT2"]) == "Morning Adhkar"


async def test_hostile_tags_give_a_valid_bounded_caption_and_name(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    name = f"hostile-{uuid.uuid4().hex[:8]}.mp3"
    src = mp3(media_server.root / name)
    id3 = ID3()
    markup = "<b>unclosed <a href='javascript:x'>&amp; &lt;"
    id3.add(TIT2(encoding=3, text=[markup + "\x01\x1f" + "Ж" * 1_000_000]))
    id3.add(TPE1(encoding=3, text=["</i>" * 5000]))
    id3.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="", data=b"\xff\xd8" * 10_000_000))
    id3.save(src, v2_version=3)
    # the bare link's keyboard goes unanswered: the chat's default is used, soon
    async with running_bot(tmp_path, fake_telegram, ask_timeout_s=0.5):
        fake_telegram.user_sends_text(USER, unique(media_server, f"/media/{name}"))
        call = await fake_telegram.async_wait_for("sendAudio", timeout=60)
    assert call.ok  # the fake refuses captions that do not parse or exceed 1024 characters
    title = str(call.params["title"])
    assert title.startswith(markup) and len(title) <= MAX_TAG_CHARS and title.isprintable()
    assert len(str(call.params["performer"])) <= MAX_TAG_CHARS
    shown = next(m for m in fake_telegram.chat(USER) if m.kind == "audio")
    assert shown.text is not None and len(shown.text) <= MAX_CAPTION
    assert shown.text.startswith(markup)  # the markup is shown as text, not parsed
    filename = call.files["audio"].filename
    assert len(filename.encode()) <= 255 and "/" not in filename and filename.endswith(".mp3")
