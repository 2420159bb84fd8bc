"""Fetch a Telegram document to a path: parallel 1 MiB parts over several connections,
written at their exact offsets, resumable byte for byte.

Telegram's rules for ``upload.getFile`` are kept by construction: every offset is a
multiple of 1 MiB (so of 4 KiB), every limit is 1 MiB (it divides 1 MiB) and no
request crosses a 1 MiB boundary.

Resume: bytes land in ``<name>.part``; ``<name>.part.offset`` holds how far the file
is complete without holes (parts finish out of order). After a crash, a restart or a
dropped connection the next attempt truncates the ``.part`` to that offset and goes
on from there, never from zero. An expired file reference is refreshed through
``refresh`` (the message fetched again) and the part asked again; flood waits are
slept through and reported through ``on_wait``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telethon import errors as tl_errors
from telethon.tl import functions, types

from mediaferry.errors import JobError, NetworkError, RateLimited, TelegramError
from mediaferry.telegram._errors import translate
from mediaferry.telegram._senders import SenderPool, run_all
from mediaferry.telegram.chats import MediaMessage
from mediaferry.telegram.clients import FLOOD_MAX_WAIT_S, WaitHook

__all__ = ["CHUNK", "Fetched", "ProgressHook", "RefreshHook", "fetch_document", "resume_offset"]

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
ProgressHook = Callable[[int, int], None]  # (bytes on disk, total)
RefreshHook = Callable[[], Awaitable[MediaMessage]]  # the message fetched again


@dataclass(slots=True)
class Fetched:
    path: Path
    size: int
    resumed_from: int
    fetched_bytes: int  # bytes received this attempt (resume and retries included)


def _marker(part: Path) -> Path:
    return part.with_name(part.name + ".offset")


def resume_offset(part: Path) -> int:
    """Where a ``.part`` file can be continued from (a multiple of :data:`CHUNK`)."""
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        return 0
    try:
        done = int(_marker(part).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        done = size
    return max(0, min(done, size)) // CHUNK * CHUNK


class _Job:
    """One document being fetched: shared state of the part workers."""

    def __init__(
        self,
        media: MediaMessage,
        fd: int,
        marker_fd: int,
        start: int,
        refresh: RefreshHook | None,
        on_wait: WaitHook | None,
        progress: ProgressHook | None,
    ) -> None:
        self.media = media
        self.fd = fd
        self.marker_fd = marker_fd
        self.total = media.size
        self.next_index = start // CHUNK
        self.last_index = (media.size - 1) // CHUNK if media.size else -1
        self.finished: set[int] = set()
        self.watermark = start  # bytes complete without holes
        self.on_disk = start
        self.fetched = 0
        self.refresh = refresh
        self.on_wait = on_wait
        self.progress = progress
        self._refresh_lock = asyncio.Lock()
        self.location = self._location(media)
        self.waited_until = 0.0

    @staticmethod
    def _location(media: MediaMessage) -> Any:
        return types.InputDocumentFileLocation(
            id=media.document_id, access_hash=media.access_hash,
            file_reference=media.file_reference, thumb_size="",
        )  # fmt: skip

    def take(self) -> int | None:
        if self.next_index > self.last_index:
            return None
        index = self.next_index
        self.next_index += 1
        return index

    async def done(self, index: int, data: bytes) -> None:
        # written from a thread: the event loop keeps reading the other connections
        await asyncio.get_running_loop().run_in_executor(
            None, os.pwrite, self.fd, data, index * CHUNK
        )
        self.finished.add(index)
        self.on_disk += len(data)
        self.fetched += len(data)
        moved = False
        while self.watermark // CHUNK in self.finished:
            self.finished.discard(self.watermark // CHUNK)
            self.watermark = min(self.total, self.watermark + CHUNK)
            moved = True
            if self.watermark >= self.total:
                break
        if moved:
            os.pwrite(self.marker_fd, f"{self.watermark:020d}".encode(), 0)
        if self.progress is not None:
            self.progress(self.on_disk, self.total)

    async def refreshed(self, stale: Any) -> None:
        """A new file reference, once for all workers that saw the old one expire."""
        async with self._refresh_lock:
            if self.location is not stale:
                return
            if self.refresh is None:
                raise TelegramError("the file reference expired and cannot be refreshed")
            media = await self.refresh()
            if media.document_id != self.media.document_id:
                raise TelegramError("the message now holds another file")
            log.info("file reference refreshed for document %s", media.document_id)
            self.media = media
            self.location = self._location(media)

    async def wait(self, seconds: float) -> None:
        if seconds > FLOOD_MAX_WAIT_S:
            raise RateLimited(f"Telegram asks to wait {seconds:.0f} s", retry_after=seconds)
        until = time.monotonic() + seconds
        if until > self.waited_until + 1:  # report one wait once, not per worker
            self.waited_until = until
            log.warning("Telegram asks to wait %.0f s", seconds)
            if self.on_wait is not None:
                await self.on_wait(seconds)
        await asyncio.sleep(seconds)


async def _worker(job: _Job, sender: Any) -> None:
    while (index := job.take()) is not None:
        for attempt in range(12):
            location = job.location
            request = functions.upload.GetFileRequest(
                location=location, offset=index * CHUNK, limit=CHUNK, precise=False,
                cdn_supported=False,
            )  # fmt: skip
            try:
                result = await sender.send(request)
            except tl_errors.FileReferenceExpiredError:
                await job.refreshed(location)
                continue
            except tl_errors.FloodWaitError as exc:
                await job.wait(float(exc.seconds))
                continue
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
                if attempt >= 2:
                    raise NetworkError(
                        f"the connection to Telegram dropped ({type(exc).__name__})"
                    ) from exc
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            except JobError:
                raise
            except Exception as exc:
                raise translate(exc, "downloading from Telegram") from exc
            if not isinstance(result, types.upload.File):
                raise TelegramError("Telegram redirected the download to a CDN")
            expected = min(CHUNK, job.total - index * CHUNK)
            if len(result.bytes) != expected:
                raise TelegramError(
                    f"Telegram sent {len(result.bytes)} bytes at offset {index * CHUNK}, "
                    f"expected {expected}"
                )
            await job.done(index, result.bytes)
            break
        else:
            raise TelegramError("Telegram kept refusing one part of the file")


async def fetch_document(
    client: Any,
    media: MediaMessage,
    dest: Path,
    *,
    connections: int = 4,
    refresh: RefreshHook | None = None,
    on_wait: WaitHook | None = None,
    progress: ProgressHook | None = None,
) -> Fetched:
    """Download ``media`` to ``dest`` (through ``dest.part``), resuming what a former
    attempt left. Raises Mediaferry errors only; keeps the ``.part`` for the next try."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = resume_offset(part) if media.size else 0
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    marker_fd = os.open(_marker(part), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, start)
        os.ftruncate(marker_fd, 0)
        os.pwrite(marker_fd, f"{start:020d}".encode(), 0)
        if start:
            log.info("resuming a Telegram download at byte %d of %d", start, media.size)
        job = _Job(media, fd, marker_fd, start, refresh, on_wait, progress)
        if progress is not None:
            progress(start, media.size)
        remaining = job.last_index - job.next_index + 1
        if remaining > 0:
            wanted = max(1, min(connections, remaining))
            async with SenderPool(client, media.dc_id, wanted) as pool:
                await run_all([_worker(job, s) for s in pool.senders])
        if job.watermark < media.size:
            raise NetworkError("the Telegram download stopped before the end")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.close(marker_fd)
    os.replace(part, dest)
    _marker(part).unlink(missing_ok=True)
    return Fetched(dest, media.size, start, job.fetched)
