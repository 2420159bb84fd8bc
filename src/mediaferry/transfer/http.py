"""SSRF-safe HTTP client and the streaming HTTP transfer backend.

:func:`make_client` returns an ``httpx.AsyncClient`` whose every TCP connection,
including each redirect, resolves the host itself, refuses non-public addresses
(unless ``allow_private_networks``), and connects to the address it checked, so
DNS rebinding cannot slip past the check. Its connections are asyncio streams that
read in bulk (:mod:`._netstream`).

:class:`HttpTransfer` hands each received chunk to a :class:`FileSink` thread that
writes and hashes it, so the result's sha256 is known when the last byte lands.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import logging
import re
import ssl
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import certifi
import httpcore
import httpx

from mediaferry.errors import (
    AuthError,
    HttpError,
    JobError,
    NetworkError,
    RateLimited,
    SizeLimitExceeded,
    StageTimeout,
    UnsupportedSource,
    UrlRejected,
)
from mediaferry.transfer._netstream import open_stream
from mediaferry.transfer._sink import FileSink
from mediaferry.transfer.base import Progress, ProgressSink, Transfer, TransferResult
from mediaferry.urls import resolve_public

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.sources.base import MediaPlan

__all__ = [
    "HttpTransfer",
    "SafeNetworkBackend",
    "error_from_response",
    "filename_from_response",
    "make_client",
    "map_httpx_error",
    "parse_retry_after",
]

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.25  # the sink behind it writes to the database at most once a second


class SafeNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks every address before connecting to it."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve_public(host, port, allow_private=self.allow_private)
        except (UrlRejected, NetworkError) as exc:
            # httpcore expects its own exception types from a backend
            raise httpcore.ConnectError(f"{type(exc).__name__}: {exc.message}") from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return await open_stream(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verified TLS context per process: building one costs tens of milliseconds."""
    return ssl.create_default_context(cafile=certifi.where())


def make_client(settings: Settings, **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that applies the URL policy to every connection."""
    transport = httpx.AsyncHTTPTransport(retries=0, verify=_ssl_context())
    pool = transport._pool
    pool._network_backend = SafeNetworkBackend(allow_private=settings.allow_private_networks)
    timeout = httpx.Timeout(
        settings.http_read_timeout_s,
        connect=settings.http_connect_timeout_s,
        pool=settings.http_connect_timeout_s,
    )
    headers = {"User-Agent": settings.user_agent, **kwargs.pop("headers", {})}
    return httpx.AsyncClient(
        transport=transport,
        timeout=kwargs.pop("timeout", timeout),
        follow_redirects=kwargs.pop("follow_redirects", True),
        max_redirects=10,
        trust_env=False,
        headers=headers,
        **kwargs,
    )


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_response(response: httpx.Response) -> JobError:
    """The Mediaferry error for a non-success HTTP status."""
    status = response.status_code
    details = {"http_status": status, "url": str(response.url)}
    if status in (401, 403):
        return AuthError(f"access denied (HTTP {status})", details=details)
    if status == 429:
        return RateLimited(
            "the site is limiting requests (HTTP 429)",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            details=details,
        )
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if status == 503 else None
    return HttpError(f"HTTP {status}", status=status, retry_after=retry_after, details=details)


def map_httpx_error(exc: Exception) -> JobError:
    """Translate an httpx/httpcore exception into a Mediaferry error."""
    text = str(exc)
    if "UrlRejected" in text:
        return UnsupportedSource(text.split(": ", 1)[-1])
    if isinstance(exc, httpx.TimeoutException):
        return StageTimeout(f"the server stopped responding ({type(exc).__name__})")
    if isinstance(exc, httpx.TooManyRedirects):
        return HttpError("too many redirects")
    if isinstance(exc, httpx.RemoteProtocolError):
        return NetworkError(f"the connection broke off: {text or type(exc).__name__}")
    if isinstance(exc, httpx.TransportError):
        return NetworkError(f"network error: {text or type(exc).__name__}")
    return NetworkError(text or type(exc).__name__)


_FILENAME_RE = re.compile(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", re.IGNORECASE)


def filename_from_response(response: httpx.Response) -> str:
    cd = response.headers.get("Content-Disposition", "")
    match = _FILENAME_RE.search(cd)
    if match:
        return unquote(match.group(1)).strip()
    return unquote(Path(urlsplit(str(response.url)).path).name) or "download"


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
        self, plan: MediaPlan, dest_dir: Path, progress: ProgressSink
    ) -> TransferResult:
        dest_dir.mkdir(parents=True, exist_ok=True)
        part = dest_dir / "download.part"
        limit = self.settings.max_file_size_bytes
        try:
            return await self._fetch(plan, dest_dir, part, limit, progress)
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                part.unlink()
            raise
        except httpx.HTTPError as exc:
            raise map_httpx_error(exc) from exc

    async def _fetch(
        self, plan: MediaPlan, dest_dir: Path, part: Path, limit: int, progress: ProgressSink
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
            sink = FileSink(part, offset)
            try:
                done = await self._receive(response, sink, offset, total, limit, progress)
                digest = await sink.finish()
            finally:
                await sink.abort()
            if total is not None and done != total:
                raise NetworkError(f"the server sent {done} of {total} bytes")
            name = filename_from_response(response)
        final = dest_dir / _safe_leaf(name, plan)
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
        progress: ProgressSink,
    ) -> int:
        """Stream the body into ``sink``; the bytes in the file afterwards."""
        meter = _Meter(done)
        next_report = time.monotonic() + PROGRESS_EVERY_S
        # chunks as the socket delivers them: no re-buffering, one write each
        async for chunk in response.aiter_raw():
            done += len(chunk)
            if done > limit:
                raise SizeLimitExceeded("the file is over the size limit")
            await sink.write(chunk)
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + PROGRESS_EVERY_S
                progress(meter.update(done, total))
        return done


def _resumes_at(response: httpx.Response, offset: int) -> bool:
    """Does a 206 response's ``Content-Range: bytes a-b/n`` start at ``offset``?"""
    match = re.match(r"bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
    return match is not None and int(match.group(1)) == offset


def _safe_leaf(name: str, plan: MediaPlan) -> str:
    from mediaferry.files.names import sanitize_filename

    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, plan.ext or "bin"
    return sanitize_filename(f"{stem}.{ext}", max_bytes=200) or f"download.{ext}"
