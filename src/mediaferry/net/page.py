"""Small HTTP reads that *describe* rather than download: a page, a probe, a small file.

All go through the SSRF-safe client of :mod:`.http`, are size-capped, and raise
Mediaferry errors only (httpx's are translated here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediaferry.errors import ParserError
from mediaferry.net.cookies import cookie_request_hook
from mediaferry.net.http import (
    HTTPX_ERRORS,
    error_from_response,
    filename_from_response,
    make_client,
    map_httpx_error,
)

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.plan import Cookie

__all__ = ["MAX_PAGE_BYTES", "Probe", "fetch_bytes", "fetch_head_bytes", "fetch_page", "probe_url"]

MAX_PAGE_BYTES = 5 * 1024 * 1024


@dataclass(slots=True)
class Probe:
    """What the server says about a URL without sending the body."""

    url: str  # after redirects
    mime: str
    size: int | None
    filename: str
    kind: str | None  # the caller's media kind of the response (see probe_url's ``kind``)


async def probe_url(
    url: str,
    settings: Settings,
    headers: dict[str, str] | None = None,
    *,
    kind: Callable[[str, str, str], str | None],
) -> Probe:
    """HEAD (or a GET whose body is not read) ``url`` through the SSRF-safe client.

    ``kind(filename, final_url, mime)`` classifies the response (audio, video,
    stream or None); it belongs to the caller, which knows what media looks like.
    """
    try:
        async with make_client(settings) as client:
            response = await client.head(url, headers=headers)
            if response.status_code in (403, 405, 501) or not response.headers.get("Content-Type"):
                async with client.stream("GET", url, headers=headers) as streamed:
                    response = streamed
            if response.status_code >= 400:
                raise error_from_response(response)
    except HTTPX_ERRORS as exc:
        raise map_httpx_error(exc) from exc
    mime = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    length = response.headers.get("Content-Length", "")
    final = str(response.url)
    name = filename_from_response(response)
    return Probe(
        final, mime, int(length) if length.isdigit() else None, name, kind(name, final, mime)
    )


async def fetch_page(
    url: str, settings: Settings, cookies: tuple[Cookie, ...] = ()
) -> tuple[str, str]:
    """``(html, final url)`` of a web page, size-capped, through the SSRF-safe client;
    with ``cookies`` (an auth profile's) each request carries the cookies for its URL."""
    hook = cookie_request_hook(cookies)
    hooks = {"request": [hook]} if hook is not None else {}
    try:
        async with (
            make_client(settings, event_hooks=hooks) as client,
            client.stream("GET", url) as resp,
        ):
            if resp.status_code >= 400:
                raise error_from_response(resp)
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > MAX_PAGE_BYTES:
                    break
            encoding = resp.charset_encoding or "utf-8"
            return body.decode(encoding, errors="replace"), str(resp.url)
    except HTTPX_ERRORS as exc:
        raise map_httpx_error(exc) from exc


async def fetch_bytes(url: str, settings: Settings, max_bytes: int, what: str) -> bytes:
    """The whole body of a small file (e.g. a .torrent); ParserError over ``max_bytes``."""
    try:
        async with make_client(settings) as client, client.stream("GET", url) as resp:
            if resp.status_code >= 400:
                raise error_from_response(resp)
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise ParserError(f"the {what} is implausibly large")
            return bytes(body)
    except HTTPX_ERRORS as exc:
        raise map_httpx_error(exc) from exc


async def fetch_head_bytes(url: str, settings: Settings, limit: int) -> tuple[bytes, str | None]:
    """The first ``limit`` bytes of ``url`` and its Content-Type (sniffing what a link is)."""
    try:
        async with make_client(settings) as client, client.stream("GET", url) as resp:
            if resp.status_code >= 400:
                raise error_from_response(resp)
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) >= limit:
                    break
            return bytes(body[:limit]), resp.headers.get("Content-Type")
    except HTTPX_ERRORS as exc:
        raise map_httpx_error(exc) from exc
