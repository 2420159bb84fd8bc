"""What a source is: it recognises URLs and *describes* what to fetch.

Sources never download. ``describe()`` returns a :class:`MediaPlan` (plain data:
URL, headers, protocol, title, size...), and a transfer backend chosen by
``plan.protocol`` fetches it (see :mod:`mediaferry.transfer`).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["JobRequest", "MediaPlan", "PlaylistEntry", "Source", "SourceType"]


class SourceType(StrEnum):
    YOUTUBE = "YOUTUBE"
    FACEBOOK = "FACEBOOK"
    ARCHIVE_ORG = "ARCHIVE_ORG"
    ISLAMIC = "ISLAMIC"
    YTDLP = "YTDLP"
    DIRECT = "DIRECT"
    TORRENT = "TORRENT"
    BROWSER = "BROWSER"
    TELEGRAM = "TELEGRAM"
    UNSUPPORTED = "UNSUPPORTED"


@dataclass(slots=True)
class JobRequest:
    """What a source needs to know about the job it describes."""

    job_id: int
    url: str
    job_type: str  # "video" | "audio"
    quality: str  # "best", "720p", "audio", "audio_128", ...
    cookie_file: Path | None = None
    auth_profile_id: str | None = None
    # added by the download engine
    playlist_items: str | None = None  # "1-10", "5,7,9": which playlist entries to expand
    max_bytes: int | None = None  # pick formats that fit this (oversize policy "smaller")


@dataclass(slots=True)
class PlaylistEntry:
    url: str
    title: str | None = None
    media_id: str | None = None


@dataclass(slots=True)
class MediaPlan:
    """Plain data: what to fetch and what it is. Chosen backend = ``protocol``.

    protocol: "http" (streaming HTTP), "aria2" (large direct files), "torrent"
    (magnet/.torrent via aria2c), "ytdlp" (yt-dlp in a child process), "hls".
    """

    url: str
    protocol: str = "http"
    title: str | None = None
    ext: str | None = None
    size: int | None = None  # exact (Content-Length) or estimate
    size_is_estimate: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    cookie_file: Path | None = None
    media_id: str | None = None
    duration: float | None = None
    uploader: str | None = None
    album: str | None = None
    upload_date: str | None = None
    thumbnail_url: str | None = None
    width: int | None = None
    height: int | None = None
    format_spec: str | None = None  # yt-dlp format selector
    mime: str | None = None
    entries: list[PlaylistEntry] | None = None  # set when the URL is a playlist
    extra: dict[str, Any] = field(default_factory=dict)


class Source(ABC):
    """A kind of link. Subclasses set ``name``, ``pattern`` and ``example``."""

    name: ClassVar[SourceType]
    pattern: ClassVar[re.Pattern[str] | None] = None
    example: ClassVar[str] = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def suitable(cls, url: str, settings: Settings) -> bool:
        """Offline and fast: does this source claim ``url``?"""
        return bool(cls.pattern and cls.pattern.search(url))

    def media_id(self, url: str) -> str | None:
        """A stable id for the media (for de-duplication), offline; None if unknown."""
        return None

    @abstractmethod
    async def describe(self, request: JobRequest) -> MediaPlan:
        """Find out what to fetch (METADATA stage). Raises JobError subclasses."""
