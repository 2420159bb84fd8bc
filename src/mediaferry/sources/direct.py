"""DIRECT: a media file by extension, or an extension-less URL served as media.

Detection is offline (the extension). At describe time a HEAD request (GET if the
server refuses HEAD) reads Content-Type, Content-Length and the file name, so an
extension-less URL whose Content-Type is audio/video is accepted too; HLS/DASH
manifests become a yt-dlp plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, ClassVar

import httpx

from mediaferry.errors import SizeLimitExceeded, UnsupportedSource
from mediaferry.sources._html import MEDIA_EXTS, media_kind
from mediaferry.sources.base import JobRequest, MediaPlan, Source, SourceType
from mediaferry.transfer.http import (
    error_from_response,
    filename_from_response,
    make_client,
    map_httpx_error,
)

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["DirectSource", "Probe", "probe_url"]

_EXT_RE = "|".join(sorted(MEDIA_EXTS))
_NOT_MEDIA = ("text/html", "application/xhtml", "image/", "application/json", "text/xml")


@dataclass(slots=True)
class Probe:
    """What the server says about a URL without sending the body."""

    url: str  # after redirects
    mime: str
    size: int | None
    filename: str
    kind: str | None  # media_kind() of the response


async def probe_url(url: str, settings: Settings, headers: dict[str, str] | None = None) -> Probe:
    """HEAD (or a GET whose body is not read) ``url`` through the SSRF-safe client."""
    try:
        async with make_client(settings) as client:
            response = await client.head(url, headers=headers)
            if response.status_code in (403, 405, 501) or not response.headers.get("Content-Type"):
                async with client.stream("GET", url, headers=headers) as streamed:
                    response = streamed
            if response.status_code >= 400:
                raise error_from_response(response)
    except httpx.HTTPError as exc:
        raise map_httpx_error(exc) from exc
    mime = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    length = response.headers.get("Content-Length", "")
    final = str(response.url)
    name = filename_from_response(response)
    kind = media_kind(name, mime) if mime not in ("", "application/octet-stream") else None
    kind = kind or media_kind(final, mime if mime != "application/octet-stream" else None)
    if kind is None and mime == "application/octet-stream":
        kind = media_kind(name)
    if mime.startswith(_NOT_MEDIA):  # the server says what it is, whatever the name
        kind = None
    return Probe(final, mime, int(length) if length.isdigit() else None, name, kind)


def plan_from_probe(probe: Probe, settings: Settings, **fields: object) -> MediaPlan:
    """An http (or, for HLS/DASH, ytdlp) plan for a probed media URL."""
    if probe.size is not None and probe.size > settings.max_file_size_bytes:
        raise SizeLimitExceeded(
            f"the file is {probe.size / 1e6:.0f} MB, over the "
            f"{settings.max_file_size_bytes / 1e6:.0f} MB limit"
        )
    stem = PurePosixPath(probe.filename).stem or None
    ext = PurePosixPath(probe.filename).suffix.lstrip(".").lower() or None
    plan = MediaPlan(
        url=probe.url,
        protocol="ytdlp" if probe.kind == "stream" else "http",
        title=stem,
        ext=ext,
        size=None if probe.kind == "stream" else probe.size,  # a manifest's own size
        mime=probe.mime or None,
    )
    for key, value in fields.items():
        if value is not None:
            setattr(plan, key, value)
    if plan.protocol == "ytdlp":
        plan.format_spec = plan.format_spec or "bv*+ba/b"
    return plan


class DirectSource(Source):
    """A direct link to an audio or video file."""

    name: ClassVar[SourceType] = SourceType.DIRECT
    pattern: ClassVar[re.Pattern[str] | None] = re.compile(
        rf"^https?://[^?#]+\.(?:{_EXT_RE})(?:[?#].*)?$", re.IGNORECASE
    )
    example: ClassVar[str] = "https://files.example.net/talks/opening-lecture.mp3"

    async def describe(self, request: JobRequest) -> MediaPlan:
        # auth profiles: a page that needs a login needs the cookies for the probe too
        from mediaferry.jobs.auth import cookie_headers

        probe = await probe_url(
            request.url, self.settings, cookie_headers(request.cookie_file, request.url)
        )
        if probe.kind is None:
            what = probe.mime or "unknown content"
            raise UnsupportedSource(f"the link is not a media file ({what})")
        return plan_from_probe(probe, self.settings, cookie_file=request.cookie_file)
