"""Shared set-up for the bot's end-to-end tests: the real Application polling the fake
Bot API, real services on a fresh database, and a real worker pool."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediaferry.app import Services
from mediaferry.bot import runner
from mediaferry.db.models import Job
from mediaferry.jobs.worker import WorkerPool
from tests.support.db_fixtures import make_settings, migrated
from tests.support.fake_telegram import ChatMessage, FakeTelegram
from tests.support.media_server import MediaServer

USER = 1001
OTHER = 1002
ADMIN = 9001
STRANGER = 6666


@dataclass
class Bot:
    fake: FakeTelegram
    services: Services
    pool: WorkerPool | None
    stop: Callable[[], Awaitable[None]]

    async def jobs(self) -> list[Job]:
        return list(reversed(await self.services.jobs.list(limit=1000)))

    async def wait_jobs(self, n: int = 1, timeout: float = 15) -> list[Job]:
        deadline = time.monotonic() + timeout
        while True:
            jobs = await self.jobs()
            if len(jobs) >= n:
                return jobs
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(jobs)} jobs, expected {n}")
            await asyncio.sleep(0.05)

    async def job_status(self, job_id: int, *statuses: str, timeout: float = 30) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = await self.services.jobs.get(job_id)
            if job.status in statuses:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is {job.status}, not {statuses}")
            await asyncio.sleep(0.05)

    async def reply_to(self, chat_id: int, after: int, timeout: float = 15) -> ChatMessage:
        """The first bot text message in ``chat_id`` after message id ``after``."""

        def find() -> ChatMessage | None:
            for m in self.fake.messages_to(chat_id, include_deleted=True):
                if m.message_id > after and m.kind == "text":
                    return m
            return None

        found: ChatMessage = await self.fake.async_wait_for(find, timeout)
        return found

    async def send(self, user: int, text: str, **kw: Any) -> ChatMessage:
        """The user sends ``text``; returns the bot's first text answer."""
        msg = self.fake.user_sends_text(user, text, **kw)
        return await self.reply_to(msg.chat_id, msg.message_id)


def unique(server: MediaServer, path: str, **query: Any) -> str:
    """A URL of ``path`` no other test uses (the media server is shared)."""
    params = "&".join(f"{k}={v}" for k, v in {**query, "k": uuid.uuid4().hex[:10]}.items())
    return f"{server.url(path)}?{params}"


@contextlib.asynccontextmanager
async def running_bot(
    tmp_path: Path,
    fake: FakeTelegram,
    *,
    db_url: str | None = None,
    workers: bool = True,
    progress_interval: float = 0.3,
    **overrides: Any,
) -> AsyncIterator[Bot]:
    settings = make_settings(
        tmp_path,
        migrated(db_url or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"),
        telegram_token=fake.token,
        telegram_api_url=fake.root,
        allowed_users=overrides.pop("allowed_users", [USER, OTHER]),
        admin_ids=[ADMIN],
        ask_timeout_s=overrides.pop("ask_timeout_s", 30),
        **overrides,
    )
    services = await Services.create(settings)
    stop = await runner.start(services, progress_interval=progress_interval)
    pool = services.worker_pool() if workers else None
    try:
        if pool is not None:
            await pool.start()
        yield Bot(fake, services, pool, stop)
    finally:
        await stop()
        if pool is not None:
            await pool.stop(grace=0.5)
        await services.close()


def big_video(media_dir: Path, name: str = "bot_big.mp4", seconds: int = 5) -> str:
    """A ~2.5 MB H.264/AAC MP4 (lossless, so it is large) in the media server's folder;
    large enough that the download reports progress more than once."""
    path = media_dir / name
    if not path.exists():
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}",
             "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
             "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-shortest", str(tmp)],
            check=True,
        )  # fmt: skip
        tmp.replace(path)
    return name


def noisy_video(media_dir: Path, name: str = "split_120mb.mp4", seconds: int = 10) -> Path:
    """About 12 MB a second: lossless H.264 of noise, a keyframe every second (over the
    Bot API's upload limit: split into an album, or sent whole over MTProto)."""
    path = media_dir / name
    if not path.exists():
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
             "-f", "lavfi", "-i",
             f"testsrc2=size=640x360:rate=25:duration={seconds},noise=alls=100:allf=t",
             "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
             "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-g", "25",
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(tmp)],
            check=True,
        )  # fmt: skip
        tmp.replace(path)
    return path


def top_level_atoms(data: bytes) -> list[str]:
    """The MP4 top-level box types, in file order."""
    out: list[str] = []
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        out.append(kind)
        pos += size
    return out


def ffprobe(path: Path) -> str:
    return subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
