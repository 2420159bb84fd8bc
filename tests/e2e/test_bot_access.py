"""Who may use the bot, admin commands, maintenance, and every kind of bad input."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e._bot_harness import ADMIN, OTHER, STRANGER, USER, running_bot, unique
from tests.support.fake_telegram import FakeTelegram
from tests.support.media_server import MediaServer

# allowed users with a private chat each: the bot answers a chat about once a second
# (as Telegram allows), so answers that need not wait for each other go to several
MORE_USERS = list(range(1101, 1111))


async def test_unauthorised_user_is_refused_with_their_id(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    async with running_bot(tmp_path, fake_telegram) as bot:
        answer = await bot.send(STRANGER, f"/video {unique(media_server, '/media/audio.mp3')}")
        assert "not allowed" in (answer.text or "") and str(STRANGER) in (answer.text or "")
        answer = await bot.send(STRANGER, "/health")
        assert "not allowed" in (answer.text or "")
        assert await bot.jobs() == []
        assert len(fake_telegram.messages_to(STRANGER)) == 2


async def test_admin_commands(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    commands = ("/health", "/pause", "/clear", "/maintenance_on", "/debug_on 1")
    users = [USER, *MORE_USERS[: len(commands) - 1]]  # one chat each: no queueing
    async with running_bot(
        tmp_path, fake_telegram, workers=False, allowed_users=[OTHER, *users]
    ) as bot:
        answers = await asyncio.gather(
            *(bot.send(user, command) for user, command in zip(users, commands, strict=True))
        )
        for command, answer in zip(commands, answers, strict=True):
            assert answer.text == "That command is for admins only.", command
        assert not await bot.services.jobs.is_paused()
        health = await bot.send(ADMIN, "/health")
        text = health.text or ""
        for part in ("Jobs:", "Disk free:", "yt-dlp:", "ffmpeg: ffmpeg version", "aria2c: aria2"):
            assert part in text, text
        assert "paused" in ((await bot.send(ADMIN, "/pause")).text or "").lower()
        assert await bot.services.jobs.is_paused()
        await bot.send(ADMIN, "/resume")
        assert not await bot.services.jobs.is_paused()
        await bot.send(ADMIN, "/maintenance_on")
        refused = await bot.send(USER, f"/video {unique(media_server, '/media/audio.mp3')}")
        assert "maintenance" in (refused.text or "")
        assert await bot.jobs() == []
        await bot.send(ADMIN, "/maintenance_off")
        help_text = (await bot.send(ADMIN, "/help")).text or ""
        assert "/health" in help_text and "/maintenance_on" in help_text
        assert "/health" not in ((await bot.send(USER, "/help")).text or "")
        names = {c["command"] for c in fake_telegram.commands}
        assert {"start", "help", "video", "audio", "status", "settings"} <= names


async def test_user_commands_status_job_cancel_retry(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    async with running_bot(tmp_path, fake_telegram) as bot:
        fake_telegram.user_sends_text(USER, f"/video {media_server.url('/status/404')}")
        job = (await bot.wait_jobs())[0]
        await bot.job_status(job.id, "FAILED")
        await fake_telegram.async_wait_for(
            lambda: any((m.text or "").startswith("❌") for m in fake_telegram.messages_to(USER))
        )
        status = (await bot.send(USER, "/status")).text or ""
        assert f"#{job.id} failed" in status
        details = (await bot.send(USER, f"/job {job.id}")).text or ""
        assert "HTTP_ERROR" in details and "Last events:" in details
        assert (await bot.send(OTHER_USER, f"/job {job.id}")).text == f"No job #{job.id}."
        queue = (await bot.send(USER, "/queue")).text or ""
        assert queue.startswith("Queue:")
        retried = (await bot.send(USER, f"/retry {job.id}")).text or ""
        assert "queued again" in retried
        await bot.job_status(job.id, "FAILED")
        cancel = (await bot.send(USER, f"/cancel {job.id}")).text or ""
        assert "already failed" in cancel
        assert "Usage" in ((await bot.send(USER, "/job")).text or "")


OTHER_USER = 1002


@pytest.mark.netns  # private addresses: where only loopback exists
async def test_bad_input_each_gets_a_clear_answer(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    async with running_bot(
        tmp_path,
        fake_telegram,
        workers=False,
        allow_private_networks=False,
        allowed_users=[USER, *MORE_USERS],
    ) as bot:
        users = iter(MORE_USERS)
        many = " ".join(f"https://example.com/v/{i}" for i in range(1000))
        texts = {
            "many": many,
            "private": "/video http://192.168.1.10/a.mp4",
            "js": "/video javascript:alert(1)",
            "file_link": "/get file:///etc/passwd 720p",
            "mixed": "a javascript:alert(1) and file:///etc/passwd here",
            "unknown": "/frobnicate",
            "no_link": "hello there",
        }
        sent = {name: fake_telegram.user_sends_text(next(users), t) for name, t in texts.items()}
        sent["big"] = fake_telegram.user_sends_document(
            next(users), "links.txt", b"x" * (50 * 1024 * 1024)
        )
        sent["binary"] = fake_telegram.user_sends_document(
            next(users), "links.txt", bytes(range(256)) * 40
        )
        replies = await asyncio.gather(
            *(bot.reply_to(m.chat_id, m.message_id) for m in sent.values())
        )
        answer = {name: reply.text or "" for name, reply in zip(sent, replies, strict=True)}
        assert "at most 50" in answer["many"]
        assert "⚠️" in answer["private"]
        assert "⚠️" in answer["js"]
        assert "⚠️" in answer["file_link"]
        assert "Refused: 2" in answer["mixed"]
        assert answer["unknown"] == "I don't know that command. Send /help for what I can do."
        assert "no link" in answer["no_link"]
        assert "too big" in answer["big"]
        assert "not a text file" in answer["binary"]
        assert await bot.jobs() == []
        # nothing else was disturbed: the bot still answers
        assert "Send me a link" in ((await bot.send(USER, "/help")).text or "")


async def test_txt_file_of_mixed_links(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    good1 = unique(media_server, "/media/audio.mp3")
    good2 = unique(media_server, "/media/h264_aac.mp4")
    lines = [good1, good2, good1, "javascript:alert(1)", "ftp://example.com/x", "not a link", ""]
    async with running_bot(tmp_path, fake_telegram) as bot:
        sent = fake_telegram.user_sends_document(
            USER, "links.txt", "\n".join(lines).encode(), caption=None
        )

        def find_summary() -> str | None:
            # each queued job may post its own progress message first: look for the summary
            for m in fake_telegram.messages_to(USER, include_deleted=True):
                if m.message_id > sent.message_id and "Queued:" in (m.text or ""):
                    return m.text
            return None

        summary: str = await fake_telegram.async_wait_for(find_summary, 15)
        assert "Queued: 2" in summary, summary
        assert "Refused: 3" in summary, summary
        await fake_telegram.async_wait_for("sendVideo", timeout=60)
        jobs = await bot.jobs()
        assert sorted(j.url for j in jobs) == sorted([good1, good2])
        for job in jobs:
            await bot.job_status(job.id, "COMPLETED")
