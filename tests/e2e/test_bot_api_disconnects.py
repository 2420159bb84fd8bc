"""Bot API timeouts and disconnects: a server that accepts and never answers, answers
half, or closes the connection. No handler stalls forever, the update loop keeps going,
deliveries retry from DELIVER and are duplicated at most once (the documented cap)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mediaferry.db.models import Job
from mediaferry.jobs.control import JobControl, RunResult
from mediaferry.jobs.pipeline import processed_to_meta
from mediaferry.jobs.worker import WorkerPool
from mediaferry.media.result import Part, Processed
from tests.e2e._bot_harness import USER, Bot, running_bot, unique
from tests.support.fake_telegram import FakeTelegram
from tests.support.load import InstantRunner
from tests.support.media_server import MediaServer

FAST = {"telegram_timeout_s": 2.0, "telegram_upload_timeout_s": 2.0}


def _downloads(server: MediaServer, url: str) -> int:
    key = url.rsplit("k=", 1)[1]
    return sum(1 for r in server.requests() if r.query.get("k") == key and r.method == "GET")


def _videos(fake: FakeTelegram) -> int:
    return len([m for m in fake.chat(USER) if m.kind == "video"])


async def _outcomes(bot: Bot, job_id: int) -> list[Any]:
    events = await bot.services.jobs.events(job_id)
    return [e.data["outcome"] for e in events if e.event_type == "DELIVERY_OUTCOME"]


async def _help_is_answered(bot: Bot, fake: FakeTelegram) -> None:
    reply = await bot.send(
        USER,
        "/help",
    )
    assert reply.text


@pytest.mark.parametrize("kind", ["drop", "half", "hang"])
async def test_lost_answer_to_an_upload_costs_at_most_one_duplicate(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer, kind: str
) -> None:
    url = unique(media_server, "/media/h264_aac.mp4")
    # Telegram gets the video, the answer never reaches the bot
    fake_telegram.fail_next("sendVideo", times=1, kind=kind)
    async with running_bot(tmp_path, fake_telegram, **FAST) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        job_id = (await bot.wait_jobs(1))[0].id
        if kind == "hang":
            # while the upload hangs, the bot keeps answering
            await fake_telegram.async_wait_for(lambda: _videos(fake_telegram) == 1, timeout=30)
            await _help_is_answered(bot, fake_telegram)
        job = await bot.job_status(job_id, "COMPLETED", timeout=60)
        assert _downloads(media_server, url) == 1  # the retry started at DELIVER
        assert _videos(fake_telegram) == 2  # the one duplicate the Bot API cannot prevent
        assert await _outcomes(bot, job_id) == ["unknown", "sent"]
        assert job.attempts == 1
        assert fake_telegram.flood_refusals == []


async def test_second_lost_answer_stops_the_resending(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    url = unique(media_server, "/media/h264_aac.mp4")
    fake_telegram.fail_next("sendVideo", times=2, kind="drop")
    async with running_bot(tmp_path, fake_telegram, max_attempts=6, **FAST) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        job_id = (await bot.wait_jobs(1))[0].id
        job = await bot.job_status(job_id, "FAILED", timeout=60)
        assert job.error_type == "TELEGRAM_ERROR"
        assert "may already be in the chat" in (job.error_message or "")
        assert len(fake_telegram.calls("sendVideo")) == 2  # never a third copy
        assert _videos(fake_telegram) == 2
        assert await _outcomes(bot, job_id) == ["unknown", "unknown"]
        # the progress message says it failed
        await fake_telegram.async_wait_for(
            lambda: any("❌" in (m.text or "") or "fail" in (m.text or "").lower()
                        for m in fake_telegram.messages_to(USER) if m.kind == "text"),
            timeout=15,
        )  # fmt: skip
        # a manual retry is the user's call: one more try
        await bot.services.jobs.retry(job_id)
        await bot.job_status(job_id, "COMPLETED", timeout=60)
        assert _videos(fake_telegram) == 3
        assert _downloads(media_server, url) == 1


async def test_connection_closed_before_the_upload_was_processed_is_retried_once(
    tmp_path: Path, fake_telegram: FakeTelegram, media_server: MediaServer
) -> None:
    url = unique(media_server, "/media/h264_aac.mp4")
    # the server closes the connection without acting on the request
    fake_telegram.fail_next("sendVideo", times=1, kind="close")
    async with running_bot(tmp_path, fake_telegram, **FAST) as bot:
        fake_telegram.user_sends_text(USER, f"/video {url}")
        job_id = (await bot.wait_jobs(1))[0].id
        await bot.job_status(job_id, "COMPLETED", timeout=60)
        assert _videos(fake_telegram) == 1
        assert _downloads(media_server, url) == 1
        outcomes = await _outcomes(bot, job_id)
        assert outcomes[-1] == "sent" and len(outcomes) == 2


async def test_reply_that_never_gets_an_answer_does_not_stall_the_bot(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    async with running_bot(tmp_path, fake_telegram, workers=False, **FAST) as bot:
        fake_telegram.fail_next("sendMessage", times=1, kind="hang")
        fake_telegram.user_sends_text(USER, "/help")
        # the handler gives up after TELEGRAM_TIMEOUT_S and the error handler tells the user
        await fake_telegram.async_wait_for(
            lambda: any("went wrong" in (m.text or "") for m in fake_telegram.messages_to(USER)),
            timeout=15,
        )
        await _help_is_answered(bot, fake_telegram)


@pytest.mark.parametrize("kind", ["half", "drop", "close", "500"])
async def test_update_loop_survives_broken_get_updates(
    tmp_path: Path, fake_telegram: FakeTelegram, kind: str
) -> None:
    async with running_bot(tmp_path, fake_telegram, workers=False, **FAST) as bot:
        await _help_is_answered(bot, fake_telegram)
        # the next long poll breaks; the update it carried is fetched again
        fake_telegram.fail_next("getUpdates", times=1, kind=kind)
        await _help_is_answered(bot, fake_telegram)
        await _help_is_answered(bot, fake_telegram)
        helps = [m for m in fake_telegram.messages_to(USER) if m.kind == "text"]
        assert len(helps) == 3  # each /help answered once, none lost, none twice


class _ElevenParts(InstantRunner):
    """A no-op source whose result is 11 small documents: an album of 10, then one."""

    async def run(self, job: Job, ctl: JobControl) -> RunResult:
        if "processed" not in (job.meta or {}):
            parts = []
            for i in range(11):
                path = self.folder / f"job-{job.id}-{i:02d}.txt"
                path.write_bytes(f"part {i}\n".encode() * 100)
                parts.append(Part(path, path.stat().st_size))
            done = Processed("document", parts, title=f"parts {job.id}")
            job.meta = {**(job.meta or {}), "processed": processed_to_meta(done)}
        return await self.pipeline.run(job, ctl)


async def test_retry_after_a_failed_second_album_sends_only_what_is_missing(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail_next("sendDocument", times=1, kind="500")
    async with running_bot(tmp_path, fake_telegram, workers=False, **FAST) as bot:
        s = bot.services
        pool = WorkerPool(
            s.db, s.settings, _ElevenParts(s.pipeline, tmp_path / "parts"), s.bus, disk_guard=s.disk
        )
        await pool.start()
        try:
            fake_telegram.user_sends_text(USER, "/video http://127.0.0.1:9/eleven.bin")
            job_id = (await bot.wait_jobs(1))[0].id
            job = await bot.job_status(job_id, "COMPLETED", timeout=60)
        finally:
            await pool.stop(grace=0.5)
        assert job.attempts == 1
        # the album of 10 went once; only the 11th part was sent again
        assert len([c for c in fake_telegram.calls("sendMediaGroup") if c.ok]) == 1
        assert [c.status for c in fake_telegram.calls("sendDocument")] == [500, 200]
        docs = [m for m in fake_telegram.chat(USER) if m.kind == "document"]
        assert len(docs) == 11
        assert len((job.telegram_file_id or "").split()) == 11
