"""The SSRF-safe HTTP client and the translation of httpx failures.

:func:`make_client` returns an ``httpx.AsyncClient`` whose every TCP connection,
including each redirect, resolves the host itself, refuses non-public addresses
(unless ``allow_private_networks``), and connects to the address it checked, so
DNS rebinding cannot slip past the check. Its connections are asyncio streams that
read in bulk (:mod:`._netstream`).

This is httpx's boundary: :func:`map_httpx_error` and :func:`error_from_response`
turn its exceptions and error statuses into Mediaferry errors.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from collections.abc import Iterable
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
    StageTimeout,
    UnsupportedSource,
    UrlRejected,
)
from mediaferry.net._netstream import open_stream
from mediaferry.net.classify import parse_retry_after
from mediaferry.urls import resolve_public

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = [
    "HTTPX_ERRORS",
    "SafeNetworkBackend",
    "error_from_response",
    "filename_from_response",
    "filename_from_url",
    "make_client",
    "map_httpx_error",
    "parse_retry_after",
]


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


# What httpx can raise besides HTTPError: InvalidURL (a host IDNA refuses, a number
# that is no address), StreamError/CookieConflict, and UnicodeError while encoding a
# header or URL. Every caller of the client catches all of them, so none reaches the
# worker untranslated.
HTTPX_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    httpx.CookieConflict,
    UnicodeError,
)


def map_httpx_error(exc: Exception) -> JobError:
    """Translate an httpx/httpcore exception (any of :data:`HTTPX_ERRORS`) into a
    Mediaferry error."""
    text = str(exc)
    if "UrlRejected" in text:
        return UnsupportedSource(text.split(": ", 1)[-1])
    if isinstance(exc, httpx.InvalidURL | UnicodeError):
        return UnsupportedSource(
            f"the link is not a valid URL ({text[:200] or type(exc).__name__})"
        )
    if isinstance(exc, httpx.StreamError | httpx.CookieConflict):
        return NetworkError(f"the download could not be read ({type(exc).__name__})")
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
    return filename_from_url(str(response.url))


def filename_from_url(url: str) -> str:
    """The last segment of ``url``'s path ("download" when it has none)."""
    return unquote(Path(urlsplit(url).path).name) or "download"
