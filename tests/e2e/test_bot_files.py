"""Files sent or forwarded to the bot (issue 10): real python-telegram-bot on the fake
Bot API, real Telethon on the fake MTProto server, real ffmpeg.

With MTProto the bot reads the file from its own message box (messages.getMessages;
a private chat or basic group) or the supergroup's (channels.getMessages, with its own
access hash of it) and downloads it in parallel parts; without, through getFile (20 MB
at most). A file
with the caption /archive is kept byte for byte in the library; /audio in reply to a
video sends its sound back as tagged audio."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

import telegram

from mediaferry.jobs.tg_archive import ArchiveOptions, archive_chat
from tests.e2e._bot_harness import OTHER, USER, Bot, running_bot
from tests.support.fake_mtproto import FakeMTProtoServer
from tests.support.fake_telegram import ChatMessage, FakeTelegram
from tests.support.media_fixtures import ffprobe_json, make_sparse_file
from tests.support.tg_bridge import bot_api_chat_id, document_for, send_in_group, send_to_bot

MB = 1024 * 1024
API = {"telegram_api_id": 611335, "telegram_api_hash": "d524b414d21f4d37f08684c1df41ac9c"}


def padded_mp4(src: Path, dest: Path, size: int) -> Path:
    """``src`` (a small MP4) made ``size`` bytes long by a trailing ``free`` box whose
    zeros are sparse: a valid, playable MP4 of any size that costs no disk or time."""
    data = src.read_bytes()
    with dest.open("wb") as fh:
        fh.write(data)
        fh.write((size - len(data)).to_bytes(4, "big") + b"free")
        fh.truncate(size)
    return dest


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(4 * MB):
            digest.update(chunk)
    return digest.hexdigest()


async def answer(bot: Bot, sent: ChatMessage, timeout: float = 30) -> str:
    """The bot's first text after ``sent`` in the user's chat (edits applied)."""
    return (await bot.reply_to(sent.chat_id, sent.message_id, timeout)).text or ""


async def final_text(fake: FakeTelegram, chat_id: int, after: int, needle: str) -> str:
    """A bot message after ``after`` that shows ``needle`` (a progress message's end)."""

    def find() -> str | None:
        for m in fake.messages_to(chat_id, include_deleted=True):
            if m.message_id > after and needle in (m.text or ""):
                return m.text
        return None

    found: str = await fake.async_wait_for(find, timeout=60)
    return found


async def test_a_forwarded_100_mb_video_comes_over_mtproto_into_the_library(
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_mtproto: FakeMTProtoServer,
    mtproto_public_key: Path,
    media_dir: Path,
) -> None:
    world = fake_mtproto.world
    world.add_user("User", user_id=USER)
    world.add_bot("ferrybot", token=fake_telegram.token)
    talks = world.add_channel("Friday Talks", username="fridaytalks")
    big = padded_mp4(media_dir / "h264_aac.mp4", tmp_path / "friday_talk.mp4", 100 * MB)
    video = document_for(fake_mtproto, "video", big, duration=5, width=320, height=240)
    post = world.post(talks, "This week's talk", media=video)
    small = shutil.copy(media_dir / "h264_aac.mp4", tmp_path / "short_clip.mp4")
    clip = document_for(fake_mtproto, "video", Path(small), duration=5, width=320, height=240)
    settings: dict[str, Any] = {
        **API,
        "telegram_mtproto_server": fake_mtproto.address,
        "telegram_mtproto_public_key": mtproto_public_key,
        "timeout_download_s": 180,
    }
    async with running_bot(tmp_path, fake_telegram, **settings) as bot:
        # forwarded from the channel with the caption /archive: kept, byte for byte
        sent = send_to_bot(
            fake_telegram, fake_mtproto, USER, video, kind="video",
            caption="/archive", forwarded_from=talks, forwarded_post=post.id,
        )  # fmt: skip
        [job] = await bot.wait_jobs(1)
        assert job.source_type == "TELEGRAM"
        job = await bot.job_status(job.id, "COMPLETED", "FAILED", timeout=180)
        assert (job.status, job.error_message) == ("COMPLETED", None)
        assert job.file_path is not None and Path(job.file_path).is_relative_to(
            bot.services.settings.archive_root
        )
        archived = Path(job.file_path)
        assert archived.stat().st_size == 100 * MB
        assert sha256(archived) == sha256(big) == job.sha256
        # over MTProto, never through getFile (which refuses 100 MB anyway)
        assert not fake_telegram.calls("getFile")
        served = fake_mtproto.stats.file_bytes_by_document[video.id]
        assert served == 100 * MB
        assert len(fake_mtproto.stats.connections_by_document[video.id]) > 1  # in parallel
        # the library row, found by search
        [item] = await bot.services.library.search("friday talk")
        assert (item.path, item.size, item.sha256) == (str(archived), 100 * MB, job.sha256)
        assert item.source_type == "TELEGRAM" and item.video_codec == "h264"
        # a confirmation, not the 100 MB back
        done = await final_text(fake_telegram, USER, sent.message_id, "Archived")
        assert "friday_talk" in done and "100.0 MB" in done and f"#{job.id}" in done
        assert not fake_telegram.calls("sendVideo") and not fake_telegram.calls("sendDocument")

        # the same file again: a duplicate, nothing downloaded
        again = send_to_bot(fake_telegram, fake_mtproto, USER, video, kind="video",
                            caption="/archive")  # fmt: skip
        assert f"already in the archive (job #{job.id})" in await answer(bot, again)
        assert fake_mtproto.stats.file_bytes_by_document[video.id] == served
        assert len(await bot.jobs()) == 1

        # /audio in reply to a small video: its sound, downloaded over MTProto too
        short = send_to_bot(fake_telegram, fake_mtproto, USER, clip, kind="video")
        assert "Reply /audio" in await answer(bot, short)
        ask = fake_telegram.user_sends_text(USER, "/audio", reply_to=short.message_id)
        call = await fake_telegram.async_wait_for("sendAudio", timeout=90)
        assert call.params["title"] == "short_clip"
        assert fake_mtproto.stats.file_bytes_by_document[clip.id] == clip.size
        [_, audio_job] = await bot.jobs()
        assert (audio_job.job_type, audio_job.message_id) == ("audio", ask.message_id)
        assert not fake_telegram.calls("getFile")

        # an audio file with its own title and performer attributes: the library has them
        track = Path(shutil.copy(media_dir / "audio.mp3", tmp_path / "track01.mp3"))
        song = document_for(fake_mtproto, "audio", track, title="Dawn Chorus",
                            performer="The Choir", duration=5)  # fmt: skip
        send_to_bot(fake_telegram, fake_mtproto, USER, song, kind="audio", caption="/archive")
        song_job = (await bot.wait_jobs(3))[-1]
        song_job = await bot.job_status(song_job.id, "COMPLETED", "FAILED", timeout=60)
        assert song_job.status == "COMPLETED", song_job.error_message
        [row] = await bot.services.library.search("dawn chorus")
        assert (row.title, row.performer, row.file_format) == ("Dawn Chorus", "The Choir", "mp3")
        probe = ffprobe_json(Path(row.path))
        tags = {k.lower(): v for k, v in probe["format"].get("tags", {}).items()}  # type: ignore[union-attr]
        assert (tags["title"], tags["artist"]) == ("Dawn Chorus", "The Choir")

        # a slow download is cancelled: the job ends CANCELLED, its temp files are gone
        fake_mtproto.faults.throughput_cap = 256 * 1024
        slow_path = padded_mp4(media_dir / "h264_aac.mp4", tmp_path / "slow.mp4", 40 * MB)
        slow = document_for(fake_mtproto, "video", slow_path, duration=5)
        send_to_bot(fake_telegram, fake_mtproto, USER, slow, kind="video", caption="/archive")
        slow_job = (await bot.wait_jobs(4))[-1]
        deadline = time.monotonic() + 60
        while not (await bot.services.jobs.get(slow_job.id)).bytes_done:
            assert time.monotonic() < deadline, "the slow download never started"
            await asyncio.sleep(0.05)
        assert "Cancelling" in ((await bot.send(USER, f"/cancel {slow_job.id}")).text or "")
        await bot.job_status(slow_job.id, "CANCELLED", timeout=30)
        assert not (bot.services.storage.jobs_root / str(slow_job.id)).exists()
        assert fake_mtproto.stats.file_bytes_by_document[slow.id] < 40 * MB
        fake_mtproto.faults.throughput_cap = None


async def test_big_files_in_a_supergroup_and_a_basic_group_come_over_mtproto(
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_mtproto: FakeMTProtoServer,
    mtproto_public_key: Path,
    media_dir: Path,
) -> None:
    """A 100 MB video with /archive in a supergroup: read with channels.getMessages (the
    bot's own access hash of the supergroup, asked once), fetched whole and byte for
    byte over MTProto; a 30 MB one in a basic group: read from the bot's own box. No
    getFile, no "send it to me in a private chat"."""
    world = fake_mtproto.world
    user = world.add_user("User", user_id=USER)
    bot_user = world.add_bot("ferrybot", token=fake_telegram.token)
    team = world.add_channel("Team", megagroup=True, members=[user, bot_user])
    family = world.add_group("Family", members=[user, bot_user])
    # messages the supergroup had before: its ids are its own, not the bot's box's
    for n in range(3):
        world.post(team, f"hello {n}", from_user=user)
    big = padded_mp4(media_dir / "h264_aac.mp4", tmp_path / "team_meeting.mp4", 100 * MB)
    video = document_for(fake_mtproto, "video", big, duration=5, width=320, height=240)
    mid = padded_mp4(media_dir / "h264_aac.mp4", tmp_path / "birthday.mp4", 30 * MB)
    clip = document_for(fake_mtproto, "video", mid, duration=5, width=320, height=240)
    settings: dict[str, Any] = {
        **API,
        "telegram_mtproto_server": fake_mtproto.address,
        "telegram_mtproto_public_key": mtproto_public_key,
        "timeout_download_s": 180,
    }
    stats = fake_mtproto.stats
    async with running_bot(tmp_path, fake_telegram, **settings) as bot:
        # the supergroup: 100 MB with the caption /archive
        team_id = bot_api_chat_id(team)
        sent = send_in_group(fake_telegram, fake_mtproto, USER, team, video, kind="video",
                             caption="/archive")  # fmt: skip
        assert team.messages[sent.message_id].document is video
        [job] = await bot.wait_jobs(1)
        job = await bot.job_status(job.id, "COMPLETED", "FAILED", timeout=180)
        assert (job.status, job.error_message) == ("COMPLETED", None)
        archived = Path(job.file_path or "")
        assert archived.is_relative_to(bot.services.settings.archive_root)
        assert archived.stat().st_size == 100 * MB
        assert sha256(archived) == sha256(big) == job.sha256
        assert stats.file_bytes_by_document[video.id] == 100 * MB
        assert len(stats.connections_by_document[video.id]) > 1  # in parallel
        # read in the supergroup (describe, then a fresh file reference before the
        # download), with the hash the bot learned once; never through getFile
        assert stats.requests["channels.getMessages"] >= 1
        assert stats.requests["channels.getChannels"] == 1
        assert not fake_telegram.calls("getFile")
        done = await final_text(fake_telegram, team_id, sent.message_id, "Archived")
        assert "team_meeting" in done and "100.0 MB" in done and f"#{job.id}" in done
        assert not any("private chat" in (m.text or "") for m in fake_telegram.messages_to(team_id))

        # a basic group: 30 MB (over the Bot API's 20), read from the bot's own box
        family_id = bot_api_chat_id(family)
        got = send_in_group(fake_telegram, fake_mtproto, USER, family, clip, kind="video",
                            caption="/archive")  # fmt: skip
        assert world.box(bot_user.id).messages[got.message_id].peer == family.peer()
        second = (await bot.wait_jobs(2))[-1]
        second = await bot.job_status(second.id, "COMPLETED", "FAILED", timeout=120)
        assert (second.status, second.error_message) == ("COMPLETED", None)
        assert sha256(Path(second.file_path or "")) == sha256(mid) == second.sha256
        assert stats.file_bytes_by_document[clip.id] == 30 * MB
        done = await final_text(fake_telegram, family_id, got.message_id, "Archived")
        assert "birthday" in done and "30.0 MB" in done
        assert not fake_telegram.calls("getFile")
        assert stats.requests["channels.getChannels"] == 1


async def test_files_without_mtproto_come_through_get_file_up_to_20_mb(
    tmp_path: Path, fake_telegram: FakeTelegram, media_dir: Path
) -> None:
    fifteen = make_sparse_file(tmp_path / "scans.pdf", 15 * MB)
    fifteen.write_bytes(b"%PDF-1.4\n" + bytes(15 * MB - 9))
    thirty = make_sparse_file(tmp_path / "thirty.pdf", 30 * MB)
    async with running_bot(tmp_path, fake_telegram) as bot:
        # 15 MB with the caption /archive: getFile, then the file URL; kept as it came.
        # Telegram first asks to wait a second: the job waits that long, then fetches.
        fake_telegram.fail_next("getFile", kind="429", retry_after=1)
        sent = fake_telegram.user_sends_media(
            USER, "document", path=fifteen, file_name="scans.pdf", mime="application/pdf",
            caption="my scans /archive",
        )  # fmt: skip
        [job] = await bot.wait_jobs(1)
        job = await bot.job_status(job.id, "COMPLETED", "FAILED", timeout=60)
        assert (job.status, job.error_message) == ("COMPLETED", None)
        assert job.file_path is not None
        assert sha256(Path(job.file_path)) == sha256(fifteen)
        flooded, got = fake_telegram.calls("getFile")
        assert (flooded.status, got.status) == (429, 200) and got.time - flooded.time >= 0.9
        assert len(fake_telegram.calls("file")) == 1
        done = await final_text(fake_telegram, USER, sent.message_id, "Archived")
        assert "scans" in done and "15.0 MB" in done
        [item] = await bot.services.library.search("scans")
        assert item.size == 15 * MB and item.file_format == "pdf"

        # the same file sent again (same file_unique_id): a duplicate, not fetched again
        record = fake_telegram.file(sent.raw["document"]["file_id"])
        assert record is not None
        again = fake_telegram.user_sends_media(
            USER, "document", path=fifteen, file_name="scans.pdf", mime="application/pdf",
            caption="/archive", file_unique_id=record.file_unique_id,
        )  # fmt: skip
        assert f"already in the archive (job #{job.id})" in await answer(bot, again)
        assert len(fake_telegram.calls("getFile")) == 2 and len(fake_telegram.calls("file")) == 1

        # 30 MB: the Bot API cannot serve it; one clear line, no job
        over = fake_telegram.user_sends_media(
            USER, "document", path=thirty, file_name="thirty.pdf", caption="/archive"
        )
        text = await answer(bot, over)
        assert "files over 20 MB need MTProto: set MEDIAFERRY_TELEGRAM_API_ID/API_HASH" in text
        # a 0-byte document: a clear line, no job
        empty = fake_telegram.user_sends_media(
            USER, "document", b"", file_name="empty.txt.bak", caption="/archive"
        )
        assert "empty (0 bytes)" in await answer(bot, empty)
        assert len(await bot.jobs()) == 1

        # an album whose first item says /archive: every item is archived
        album = [
            fake_telegram.user_sends_media(
                USER, "document", f"page {n}".encode() * 100, file_name=f"page{n}.pdf",
                mime="application/pdf", caption="/archive" if n == 1 else None,
                media_group_id="album-1",
            )
            for n in (1, 2)
        ]  # fmt: skip
        jobs = await bot.wait_jobs(3)
        for done_job in jobs[1:]:
            assert (await bot.job_status(done_job.id, "COMPLETED")).archive
        assert {j.message_id for j in jobs[1:]} == {m.message_id for m in album}
        # an album sent without it: one answer for the album, not one per item
        for n in (1, 2):
            fake_telegram.user_sends_media(
                USER, "document", b"x" * (n + 10), file_name=f"n{n}.pdf", media_group_id="a2"
            )
        await fake_telegram.async_wait_for(
            lambda: sum("/archive_on" in (m.text or "") for m in fake_telegram.messages_to(USER))
        )

        # a plain file: what can be done with it, no job
        plain = fake_telegram.user_sends_media(
            USER, "audio", (media_dir / "audio.mp3").read_bytes(), file_name="song.mp3",
            mime="audio/mpeg", duration=5,
        )  # fmt: skip
        hint = await answer(bot, plain)
        assert "/archive" in hint and "/archive_on" in hint
        # /audio answering something that is not a video; stickers and photos
        for target in (plain.message_id, hint_id(fake_telegram, plain)):
            sent_audio = fake_telegram.user_sends_text(USER, "/audio", reply_to=target)
            assert "Reply /audio to a video" in await answer(bot, sent_audio)
        sticker = fake_telegram.user_sends_media(USER, "sticker", b"webp", width=512, height=512)
        assert "Stickers are not" in await answer(bot, sticker)
        photo = fake_telegram.user_sends_media(USER, "photo", b"jpeg", width=80, height=60)
        assert "Photos are not supported" in await answer(bot, photo)
        assert len(await bot.jobs()) == 3
        hints = [m for m in fake_telegram.messages_to(USER) if "/archive_on" in (m.text or "")]
        assert len(hints) == 2  # the album's one and the plain song's
        assert not fake_telegram.calls("sendDocument")


def hint_id(fake: FakeTelegram, after: ChatMessage) -> int:
    """The bot's text answer to ``after`` (a message without a file)."""
    return next(
        m.message_id
        for m in fake.messages_to(after.chat_id)
        if m.message_id > after.message_id and m.kind == "text"
    )


async def test_audio_in_reply_to_a_forwarded_video_sends_tagged_audio(
    tmp_path: Path, fake_telegram: FakeTelegram, media_dir: Path
) -> None:
    """Without MTProto, a small video through getFile: /audio in reply to it gives one
    tagged audio, titled and with a performer (after a failure and /retry); the same
    video from another user is answered from Telegram's cache; a video the bot sent
    itself works too."""
    video = (media_dir / "h264_aac.mp4").read_bytes()
    origin = fake_telegram.forward_origin_channel(-1001777, "Lecture Channel", 12)
    async with running_bot(tmp_path, fake_telegram, audio_format="m4a") as bot:
        sent = fake_telegram.user_sends_media(
            USER, "video", video, file_name="on patience.mp4", mime="video/mp4",
            duration=5, width=320, height=240, forward_origin=origin,
        )  # fmt: skip
        assert "Reply /audio" in await answer(bot, sent)
        # Telegram refuses the file once: the job fails with a clear line; /retry
        fake_telegram.fail_next("getFile", kind="400")
        ask = fake_telegram.user_sends_text(USER, "/audio", reply_to=sent.message_id)
        [job] = await bot.wait_jobs(1)
        job = await bot.job_status(job.id, "FAILED")
        assert job.error_type == "TELEGRAM_ERROR" and "Telegram refused" in (
            job.error_message or ""
        )
        assert "Job #" in (await bot.send(USER, f"/retry {job.id}")).text  # type: ignore[operator]
        call = await fake_telegram.async_wait_for("sendAudio", timeout=60)
        assert (call.params["title"], call.params["performer"]) == (
            "on patience",
            "Lecture Channel",
        )
        assert call.params["reply_parameters"]["message_id"] == ask.message_id
        path = call.files["audio"].save(tmp_path / "got.m4a")
        probe = ffprobe_json(path)
        streams: list[dict[str, Any]] = probe["streams"]  # type: ignore[assignment]
        assert [s["codec_type"] for s in streams if s["codec_type"] != "video"] == ["audio"]
        assert [s["codec_name"] for s in streams if s["codec_type"] == "audio"] == ["aac"]
        tags = {k.lower(): v for k, v in probe["format"].get("tags", {}).items()}  # type: ignore[union-attr]
        assert (tags["title"], tags["artist"]) == ("on patience", "Lecture Channel")
        job = await bot.job_status(job.id, "COMPLETED")
        assert job.source_type == "TELEGRAM" and job.job_type == "audio"
        # the progress message went away with the result, as for a link
        assert not [m for m in fake_telegram.messages_to(USER) if "Downloading" in (m.text or "")]

        # another user forwards the same video and asks again: sent from Telegram's cache
        again = fake_telegram.user_sends_media(
            OTHER, "video", video, file_name="on patience.mp4", mime="video/mp4",
            duration=5, file_unique_id=sent.file.file_unique_id if sent.file else None,
        )  # fmt: skip
        await answer(bot, again)
        fake_telegram.user_sends_text(OTHER, "/audio", reply_to=again.message_id)
        resent = await fake_telegram.async_wait_for("sendAudio", timeout=30, count=2)
        assert resent.params["audio"] == call.result["audio"]["file_id"]
        assert len(fake_telegram.calls("getFile")) == 2 and len(await bot.jobs()) == 1

        # a video the bot itself sent (a finished link job, say): /audio works on it too
        async with telegram.Bot(**fake_telegram.bot_kwargs()) as other_bot:
            own = await other_bot.send_video(
                USER, (media_dir / "h264_aac.mp4").read_bytes(), filename="lesson two.mp4",
                duration=5, width=320, height=240,
            )  # fmt: skip
        fake_telegram.user_sends_text(USER, "/audio", reply_to=own.message_id)
        third = await fake_telegram.async_wait_for("sendAudio", timeout=60, count=3)
        assert third.params["title"] == "lesson two" and third.files["audio"].content
        # and on the audio it sent: not a video, one clear line
        not_video = fake_telegram.user_sends_text(
            USER, "/audio", reply_to=third.result["message_id"]
        )
        assert "Reply /audio to a video" in await answer(bot, not_video)
        assert len(await bot.jobs()) == 2


async def test_a_file_sent_to_the_bot_and_the_same_document_in_a_channel_are_fetched_once(
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_mtproto: FakeMTProtoServer,
    mtproto_public_key: Path,
    media_dir: Path,
) -> None:
    """The bot learns a forwarded file's document id over MTProto: a document ``tg
    archive`` kept is the library's file (nothing fetched); a document first sent to the
    bot is known to ``tg archive`` and t.me links later (nothing fetched either)."""
    world = fake_mtproto.world
    world.add_user("User", user_id=USER)
    reader = world.add_user("Reader", username="reader")  # the account reading channels
    world.add_bot("ferrybot", token=fake_telegram.token)
    talks = world.add_channel("Friday Talks", username="fridaytalks", members=[reader])
    songs = []
    for n in (1, 2):
        track = Path(shutil.copy(media_dir / "audio.mp3", tmp_path / f"talk{n}.mp3"))
        doc = document_for(fake_mtproto, "audio", track, title=f"Talk {n}",
                           performer="Sheikh A", duration=5)  # fmt: skip
        songs.append((doc, world.post(talks, f"talk {n}", media=doc)))
    reposts = world.add_channel("Reposts", username="reposts", members=[reader])
    track = Path(shutil.copy(media_dir / "audio.mp3", tmp_path / "talk3.mp3"))
    third = document_for(fake_mtproto, "audio", track, title="Talk 3", performer="Sheikh B",
                         duration=5)  # fmt: skip
    repost = world.post(reposts, "talk 3", media=third)
    settings: dict[str, Any] = {
        **API,
        "telegram_mtproto_server": fake_mtproto.address,
        "telegram_mtproto_public_key": mtproto_public_key,
        "telegram_user_session": fake_mtproto.session_string(reader),
    }
    stats = fake_mtproto.stats
    async with running_bot(tmp_path, fake_telegram, **settings) as bot:
        services = bot.services

        async def archive_talks() -> list[Any]:
            done = await archive_chat(
                services.jobs, services.telegram, "@fridaytalks", ArchiveOptions(kind="audio")
            )
            return [await bot.job_status(j.id, "COMPLETED", "FAILED") for j in done.jobs]

        # the second talk is forwarded to the bot first, with /archive
        second, second_post = songs[1]
        send_to_bot(fake_telegram, fake_mtproto, USER, second, kind="audio",
                    caption="/archive", forwarded_from=talks,
                    forwarded_post=second_post.id)  # fmt: skip
        [bot_job] = await bot.wait_jobs(1)
        bot_job = await bot.job_status(bot_job.id, "COMPLETED", "FAILED", timeout=60)
        assert bot_job.status == "COMPLETED", bot_job.error_message
        assert stats.file_bytes_by_document[second.id] == second.size

        # tg archive of the channel: the first talk is fetched, the second is the bot's job
        archived = await archive_talks()
        assert all(j.status == "COMPLETED" for j in archived)
        assert bot_job.id in [j.id for j in archived]
        [first_job] = [j for j in archived if j.id != bot_job.id]
        assert first_job.url == f"https://t.me/fridaytalks/{songs[0][1].id}"
        assert stats.file_bytes_by_document[second.id] == second.size
        # a t.me link to the second talk: the bot's job too, nothing fetched
        via_link = await services.jobs.create(f"https://t.me/fridaytalks/{second_post.id}")
        assert via_link.job.id == bot_job.id

        # the first talk forwarded to the bot with /archive: the library's file, no bytes
        fetched = dict(stats.file_bytes_by_document)
        items = await services.library.search("talk")
        first, first_post = songs[0]
        sent = send_to_bot(fake_telegram, fake_mtproto, USER, first, kind="audio",
                           caption="/archive", forwarded_from=talks,
                           forwarded_post=first_post.id)  # fmt: skip
        new = (await bot.wait_jobs(3))[-1]
        new = await bot.job_status(new.id, "COMPLETED", "FAILED", timeout=60)
        assert new.status == "COMPLETED", new.error_message
        assert dict(stats.file_bytes_by_document) == fetched  # nothing downloaded
        assert new.file_path == first_job.file_path  # the same library item
        assert "REUSED_ARCHIVE" in [e.event_type for e in await services.jobs.events(new.id)]
        assert len(await services.library.search("talk")) == len(items)
        done = await final_text(fake_telegram, USER, sent.message_id, "Archived")
        assert f"#{new.id}" in done

        # a document fetched for a t.me link (not archived), then forwarded with /archive:
        # the link job's file is taken, nothing fetched again
        plain = (await services.jobs.create(f"https://t.me/reposts/{repost.id}")).job
        plain = await bot.job_status(plain.id, "COMPLETED", "FAILED", timeout=60)
        assert plain.status == "COMPLETED" and not plain.archive, plain.error_message
        fetched = dict(stats.file_bytes_by_document)
        assert fetched[third.id] == third.size
        send_to_bot(fake_telegram, fake_mtproto, USER, third, kind="audio",
                    caption="/archive", forwarded_from=reposts,
                    forwarded_post=repost.id)  # fmt: skip
        kept = (await bot.wait_jobs(5))[-1]
        kept = await bot.job_status(kept.id, "COMPLETED", "FAILED", timeout=60)
        assert kept.status == "COMPLETED", kept.error_message
        assert dict(stats.file_bytes_by_document) == fetched
        events = {e.event_type: e.data for e in await services.jobs.events(kept.id)}
        assert (events["REUSED_FILE"] or {})["job"] == plain.id
        assert Path(kept.file_path or "").is_relative_to(services.settings.archive_root)
        assert sha256(Path(kept.file_path or "")) == sha256(Path(plain.file_path or ""))
        assert len(await services.library.search("talk")) == len(items) + 1
