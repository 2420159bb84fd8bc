"""A local feed server whose RSS/Atom feed and XSPF playlist change while a test runs,
plus a receiver for Apprise's ``json://`` notifications (127.0.0.1, random ports).

- ``GET /rss.xml``, ``/atom.xml``: the current entries (newest first), with ETag and
  Last-Modified; a matching ``If-None-Match`` / ``If-Modified-Since`` gets 304.
- ``GET /playlist.xspf``: the same entries as an XSPF playlist (yt-dlp reads it).
- ``GET /page.html``: a page that is neither a feed nor a playlist.
- ``GET /huge.xml?entries=N&pad=BYTES``: an RSS feed of N generated entries (each padded
  with BYTES of description), streamed; ``huge_bytes_sent`` counts what went out,
  ``huge_completed`` how many such responses were written to the end.
- ``mode``: ``"ok"`` or ``"500"``, ``"429"`` (Retry-After: ``retry_after``),
  ``"garbage"`` (not XML) for every feed request.
Every request is counted in ``hits`` (path → count) and ``conditional`` (304s sent).
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import pytest

__all__ = ["Entry", "FeedServer", "NotifyReceiver", "feed_server", "notify_receiver"]


@dataclass
class Entry:
    guid: str
    title: str
    url: str
    published: datetime
    duration: float | None = None


class FeedServer:
    def __init__(self) -> None:
        self.entries: list[Entry] = []  # newest first
        self.mode = "ok"
        self.retry_after = 120
        self.hits: Counter[str] = Counter()
        self.conditional = 0
        self.huge_bytes_sent = 0
        self.huge_completed = 0
        self._lock = threading.Lock()
        self._changed = datetime(2026, 1, 1, tzinfo=UTC)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- changing the world -------------------------------------------------------
    def publish(self, title: str, url: str, *, at: datetime | None = None, **kw: Any) -> Entry:
        """A new entry on top (published a minute after the last change, or ``at``)."""
        with self._lock:
            self._changed += timedelta(minutes=1)
            entry = Entry(
                guid=kw.pop("guid", f"urn:test:{hashlib.sha1(url.encode()).hexdigest()[:12]}"),
                title=title,
                url=url,
                published=at or self._changed,
                **kw,
            )
            self.entries.insert(0, entry)
            return entry

    def remove(self, guid: str) -> Entry:
        with self._lock:
            for n, entry in enumerate(self.entries):
                if entry.guid == guid:
                    self._changed += timedelta(seconds=1)
                    return self.entries.pop(n)
        raise KeyError(guid)

    def readd(self, entry: Entry) -> None:
        with self._lock:
            self.entries.insert(0, entry)
            self._changed += timedelta(seconds=1)

    # -- serving -------------------------------------------------------------------
    def _etag(self) -> str:
        digest = hashlib.sha1(
            "|".join(e.guid for e in self.entries).encode() + self._changed.isoformat().encode()
        ).hexdigest()[:16]
        return f'"{digest}"'

    def _rss(self) -> str:
        items = []
        for e in self.entries:
            duration = f"<itunes:duration>{int(e.duration)}</itunes:duration>" if e.duration else ""
            items.append(
                f"<item><title>{escape(e.title)}</title><guid>{escape(e.guid)}</guid>"
                f"<link>{escape(e.url)}</link>"
                f'<enclosure url="{escape(e.url)}" type="audio/mpeg" length="1"/>'
                f"<pubDate>{email.utils.format_datetime(e.published)}</pubDate>{duration}</item>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
            f"<channel><title>Test podcast</title>{''.join(items)}</channel></rss>"
        )

    def _atom(self) -> str:
        entries = "".join(
            f"<entry><id>{escape(e.guid)}</id><title>{escape(e.title)}</title>"
            f'<link rel="alternate" href="{escape(e.url)}"/>'
            f"<published>{e.published.isoformat()}</published></entry>"
            for e in self.entries
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Test channel</title>{entries}</feed>"
        )

    def _xspf(self) -> str:
        tracks = "".join(
            f"<track><location>{escape(e.url)}</location><title>{escape(e.title)}</title>"
            f"<identifier>{escape(e.guid)}</identifier></track>"
            for e in self.entries
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<playlist version="1" xmlns="http://xspf.org/ns/0/"><title>Test playlist</title>'
            f"<trackList>{tracks}</trackList></playlist>"
        )

    def _handle(self, req: http.server.BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        with self._lock:
            self.hits[path] += 1
            if path == "/huge.xml":
                self._huge(req)
                return
            if path == "/page.html":
                self._send(req, 200, b"<html><body><p>Just a page.</p></body></html>", "text/html")
                return
            if path not in ("/rss.xml", "/atom.xml", "/playlist.xspf"):
                self._send(req, 404, b"not found", "text/plain")
                return
            if self.mode == "500":
                self._send(req, 500, b"server error", "text/plain")
                return
            if self.mode == "429":
                self._send(
                    req, 429, b"slow down", "text/plain", {"Retry-After": str(self.retry_after)}
                )
                return
            if self.mode == "garbage":
                self._send(req, 200, b"<rss><channel><item>unclosed", "application/rss+xml")
                return
            etag = self._etag()
            modified = email.utils.format_datetime(self._changed, usegmt=True)
            if req.headers.get("If-None-Match") == etag or (
                req.headers.get("If-None-Match") is None
                and req.headers.get("If-Modified-Since") == modified
            ):
                self.conditional += 1
                self._send(req, 304, b"", None, {"ETag": etag, "Last-Modified": modified})
                return
            body, ctype = {
                "/rss.xml": (self._rss, "application/rss+xml"),
                "/atom.xml": (self._atom, "application/atom+xml"),
                "/playlist.xspf": (self._xspf, "application/xspf+xml"),
            }[path]
            self._send(req, 200, body().encode(), ctype, {"ETag": etag, "Last-Modified": modified})

    def _huge(self, req: http.server.BaseHTTPRequestHandler) -> None:
        query = dict(p.split("=", 1) for p in req.path.partition("?")[2].split("&") if "=" in p)
        count, pad = int(query.get("entries", "100000")), int(query.get("pad", "0"))
        req.send_response(200)
        req.send_header("Content-Type", "application/rss+xml")
        req.end_headers()
        head = '<?xml version="1.0"?><rss version="2.0"><channel><title>Huge</title>'
        chunks = [head.encode()]
        filler = "x" * pad
        try:
            for n in range(count, 0, -1):
                chunks.append(
                    f"<item><title>Item {n}</title><guid>huge-{n}</guid>"
                    f"<link>http://127.0.0.1:9/huge/{n}.mp3</link>"
                    f"<description>{filler}</description></item>".encode()
                )
                if len(chunks) >= 64:
                    data = b"".join(chunks)
                    req.wfile.write(data)
                    self.huge_bytes_sent += len(data)
                    chunks = []
            data = b"".join(chunks) + b"</channel></rss>"
            req.wfile.write(data)
            self.huge_bytes_sent += len(data)
            self.huge_completed += 1
        except OSError:  # the client stopped reading: what a capped reader does
            pass

    @staticmethod
    def _send(
        req: http.server.BaseHTTPRequestHandler,
        code: int,
        body: bytes,
        ctype: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        req.send_response(code)
        if ctype:
            req.send_header("Content-Type", ctype)
        for key, value in (headers or {}).items():
            req.send_header(key, value)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if body and req.command != "HEAD":
            req.wfile.write(body)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class NotifyReceiver:
    """Records what Apprise's ``json://127.0.0.1:PORT/`` sends."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.messages.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def notify_receiver() -> Iterator[NotifyReceiver]:
    receiver = NotifyReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
