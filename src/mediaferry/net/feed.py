"""RSS and Atom feeds (podcasts, YouTube channel feeds, blogs): one conditional GET and a
streaming parse that stops after the newest entries.

The body is read through the SSRF-safe client and parsed as it arrives, so a 50 MB
feed costs only the bytes up to ``max_entries`` entries. Documents with a DTD are
refused (no entity expansion, no external entities): feeds never need one.
"""

from __future__ import annotations

import email.utils
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from mediaferry.config import Settings
from mediaferry.errors import JobError, ParserError
from mediaferry.net.http import HTTPX_ERRORS, error_from_response, make_client, map_httpx_error

__all__ = ["FeedEntry", "FeedListing", "fetch_feed", "looks_like_feed", "parse_feed"]

_FEED_ROOTS = {"rss", "feed", "RDF"}
_DTD_RE = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_MEDIA_PREFIXES = ("audio/", "video/")


@dataclass(slots=True)
class FeedEntry:
    """One item of a feed: ``id`` is stable across fetches (guid / Atom id / link)."""

    id: str
    url: str
    title: str | None = None
    published: datetime | None = None
    duration: float | None = None
    media_type: str | None = None
    # what the job of this entry needs besides its URL (a Telegram document's id, say)
    job_args: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class FeedListing:
    title: str | None = None
    entries: list[FeedEntry] = field(default_factory=list)  # newest first
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    truncated: bool = False  # more entries than ``max_entries``: the rest were not read
    cursor: int | None = None  # a chat's highest message id listed (the next check's floor)


def looks_like_feed(head: bytes, content_type: str | None = None) -> bool:
    """Whether the first bytes of a document (or its Content-Type) say RSS/Atom."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in ("application/rss+xml", "application/atom+xml", "application/rdf+xml"):
        return True
    text = head[:2048].lstrip().lower()
    return (
        text.startswith(b"<rss")
        or text.startswith(b"<feed")
        or (
            text.startswith(b"<?xml")
            and (b"<rss" in text or b"<feed" in text or b"<rdf:rdf" in text)
        )
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if "}" in tag else tag.split(":")[-1]


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    for child in elem:
        if _local(child.tag) == name:
            return child
    return None


def _text(elem: ET.Element, name: str) -> str | None:
    child = _child(elem, name)
    if child is None or child.text is None:
        return None
    value = child.text.strip()
    return value or None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)  # RSS: RFC 822
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))  # Atom: RFC 3339
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duration(value: str | None) -> float | None:
    """``itunes:duration``: seconds, ``MM:SS`` or ``HH:MM:SS``."""
    if not value:
        return None
    try:
        parts = [float(p) for p in value.strip().split(":")]
    except ValueError:
        return None
    if not parts or len(parts) > 3 or any(p < 0 for p in parts):
        return None
    total = 0.0
    for part in parts:
        total = total * 60 + part
    return total


def _rss_item(item: ET.Element, base: str) -> FeedEntry | None:
    link = _text(item, "link")
    enclosure = _child(item, "enclosure")
    media_url = media_type = None
    if enclosure is not None and enclosure.get("url"):
        media_url = enclosure.get("url")
        media_type = enclosure.get("type")
    url = media_url or link
    if not url:
        return None
    url = urljoin(base, url.strip())
    guid = _text(item, "guid") or link or url
    return FeedEntry(
        id=guid[:500],
        url=url,
        title=_text(item, "title"),
        published=_date(_text(item, "pubDate") or _text(item, "date")),
        duration=_duration(_text(item, "duration")),
        media_type=media_type,
    )


def _atom_entry(entry: ET.Element, base: str) -> FeedEntry | None:
    alternate = enclosure = media_type = None
    for child in entry:
        if _local(child.tag) != "link" or not child.get("href"):
            continue
        rel = child.get("rel", "alternate")
        ctype = child.get("type") or ""
        if rel == "enclosure" or ctype.startswith(_MEDIA_PREFIXES):
            enclosure, media_type = child.get("href"), ctype or None
        elif rel == "alternate" and alternate is None:
            alternate = child.get("href")
    url = enclosure or alternate
    if not url:
        return None
    url = urljoin(base, url.strip())
    duration = None
    group = _child(entry, "group")
    content = _child(group, "content") if group is not None else _child(entry, "content")
    if content is not None and content.get("duration"):
        duration = _duration(content.get("duration"))
    return FeedEntry(
        id=(_text(entry, "id") or url)[:500],
        url=url,
        title=_text(entry, "title"),
        published=_date(_text(entry, "published") or _text(entry, "updated")),
        duration=duration,
        media_type=media_type,
    )


class _Parser:
    """Incremental RSS/Atom parser: feed it bytes, read entries as they complete."""

    def __init__(self, base_url: str, max_entries: int) -> None:
        self.base = base_url
        self.max_entries = max_entries
        self.pull: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
        self.root: str | None = None
        self.title: str | None = None
        self.entries: list[FeedEntry] = []
        self.full = False
        self._checked = bytearray()
        self._depth = 0

    def feed(self, data: bytes) -> None:
        if len(self._checked) < 4096:
            self._checked += data[:4096]
            if _DTD_RE.search(self._checked):
                raise ParserError("the feed declares a DTD; feeds with entities are refused")
        try:
            self.pull.feed(data)
            self._drain()
        except ET.ParseError as exc:
            raise ParserError(f"the feed is not valid XML ({exc})") from exc

    def close(self) -> None:
        if self.full:
            return
        try:
            self.pull.close()
            self._drain()
        except ET.ParseError as exc:
            raise ParserError(f"the feed is not valid XML ({exc})") from exc

    def _drain(self) -> None:
        for item in self.pull.read_events():
            event, elem = item  # type: ignore[misc]
            assert isinstance(elem, ET.Element)
            name = _local(elem.tag)
            if event == "start":
                self._depth += 1
                if self.root is None:
                    self.root = name
                    if name not in _FEED_ROOTS:
                        raise ParserError(f"not an RSS or Atom feed (<{name}>)")
                continue
            self._depth -= 1
            if name == "title" and self.title is None and self._depth in (1, 2):
                self.title = (elem.text or "").strip() or None
            if name in ("item", "entry"):
                made = (
                    _rss_item(elem, self.base) if name == "item" else _atom_entry(elem, self.base)
                )
                if made is not None:
                    self.entries.append(made)
                elem.clear()
                if len(self.entries) >= self.max_entries:
                    self.full = True
                    return


def _newest_first(entries: list[FeedEntry]) -> list[FeedEntry]:
    """Entries by publication date, newest first; undated ones keep document order
    (feeds list newest first) after the dated ones of the same position."""
    if not any(e.published for e in entries):
        return entries
    floor = datetime.min.replace(tzinfo=UTC)
    order = {id(e): n for n, e in enumerate(entries)}
    return sorted(entries, key=lambda e: (-(e.published or floor).timestamp(), order[id(e)]))


def parse_feed(data: bytes, base_url: str, max_entries: int = 1000) -> FeedListing:
    """Parse a whole feed document (tests and small feeds)."""
    parser = _Parser(base_url, max_entries)
    parser.feed(data)
    parser.close()
    if parser.root is None:
        raise ParserError("the feed is empty")
    return FeedListing(
        title=parser.title, entries=_newest_first(parser.entries), truncated=parser.full
    )


async def fetch_feed(
    url: str,
    settings: Settings,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = 20 << 20,
    max_entries: int = 1000,
) -> FeedListing:
    """GET ``url`` with ``If-None-Match`` / ``If-Modified-Since``; a 304 is
    ``not_modified``. HTTP and network failures raise the usual Mediaferry errors."""
    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with (
            make_client(settings) as client,
            client.stream("GET", url, headers=headers) as resp,
        ):
            if resp.status_code == 304:
                return FeedListing(etag=etag, last_modified=last_modified, not_modified=True)
            if resp.status_code >= 400:
                raise error_from_response(resp)
            parser = _Parser(str(resp.url), max_entries)
            read = 0
            async for chunk in resp.aiter_bytes():
                read += len(chunk)
                if read > max_bytes and not parser.full:
                    raise ParserError(f"the feed is larger than {max_bytes >> 20} MB")
                parser.feed(chunk)
                if parser.full:
                    break
            parser.close()
            if parser.root is None:
                raise ParserError("the feed is empty")
            return FeedListing(
                title=parser.title,
                entries=_newest_first(parser.entries),
                etag=resp.headers.get("ETag"),
                last_modified=resp.headers.get("Last-Modified"),
                truncated=parser.full,
            )
    except JobError:
        raise
    except HTTPX_ERRORS as exc:
        raise map_httpx_error(exc) from exc
