"""The streaming HTTP transfer backend, on the SSRF-safe client of :mod:`mediaferry.net.http`.

:class:`HttpTransfer` hands each received chunk to a :class:`FileSink` thread that
writes and hashes it, so the result's sha256 is known when the last byte lands. On a
plain-HTTP connection with a known length, the rest of the body after its first chunk
goes from the socket to the file inside the kernel (:meth:`FileSink.splice_from`), the
hash following in a thread of its own.

A big file may be fetched with a :class:`HandOff`: when, after its first seconds, the
one connection carries less than the given rate and the server takes ranges,
:class:`SlowLink` is raised with every byte received kept in the ``.part`` file, so a
segmented downloader (aria2c) can go on from there (:mod:`.bigfile`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from mediaferry.errors import NetworkError, SizeLimitExceeded
from mediaferry.files.names import sanitize_filename
from mediaferry.net._netstream import AsyncioStream
from mediaferry.net.http import (
    HTTPX_ERRORS,
    error_from_response,
    filename_from_response,
    make_client,
    map_httpx_error,
)
from mediaferry.transfer._sink import FileSink
from mediaferry.transfer.base import Progress, ProgressSink, Transfer, TransferResult

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.plan import MediaPlan

__all__ = ["PART", "HandOff", "HttpTransfer", "SlowLink", "safe_leaf"]

log = logging.getLogger(__name__)
PART = "download.part"  # the file a download is written to until it is whole
PROGRESS_EVERY_S = 0.25  # the sink behind it writes to the database at most once a second


class _Meter:
    """Speed over a sliding window, and the ETA it implies."""

    def __init__(self, start: int) -> None:
        self.samples: list[tuple[float, int]] = [(time.monotonic(), start)]

    def update(self, done: int, total: int | None) -> Progress:
        now = time.monotonic()
        samples = self.samples
        if now - samples[-1][0] >= 0.25:
            samples.append((now, done))
            if len(samples) > 20:
                del samples[:-20]
        t0, b0 = samples[0]
        speed = (done - b0) / (now - t0) if now - t0 > 0.05 else None
        eta = (total - done) / speed if speed and total and total >= done else None
        return Progress(bytes_done=done, bytes_total=total, speed=speed, eta=eta)


@dataclass(frozen=True, slots=True)
class HandOff:
    """A download gives way when, at least ``after`` s in, its connection carries fewer
    than ``below`` bytes/s (over the last few seconds) with more than ``after`` s of it
    left at that rate (only where the server takes ranges)."""

    below: float  # bytes per second
    after: float  # seconds

    def due(self, started: float, progress: Progress) -> bool:
        """Is it time to hand the rest over?"""
        speed, left = progress.speed, progress.bytes_total
        if speed is None or left is None:
            return False
        left -= progress.bytes_done
        return (
            time.monotonic() - started >= self.after
            and speed < self.below
            and left > speed * self.after
        )


class SlowLink(Exception):
    """The connection was too slow for :class:`HandOff`: the ``.part`` file holds every
    byte received of the file, whose name the server gave as ``name``."""

    def __init__(self, name: str) -> None:
        super().__init__("one connection is too slow")
        self.name = name


class HttpTransfer(Transfer):
    """Streams a direct file to ``<name>.part``, then renames it; resumes with Range."""

    name = "http"
    protocols = ("http",)

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._client = client
        self._own_client = client is None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    async def close(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(
        self,
        plan: MediaPlan,
        dest_dir: Path,
        progress: ProgressSink,
        *,
        hand_off: HandOff | None = None,
    ) -> TransferResult:
        """Fetch ``plan``; with ``hand_off``, :class:`SlowLink` may end it early."""
        dest_dir.mkdir(parents=True, exist_ok=True)
        part = dest_dir / PART
        limit = self.settings.max_file_size_bytes
        try:
            return await self._fetch(plan, dest_dir, part, limit, progress, hand_off)
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                part.unlink()
            raise
        except HTTPX_ERRORS as exc:
            raise map_httpx_error(exc) from exc

    async def _fetch(
        self,
        plan: MediaPlan,
        dest_dir: Path,
        part: Path,
        limit: int,
        progress: ProgressSink,
        hand_off: HandOff | None,
    ) -> TransferResult:
        offset = part.stat().st_size if part.exists() else 0
        headers = dict(plan.headers)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        async with self.client.stream("GET", plan.url, headers=headers) as response:
            if response.status_code == 416 and offset:
                part.unlink()
                offset = 0
                raise NetworkError("the server refused to resume; starting over")
            if response.status_code >= 400:
                raise error_from_response(response)
            if offset and response.status_code != 206:
                offset = 0  # server ignored Range: start over
            elif offset and not _resumes_at(response, offset):
                part.unlink()
                raise NetworkError("the server resumed at the wrong place; starting over")
            length = response.headers.get("Content-Length")
            total: int | None = None
            if length and length.isdigit():
                total = int(length) + offset
            if total is not None and total > limit:
                raise SizeLimitExceeded(
                    f"the file is {total / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB limit"
                )
            if response.headers.get("Accept-Ranges", "").strip().lower() != "bytes":
                hand_off = None  # nobody can go on in parallel from where this stops
            sink = FileSink(part, offset)
            try:
                try:
                    done = await self._receive(
                        response,
                        sink,
                        offset,
                        total,
                        limit,
                        _Watch(progress, hand_off),
                        self.settings.http_read_timeout_s,
                    )
                    digest = await sink.finish()
                finally:
                    await sink.abort()  # on a hand-off too: every byte received is kept
            except _Slow:
                raise SlowLink(filename_from_response(response)) from None
            if total is not None and done != total:
                raise NetworkError(f"the server sent {done} of {total} bytes")
            name = filename_from_response(response)
        final = dest_dir / safe_leaf(name, plan)
        part.replace(final)
        progress(Progress(bytes_done=done, bytes_total=done, speed=None, eta=0))
        return TransferResult(path=final, size=done, downloader=self.name, digest=digest)

    @staticmethod
    async def _receive(
        response: httpx.Response,
        sink: FileSink,
        done: int,
        total: int | None,
        limit: int,
        progress: _Watch,
        read_timeout: float,
    ) -> int:
        """Stream the body into ``sink``; the bytes in the file afterwards."""
        meter = _Meter(done)
        hand_over = total is not None  # tried once, after the first chunk
        next_report = time.monotonic() + PROGRESS_EVERY_S
        # chunks as the socket delivers them: no re-buffering, one write each
        body = response.aiter_raw()
        async with contextlib.aclosing(body):  # type: ignore[type-var]
            async for chunk in body:
                done += len(chunk)
                if done > limit:
                    raise SizeLimitExceeded("the file is over the size limit")
                await sink.write(chunk)
                if time.monotonic() >= next_report:
                    next_report = time.monotonic() + PROGRESS_EVERY_S
                    progress(meter.update(done, total))
                if hand_over and total is not None and done < total:
                    # h11 has handed over all it held: the rest can skip Python entirely
                    hand_over = False
                    taken = _plain_socket(response)
                    if taken is not None:
                        return await _splice_rest(
                            taken, sink, done, total, meter, progress, read_timeout
                        )
        return done


def _plain_socket(response: httpx.Response) -> tuple[list[bytes], int] | None:
    """The unread bytes and the socket of a plain-HTTP response's connection."""
    stream = response.extensions.get("network_stream")
    return stream.take_socket() if isinstance(stream, AsyncioStream) else None


async def _splice_rest(
    taken: tuple[list[bytes], int],
    sink: FileSink,
    done: int,
    total: int,
    meter: _Meter,
    progress: _Watch,
    timeout: float,
) -> int:
    """The rest of a body of ``total`` bytes, ``done`` of them already in ``sink``."""
    chunks, sock = taken
    for chunk in chunks:  # received before the hand-over; never past the body's end
        chunk = chunk[: total - done]
        done += len(chunk)
        await sink.write(chunk)
    task = asyncio.ensure_future(sink.splice_from(sock, total - done, timeout=timeout))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=PROGRESS_EVERY_S)
            progress(meter.update(done + sink.spliced, total))
        moved = task.result()
        log.debug("%d of %d bytes went from the socket straight to the file", moved, total)
        return done + moved
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class _Slow(Exception):
    """Raised by :class:`_Watch` to stop receiving."""


class _Watch:
    """The progress sink, and a :class:`HandOff` checked on each report."""

    def __init__(self, progress: ProgressSink, hand_off: HandOff | None) -> None:
        self._progress = progress
        self._hand_off = hand_off
        self._started = time.monotonic()

    def __call__(self, progress: Progress) -> None:
        self._progress(progress)
        if self._hand_off is not None and self._hand_off.due(self._started, progress):
            raise _Slow


def _resumes_at(response: httpx.Response, offset: int) -> bool:
    """Does a 206 response's ``Content-Range: bytes a-b/n`` start at ``offset``?"""
    match = re.match(r"bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
    return match is not None and int(match.group(1)) == offset


def safe_leaf(name: str, plan: MediaPlan) -> str:
    """``name`` made a safe file name, with the plan's extension when it has none."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, plan.ext or "bin"
    return sanitize_filename(f"{stem}.{ext}", max_bytes=200) or f"download.{ext}"
