"""DIRECT: a media file by extension, or an extension-less URL served as media.

Detection is offline (the extension). At describe time a HEAD request (GET if the
server refuses HEAD) reads Content-Type, Content-Length and the file name, so an
extension-less URL whose Content-Type is audio/video is accepted too; HLS/DASH
manifests become a yt-dlp plan.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, ClassVar

from mediaferry.errors import SizeLimitExceeded, UnsupportedSource
from mediaferry.net.cookies import cookie_headers
from mediaferry.net.page import Probe, probe_url
from mediaferry.plan import JobRequest, MediaPlan, SourceType
from mediaferry.sources._html import MEDIA_EXTS, media_kind
from mediaferry.sources.base import Source

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["DirectSource", "plan_from_probe", "probe_media"]

_EXT_RE = "|".join(sorted(MEDIA_EXTS))
_NOT_MEDIA = ("text/html", "application/xhtml", "image/", "application/json", "text/xml")


def _kind(name: str, final: str, mime: str) -> str | None:
    """The media kind of a probed response: the file name and URL, then the server's word."""
    kind = media_kind(name, mime) if mime not in ("", "application/octet-stream") else None
    kind = kind or media_kind(final, mime if mime != "application/octet-stream" else None)
    if kind is None and mime == "application/octet-stream":
        kind = media_kind(name)
    if mime.startswith(_NOT_MEDIA):  # the server says what it is, whatever the name
        kind = None
    return kind


async def probe_media(url: str, settings: Settings, headers: dict[str, str] | None = None) -> Probe:
    """HEAD (or GET without the body) ``url``; what it is, by name and Content-Type."""
    return await probe_url(url, settings, headers, kind=_kind)


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
    example: ClassVar[str] = "https://files.example.net/talks/opening-lecture.mp3"

    async def describe(self, request: JobRequest) -> MediaPlan:
        # auth profiles: a page that needs a login needs the cookies for the probe too
        probe = await probe_media(
            request.url, self.settings, cookie_headers(request.cookies, request.url)
        )
        if probe.kind is None:
            what = probe.mime or "unknown content"
            raise UnsupportedSource(f"the link is not a media file ({what})")
        return plan_from_probe(probe, self.settings, cookie_file=request.cookie_file)
