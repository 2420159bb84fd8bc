"""Find media in an HTML page with the standard library's forgiving HTML parser.

Collects ``<audio>``/``<video>`` ``src``, their ``<source>`` children, links
(``<a href>``) to media files, ``og:audio``/``og:video`` meta tags, plus the title
and a speaker/author if the page names one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

__all__ = [
    "AUDIO_EXTS",
    "MEDIA_EXTS",
    "VIDEO_EXTS",
    "MediaLink",
    "PageMedia",
    "media_kind",
    "parse_media_page",
]

VIDEO_EXTS = frozenset(
    {"mp4", "m4v", "mkv", "webm", "mov", "avi", "flv", "3gp", "ts", "wmv", "mpg", "mpeg"}
)
AUDIO_EXTS = frozenset({"mp3", "m4a", "aac", "ogg", "oga", "opus", "flac", "wav", "wma", "amr"})
STREAM_EXTS = frozenset({"m3u8", "mpd"})
MEDIA_EXTS = VIDEO_EXTS | AUDIO_EXTS | STREAM_EXTS
_SPEAKER_CLASS = re.compile(r"speaker|sheikh|shaykh|author|lecturer|scholar|reciter|qari", re.I)
# " | Site" or " - Site" at the end (a hyphen only with spaces: "Members-only" stays)
_TITLE_SUFFIX = re.compile(r"(?:\s*\|\s*|\s+[-–—]\s+)(?:(?!\s[-–—]\s|\|).)+$")


def _ext(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).suffix.lower().lstrip(".")


def media_kind(url: str, mime: str | None = None) -> str | None:
    """``"video"``, ``"audio"``, ``"stream"`` (HLS/DASH) or None, by MIME type or extension."""
    mime = (mime or "").split(";")[0].strip().lower()
    if mime in (
        "application/vnd.apple.mpegurl",
        "application/x-mpegurl",
        "audio/mpegurl",
        "application/dash+xml",
    ):
        return "stream"
    if mime.startswith(("video/", "audio/")):
        return mime.split("/")[0]
    ext = _ext(url)
    if ext in STREAM_EXTS:
        return "stream"
    if ext in VIDEO_EXTS:
        return "video"
    if ext in AUDIO_EXTS:
        return "audio"
    return None


@dataclass(slots=True)
class MediaLink:
    url: str
    kind: str  # "video" | "audio" | "stream"
    origin: str  # "element" (audio/video/source), "meta", "link"
    label: str = ""


@dataclass(slots=True)
class PageMedia:
    title: str | None = None
    speaker: str | None = None
    links: list[MediaLink] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.out = PageMedia()
        self._media_stack: list[str] = []
        self._in_title = False
        self._title: list[str] = []
        self._og_title: str | None = None
        self._speaker_depth = 0
        self._speaker: list[str] = []
        self._anchor: MediaLink | None = None

    def _add(self, raw: str | None, origin: str, mime: str | None = None) -> MediaLink | None:
        if not raw or raw.startswith(("blob:", "data:", "javascript:", "#")):
            return None
        url = urljoin(self.base, raw.strip())
        kind = media_kind(url, mime) or (
            self._media_stack[-1] if origin == "element" and self._media_stack else None
        )
        if kind is None or any(link.url == url for link in self.out.links):
            return None
        link = MediaLink(url=url, kind=kind, origin=origin)
        self.out.links.append(link)
        return link

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if self._speaker_depth:
            self._speaker_depth += 1
        elif _SPEAKER_CLASS.search(a.get("class", "")) or a.get("itemprop") == "author":
            self._speaker_depth = 1
        if tag in ("audio", "video"):
            self._media_stack.append(tag)
            self._add(a.get("src"), "element")
        elif tag == "source" and self._media_stack:
            self._add(a.get("src"), "element", a.get("type"))
        elif tag == "a":
            self._anchor = self._add(a.get("href"), "link")
        elif tag == "meta":
            self._meta(a)
        elif tag == "title":
            self._in_title = True

    def _meta(self, a: dict[str, str]) -> None:
        key = (a.get("property") or a.get("name") or "").lower()
        content = a.get("content", "").strip()
        if key in ("og:audio", "og:video", "og:video:url", "og:audio:url", "og:video:secure_url"):
            self._add(content, "meta")
        elif key == "og:title" and content:
            self._og_title = content
        elif key == "author" and content and not self.out.speaker:
            self.out.speaker = content

    def handle_endtag(self, tag: str) -> None:
        if self._speaker_depth:
            self._speaker_depth -= 1
            if not self._speaker_depth and not self.out.speaker:
                self.out.speaker = _clean_speaker("".join(self._speaker))
        if tag in ("audio", "video") and self._media_stack:
            self._media_stack.pop()
        elif tag == "a":
            self._anchor = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        if self._speaker_depth:
            self._speaker.append(data)
        if self._anchor is not None:
            self._anchor.label += data.strip()

    def result(self) -> PageMedia:
        title = " ".join("".join(self._title).split()) or None
        if title and not self._og_title:
            title = _TITLE_SUFFIX.sub("", title) or title
        self.out.title = self._og_title or title
        return self.out


def _clean_speaker(text: str) -> str | None:
    text = " ".join(text.split())
    # "الشيخ: محمد" / "Speaker: X" → the name after the label
    if ":" in text:
        text = text.split(":", 1)[1].strip()
    return text[:200] or None


def parse_media_page(html: str, base_url: str) -> PageMedia:
    """Media links, title and speaker of a page (relative URLs resolved against ``base_url``)."""
    parser = _Parser(base_url)
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # pathological markup: keep what was found
        pass
    return parser.result()
