"""What a followed playlist, channel or feed has now (DESIGN.md §13: sources answer
"what entries does this have"; nothing follow-specific lives here).

- Feeds (RSS/Atom/podcasts, YouTube channel feeds): one conditional GET
  (:mod:`mediaferry.net.feed`).
- A YouTube channel URL with its ``UC…`` id is read through its channel feed, which
  costs one small request instead of a yt-dlp run.
- Any other playlist yt-dlp knows: a flat listing of the newest ``limit`` entries in
  the killable yt-dlp child.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from mediaferry.config import Settings
from mediaferry.errors import JobError, ParserError, UnsupportedSource
from mediaferry.net.feed import FeedEntry, FeedListing, fetch_feed, looks_like_feed
from mediaferry.net.page import fetch_head_bytes
from mediaferry.net.ytdlp_process import run_ytdlp_child

__all__ = ["FeedEntry", "FeedListing", "Kind", "detect_kind", "list_entries", "youtube_feed_url"]

Kind = Literal["feed", "playlist", "telegram"]

_YT_CHANNEL_RE = re.compile(
    r"^https?://(?:www\.|m\.)?youtube\.com/channel/(UC[0-9A-Za-z_-]{22})(?:[/?#]|$)"
)
_TELEGRAM_RE = re.compile(
    r"^(?:https?://)?(?:t\.me|telegram\.me)/|^@[A-Za-z][\w]{3,}$|^-?\d{1,19}$"
)


def youtube_feed_url(url: str) -> str | None:
    """The cheap feed of a YouTube channel URL that names its ``UC…`` id."""
    found = _YT_CHANNEL_RE.match(url)
    if not found:
        return None
    return f"https://www.youtube.com/feeds/videos.xml?channel_id={found.group(1)}"


@dataclass(slots=True)
class Detected:
    kind: Kind
    url: str  # what to read from now on (a channel's feed URL, say)
    title: str | None


async def detect_kind(url: str, settings: Settings) -> Detected:
    """What ``url`` is, for following; UnsupportedSource when it is neither a playlist,
    a feed nor a chat (one small request, then yt-dlp only if the page is no feed)."""
    if _TELEGRAM_RE.match(url):
        return Detected("telegram", url, None)
    feed = youtube_feed_url(url)
    if feed is not None:
        return Detected("feed", feed, None)
    head, content_type = await fetch_head_bytes(url, settings, 4096)
    if looks_like_feed(head, content_type):
        listing = await fetch_feed(url, settings, max_entries=1)
        return Detected("feed", url, listing.title)
    info = await _flat(url, settings, 1)
    if info.get("_type") not in ("playlist", "multi_video"):
        raise UnsupportedSource("this link is not a playlist, a channel, a feed or a Telegram chat")
    return Detected("playlist", url, info.get("title"))


async def list_entries(
    kind: Kind,
    url: str,
    settings: Settings,
    *,
    limit: int,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FeedListing:
    """The newest ``limit`` entries, newest first (``not_modified`` for a feed whose
    server answered 304)."""
    if kind == "feed":
        return await fetch_feed(
            url,
            settings,
            etag=etag,
            last_modified=last_modified,
            max_bytes=settings.follow_max_feed_mb << 20,
            max_entries=limit,
        )
    if kind == "playlist":
        info = await _flat(url, settings, limit)
        return FeedListing(title=info.get("title"), entries=_playlist_entries(info, limit))
    raise UnsupportedSource("Telegram chats are followed through the Telegram reader")


async def _flat(url: str, settings: Settings, limit: int) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "skip_download": True,
        "extract_flat": "in_playlist",
        "playlistend": max(1, limit),
        "lazy_playlist": True,
        "socket_timeout": settings.http_read_timeout_s,
        "http_headers": {"User-Agent": settings.user_agent} if settings.user_agent else {},
    }
    try:
        final = await run_ytdlp_child(
            {
                "mode": "extract",
                "url": url,
                "opts": opts,
                "allow_private": settings.allow_private_networks,
            },
            grace=settings.ytdlp_kill_grace_s,
            connect_timeout=settings.http_connect_timeout_s,
        )
    except JobError as exc:
        if "Unsupported URL" in exc.message:
            raise UnsupportedSource(
                "this link is not a playlist, a channel, a feed or a Telegram chat"
            ) from exc
        raise
    info: dict[str, Any] = final.get("info") or {}
    return info


def _published(entry: dict[str, Any]) -> datetime | None:
    stamp = entry.get("timestamp") or entry.get("release_timestamp")
    if isinstance(stamp, int | float):
        return datetime.fromtimestamp(stamp, UTC)
    day = entry.get("upload_date") or entry.get("release_date")
    if isinstance(day, str) and len(day) == 8 and day.isdigit():
        return datetime(int(day[:4]), int(day[4:6]), int(day[6:]), tzinfo=UTC)
    return None


def _entry_url(entry: dict[str, Any], playlist_url: str | None) -> str | None:
    """A flat entry's own page; a resolved one (XSPF, SMIL...) whose page is the
    playlist's is known by its media URL instead."""
    if entry.get("_type") in ("url", "url_transparent"):
        return entry.get("url")
    page = entry.get("webpage_url")
    if page and page != playlist_url:
        return str(page)
    if entry.get("url"):
        return str(entry["url"])
    formats = entry.get("formats") or []
    return str(formats[-1]["url"]) if formats and formats[-1].get("url") else page


def _playlist_entries(info: dict[str, Any], limit: int) -> list[FeedEntry]:
    raw = [e for e in info.get("entries") or [] if isinstance(e, dict)]
    ids = [e.get("id") for e in raw]
    # ids that repeat (resolved entries of a generic playlist all say "playlist") or
    # echo the playlist's own id identify nothing: use the entry's URL then
    usable = len(set(ids)) == len(ids) and info.get("id") not in ids and all(ids)
    out: list[FeedEntry] = []
    for entry in raw:
        url = _entry_url(entry, info.get("webpage_url"))
        if not url:
            continue
        extractor = entry.get("ie_key") or entry.get("extractor_key") or ""
        key = (
            f"{extractor}:{entry['id']}"
            if usable and extractor
            else (str(entry["id"]) if usable else url)
        )
        duration = entry.get("duration")
        out.append(
            FeedEntry(
                id=key[:500],
                url=url,
                title=entry.get("title"),
                published=_published(entry),
                duration=float(duration) if isinstance(duration, int | float) else None,
            )
        )
        if len(out) >= limit:
            break
    if not out and info.get("_type") not in ("playlist", "multi_video"):
        raise ParserError("the link no longer lists any entries")
    return out
