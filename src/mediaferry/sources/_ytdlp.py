"""Shared base of the sources that yt-dlp describes (YouTube, Facebook, Archive.org, YTDLP).

Extraction runs in the yt-dlp child process (``extract_info(download=False)``, flat
for playlists, only the wanted playlist items). The info dict becomes a
``protocol="ytdlp"`` :class:`MediaPlan` with a format choice from :mod:`quality`,
or a plan whose ``entries`` list the playlist's items.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mediaferry.errors import FormatNotFound
from mediaferry.net.ytdlp_env import base_opts, ytdlp_python
from mediaferry.net.ytdlp_process import run_ytdlp_child
from mediaferry.plan import YTDLP_INFO, JobRequest, MediaPlan, PlaylistEntry
from mediaferry.sources.base import Source
from mediaferry.sources.quality import available_qualities, choose_formats, normalize_quality

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = [
    "YtdlpSource",
    "extract_info",
    "parse_playlist_items",
    "plan_from_info",
]

# protocols whose formats need the per-fragment lists the child leaves out of its info
_FRAGMENTED = ("dash", "ism", "f4m", "mhtml")


def _reusable(info: dict[str, Any]) -> bool:
    """Can yt-dlp download from this (slimmed) info without extracting again?"""
    formats = info.get("formats") or ([info] if info.get("url") else [])
    if info.get("is_live") or not formats:
        return False
    return not any(any(p in str(f.get("protocol") or "") for p in _FRAGMENTED) for f in formats)


_ITEMS_RE = re.compile(r"^\s*\d+(?:\s*-\s*\d+)?(?:\s*,\s*\d+(?:\s*-\s*\d+)?)*\s*$")


def parse_playlist_items(spec: str | None, cap: int) -> list[int]:
    """``"1-10"``, ``"5,7,9"``, ``"2-4,8"`` → 1-based indexes (at most ``cap``)."""
    if not spec:
        return list(range(1, cap + 1))
    if not _ITEMS_RE.match(spec):
        raise FormatNotFound(f"invalid playlist range {spec!r}; use e.g. 1-10 or 5,7,9")
    out: list[int] = []
    for part in spec.replace(" ", "").split(","):
        first, _, last = part.partition("-")
        start, end = int(first), int(last or first)
        if start < 1 or end < start:
            raise FormatNotFound(f"invalid playlist range {part!r}")
        for i in range(start, min(end, start + cap) + 1):
            if i not in out:
                out.append(i)
            if len(out) >= cap:
                return out
    return out


def extract_opts(settings: Settings, request: JobRequest) -> dict[str, Any]:
    """yt-dlp parameters for a metadata-only extraction."""
    items = parse_playlist_items(request.playlist_items, settings.max_playlist_items)
    opts: dict[str, Any] = {
        **base_opts(settings),
        "skip_download": True,
        "extract_flat": "in_playlist",
        "noplaylist": True,  # watch?v=X&list=Y means the video
        "playlist_items": ",".join(str(i) for i in items),
        "socket_timeout": settings.http_read_timeout_s,
        "http_headers": {"User-Agent": settings.user_agent} if settings.user_agent else {},
        "format": "bv*+ba/b",
        "ignore_no_formats_error": False,
        "lazy_playlist": True,
    }
    if request.cookie_file is not None:
        opts["cookiefile"] = str(request.cookie_file)
    return opts


async def extract_info(url: str, settings: Settings, request: JobRequest) -> dict[str, Any]:
    """yt-dlp's info dict for ``url``, extracted in a killable child process."""
    final = await run_ytdlp_child(
        {
            "mode": "extract",
            "url": url,
            "opts": extract_opts(settings, request),
            "allow_private": settings.allow_private_networks,
        },
        grace=settings.ytdlp_kill_grace_s,
        connect_timeout=settings.http_connect_timeout_s,
        python=ytdlp_python(settings),
    )
    info: dict[str, Any] = final.get("info") or {}
    return info


def _entries(info: dict[str, Any], cap: int) -> list[PlaylistEntry]:
    out: list[PlaylistEntry] = []
    for entry in info.get("entries") or []:
        if not isinstance(entry, dict):
            continue
        url = entry.get("webpage_url") or entry.get("url")
        if not url:
            continue
        out.append(
            PlaylistEntry(
                url=str(url),
                title=entry.get("title"),
                media_id=str(entry["id"]) if entry.get("id") else None,
            )
        )
        if len(out) >= cap:
            break
    return out


def plan_from_info(info: dict[str, Any], request: JobRequest, settings: Settings) -> MediaPlan:
    """A ``ytdlp`` plan (or a playlist plan with entries) from a yt-dlp info dict."""
    common: dict[str, Any] = {
        "url": info.get("webpage_url") or request.url,
        "protocol": "ytdlp",
        "title": info.get("title"),
        "media_id": str(info["id"]) if info.get("id") else None,
        "uploader": info.get("uploader") or info.get("channel") or info.get("artist"),
        "thumbnail_url": info.get("thumbnail"),
        "cookie_file": request.cookie_file,
        "upload_date": info.get("upload_date"),
        "album": info.get("album"),
    }
    if info.get("_type") in ("playlist", "multi_video"):
        entries = _entries(info, settings.max_playlist_items)
        count = info.get("playlist_count")
        return MediaPlan(
            **common,
            entries=entries,
            extra={"playlist_count": count, "extractor": info.get("extractor_key")},
        )
    quality = normalize_quality(request.quality, request.job_type)
    choice = choose_formats(info, quality, request.max_bytes or settings.max_file_size_bytes)
    duration = info.get("duration")
    extra: dict[str, Any] = {YTDLP_INFO: info} if _reusable(info) else {}
    return MediaPlan(
        **common,
        duration=float(duration) if duration else None,
        format_spec=choice.format_spec,
        size=choice.size,
        size_is_estimate=choice.size_is_estimate,
        ext=choice.ext,
        width=choice.width,
        height=choice.height,
        extra={
            **extra,
            "extractor": info.get("extractor_key"),
            "telegram_compatible": choice.compatible,
            "quality": quality.label,
            "is_live": bool(info.get("is_live")),
            # what the bot's keyboard offers: real qualities with estimated sizes
            "qualities": available_qualities(
                info, request.max_bytes or settings.max_file_size_bytes
            ),
        },
    )


class YtdlpSource(Source):
    """A site handled by yt-dlp extractors (which ones: :mod:`.detect`)."""

    async def describe(self, request: JobRequest) -> MediaPlan:
        info = await extract_info(request.url, self.settings, request)
        return plan_from_info(info, request, self.settings)
