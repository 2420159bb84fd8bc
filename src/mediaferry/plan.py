"""Plain data shared by every layer: what a job asks for and what to fetch.

Dependency-free (standard library only), so sources, transfer backends, media,
delivery and the core can all speak :class:`MediaPlan` without importing each other.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "BOTAPI_FILE_LIMIT",
    "BOT_FILE_KEY",
    "FALLBACK_TITLE",
    "KEEP_ORIGINAL",
    "NEEDS_MTPROTO",
    "REPLY_ARCHIVED",
    "REPLY_KEY",
    "TELEGRAM_DOCUMENT",
    "YTDLP_INFO",
    "BotFile",
    "Cookie",
    "JobRequest",
    "MediaPlan",
    "PlaylistEntry",
    "SourceType",
    "bot_file_from_dict",
    "plan_from_dict",
    "plan_to_dict",
]

# MediaPlan.extra flags read by post-processing (mediaferry.media.original):
# the fetched files are final as they came (Telegram documents): no re-encoding
KEEP_ORIGINAL = "keep_original"
# a title when neither the plan nor the file's tags have one
FALLBACK_TITLE = "fallback_title"
# the yt-dlp info dict a source extracted: the download (and a re-plan for another
# quality) use it instead of extracting the link again
YTDLP_INFO = "ytdlp_info"
# job.meta key of a file sent or forwarded to the bot (issue 10): its BotFile as a dict
BOT_FILE_KEY = "bot_file"
# job.meta[REPLY_KEY] == REPLY_ARCHIVED: a file sent to the bot to be archived; the chat
# gets a confirmation, not the file back
REPLY_KEY = "telegram_reply"
REPLY_ARCHIVED = "archived"
# the Bot API's getFile serves files up to 20 MB; bigger ones need the bot's MTProto
BOTAPI_FILE_LIMIT = 20 * 1024 * 1024
NEEDS_MTPROTO = "files over 20 MB need MTProto: set MEDIAFERRY_TELEGRAM_API_ID/API_HASH"
# the media id of a Telegram document is "tgdoc:<document id>": the same file wherever
# it is posted or forwarded (issue 10)
TELEGRAM_DOCUMENT = "tgdoc:"


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
class BotFile:
    """A file a user sent or forwarded to the bot (issue 10), as the Bot API described
    it: enough to fetch it again (over MTProto by its message, else with ``getFile``)
    and to name and tag it."""

    chat_id: int
    message_id: int  # the message holding the file (in the bot's own message box)
    kind: str  # audio | voice | video | video_note | animation | document
    file_id: str
    file_unique_id: str  # the same for the same file in every chat (dedup key)
    size: int | None = None
    mime: str | None = None
    file_name: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    title: str | None = None  # an audio's own title/performer attributes
    performer: str | None = None
    caption: str = ""
    origin: str | None = None  # who it was forwarded from (a channel's title, a name)
    date: str | None = None  # ISO 8601, when it was sent (or first posted)

    @property
    def is_video(self) -> bool:
        """A video, a round video note, or a video sent as a file."""
        mime = (self.mime or "").lower()
        return self.kind in ("video", "video_note") or (
            self.kind == "document" and mime.startswith("video/")
        )

    @property
    def url(self) -> str:
        """The job's URL: names the message in the bot's chat. Not a link anyone can
        send (``check_url`` refuses the scheme), only the bot creates such jobs."""
        return f"tg://bot/{self.chat_id}/{self.message_id}"


def bot_file_from_dict(data: Any) -> BotFile | None:
    """The :class:`BotFile` a job's meta keeps (``asdict``), or None."""
    if not isinstance(data, dict):
        return None
    known = {f.name for f in fields(BotFile)}
    try:
        return BotFile(**{k: v for k, v in data.items() if k in known})
    except TypeError:
        return None


@dataclass(slots=True)
class JobRequest:
    """What a source needs to know about the job it describes."""

    job_id: int
    url: str
    job_type: str  # "video" | "audio"
    quality: str  # "best", "720p", "audio", "audio_128", ...
    cookie_file: Path | None = None
    auth_profile_id: str | None = None
    # the auth profile's cookies, read once per attempt (see mediaferry.net.cookies)
    cookies: tuple[Cookie, ...] = ()
    # added by the download engine
    playlist_items: str | None = None  # "1-10", "5,7,9": which playlist entries to expand
    max_bytes: int | None = None  # pick formats that fit this (oversize policy "smaller")
    bot_file: BotFile | None = None  # a file sent to the bot (TELEGRAM, issue 10)


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


@dataclass(frozen=True, slots=True)
class Cookie:
    """One line of a Netscape cookie file."""

    domain: str
    include_subdomains: bool
    path: str
    secure: bool
    expires: int  # 0: a session cookie
    name: str
    value: str

    def matches(self, host: str, path: str, https: bool, now: float) -> bool:
        domain = self.domain.lower().lstrip(".")
        subdomains = self.include_subdomains or self.domain.startswith(".")
        host_ok = host == domain or (subdomains and host.endswith("." + domain))
        path_ok = path.startswith(self.path or "/")
        return host_ok and path_ok and (https or not self.secure) and not self.expired(now)

    def expired(self, now: float) -> bool:
        return self.expires != 0 and self.expires < now


def plan_to_dict(plan: MediaPlan) -> dict[str, Any]:
    """A JSON-able copy of ``plan`` (kept on a job so METADATA need not ask again)."""
    data = asdict(plan)
    data["cookie_file"] = str(plan.cookie_file) if plan.cookie_file else None
    loaded: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return loaded


def plan_from_dict(data: dict[str, Any]) -> MediaPlan:
    """The plan :func:`plan_to_dict` saved; unknown keys are ignored."""
    known = {f.name for f in fields(MediaPlan)}
    values = {k: v for k, v in data.items() if k in known}
    if values.get("cookie_file"):
        values["cookie_file"] = Path(values["cookie_file"])
    if values.get("entries") is not None:
        values["entries"] = [PlaylistEntry(**e) for e in values["entries"]]
    values["headers"] = dict(values.get("headers") or {})
    values["extra"] = dict(values.get("extra") or {})
    return MediaPlan(**values)
