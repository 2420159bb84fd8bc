"""A local HTTP media server for tests and benchmarks (127.0.0.1, random port, own thread).

Endpoints (``<relpath>`` is relative to the server's root, e.g. ``hls/index.m3u8``):

- ``GET/HEAD /media/<relpath>``          static file, Range (206/416), Last-Modified, ETag
- ``/slow/<relpath>?rate=BYTES_PER_S``   throttled (Range supported)
- ``/stall/<relpath>?after=N``           headers + N bytes, then hangs until the client
                                         leaves or the server stops
- ``/lying/<relpath>?extra=N``           Content-Length N bytes too large, then closes
- ``/status/<code>[?retry_after=S]``     that status with a small text body
- ``/ratelimit/<key>/<relpath>?times=K&retry_after=S``  429 for the first K requests of
                                         ``key``, then the file
- ``/flaky/<key>/<relpath>?times=K&code=500``  ``code`` K times per key, then the file
- ``/redirect?to=<url-or-path>[&code=302]``
- ``/nosize/<relpath>``                  chunked, no Content-Length
- ``/ctype/<any-name>?file=<relpath>&type=<mime>[&filename=x.mp4]``  the file under an
                                         extension-less URL with a chosen Content-Type
                                         (and optional Content-Disposition)
- ``/pages/<name>.html``                 pages of ``_pages.PAGES`` (+ ``add_page``)
- ``/torrent/<relpath>.torrent[?seed=URL]``  single-file .torrent web-seeded (BEP 19) by
                                         ``/media/<relpath>`` on this server

Every request is recorded (``requests()``); counters of ``ratelimit``/``flaky`` are per
key, so tests that use their own key never see each other's state.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.server
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest

from tests.support._pages import PAGES
from tests.support.torrent import make_torrent

__all__ = [
    "CONTENT_TYPES",
    "MediaServer",
    "RecordedRequest",
    "content_type_for",
    "media_server",
    "sha256_of",
]

log = logging.getLogger(__name__)

CONTENT_TYPES: dict[str, str] = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".ts": "video/mp2t",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".torrent": "application/x-bittorrent",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
_DEFAULT_TYPE = "application/octet-stream"
_CHUNK = 256 * 1024


def content_type_for(path: str | Path) -> str:
    """The Content-Type the server uses for a file name."""
    return CONTENT_TYPES.get(Path(path).suffix.lower(), _DEFAULT_TYPE)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    time: float = field(compare=False)

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


class _Unsatisfiable(Exception):
    pass


class _NotFound(Exception):
    pass


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single ``bytes=`` range, None to send the whole file."""
    if not header or not header.strip().lower().startswith("bytes="):
        return None
    spec = header.split("=", 1)[1].split(",")[0].strip()
    first, _, last = spec.partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                raise _Unsatisfiable
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        raise _Unsatisfiable
    return start, min(end, size - 1)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    app: MediaServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response is normal in these tests.
        log.debug("media server: error serving %s", client_address, exc_info=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MediaferryTestServer/1.0"
    timeout = 120
    server: _Server

    # --- plumbing ---------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.app._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.app._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("media server: " + format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._dispatch()

    def _dispatch(self) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        app._record(
            RecordedRequest(
                method=self.command,
                path=path,
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                time=time.time(),
            )
        )
        try:
            self._route(path, query)
        except _NotFound:
            self._simple(HTTPStatus.NOT_FOUND, f"not found: {path}\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            self.close_connection = True

    # --- routing ----------------------------------------------------------------

    def _route(self, path: str, q: dict[str, str]) -> None:
        app = self.server.app
        head, _, rest = path.lstrip("/").partition("/")
        if head == "media":
            self._file(rest)
        elif head == "slow":
            self._file(rest, rate=int(q.get("rate", "65536")))
        elif head == "stall":
            self._file(rest, stall_after=int(q.get("after", "0")))
        elif head == "lying":
            self._file(rest, extra=int(q.get("extra", "1000")))
        elif head == "nosize":
            self._file(rest, chunked=True)
        elif head == "ctype":
            self._file(
                q.get("file", rest),
                ctype=q.get("type", _DEFAULT_TYPE),
                filename=q.get("filename"),
            )
        elif head == "status":
            code = int(rest.strip("/") or "200")
            headers = {}
            if "retry_after" in q:
                headers["Retry-After"] = q["retry_after"]
            if code == 401:
                headers["WWW-Authenticate"] = 'Basic realm="test"'
            self._simple(code, f"status {code}\n", headers)
        elif head in ("ratelimit", "flaky"):
            key, _, relpath = rest.partition("/")
            n = app._count(f"{head}/{key}")
            if n <= int(q.get("times", "1")):
                if head == "ratelimit":
                    retry = q.get("retry_after", "1")
                    self._simple(429, "too many requests\n", {"Retry-After": retry})
                else:
                    self._simple(int(q.get("code", "500")), f"flaky failure {n}\n")
                return
            self._file(relpath)
        elif head == "redirect":
            target = q.get("to", "/media/h264_aac.mp4")
            code = int(q.get("code", "302"))
            self._simple(code, f"redirecting to {target}\n", {"Location": target})
        elif head == "pages":
            page = app._pages.get(rest)
            if page is None:
                raise _NotFound
            body = page.replace("{base}", app.base_url).encode()
            self._bytes(body, "text/html; charset=utf-8")
        elif head == "torrent":
            if not rest.endswith(".torrent"):
                raise _NotFound
            relpath = rest.removesuffix(".torrent")
            seed = q.get("seed") or app.url(f"/media/{quote(relpath)}")
            body = app._torrent(relpath, seed)
            name = Path(relpath).name + ".torrent"
            self._bytes(
                body,
                "application/x-bittorrent",
                {"Content-Disposition": f'attachment; filename="{name}"'},
            )
        else:
            raise _NotFound

    # --- responses --------------------------------------------------------------

    def _simple(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
        body = b"" if code in (204, 304) or code < 200 else text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if code not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _bytes(self, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _file(
        self,
        relpath: str,
        *,
        rate: int | None = None,
        stall_after: int | None = None,
        extra: int = 0,
        chunked: bool = False,
        ctype: str | None = None,
        filename: str | None = None,
    ) -> None:
        file = self.server.app._resolve(relpath)
        st = file.stat()
        size = st.st_size
        try:
            rng = None if chunked else _parse_range(self.headers.get("Range"), size)
        except _Unsatisfiable:
            self._simple(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                "range not satisfiable\n",
                {"Content-Range": f"bytes */{size}"},
            )
            return
        start, end = rng if rng else (0, size - 1)
        length = end - start + 1 if size else 0

        self.send_response(HTTPStatus.PARTIAL_CONTENT if rng else HTTPStatus.OK)
        self.send_header("Content-Type", ctype or content_type_for(file))
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        self.send_header("ETag", f'"{st.st_ino:x}-{st.st_size:x}-{int(st.st_mtime):x}"')
        if filename:
            self.send_header("Content-Disposition", f'attachment; filename="{filename}"')
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(length + extra))
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if extra:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return

        with file.open("rb") as f:
            if chunked:
                self._send_chunked(f)
            elif stall_after is not None:
                self._send_paced(f, start, min(stall_after, length), None)
                self._hang()
            elif rate is not None:
                self._send_paced(f, start, length, max(1, rate))
            elif length:
                self.connection.sendfile(f, offset=start, count=length)
        if extra:
            # The rest never comes: close so the client sees a short body.
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _send_paced(self, f: BinaryIO, start: int, count: int, rate: int | None) -> None:
        stop = self.server.app._stopping
        chunk = _CHUNK if rate is None else max(1, min(_CHUNK, rate // 20))
        f.seek(start)
        sent = 0
        began = time.monotonic()
        while sent < count and not stop.is_set():
            data = f.read(min(chunk, count - sent))
            if not data:
                break
            self.wfile.write(data)
            sent += len(data)
            if rate is not None:
                delay = began + sent / rate - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
        if sent < count:
            self.close_connection = True

    def _send_chunked(self, f: BinaryIO) -> None:
        while data := f.read(_CHUNK):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def _hang(self) -> None:
        """Wait until the client disconnects or the server stops."""
        self.close_connection = True
        stop = self.server.app._stopping
        sock = self.connection
        while not stop.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    if not sock.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                        return
                except BlockingIOError:
                    continue
                except OSError:
                    return
                # The client sent more (e.g. a pipelined request): drain it, keep hanging.
                with contextlib.suppress(OSError):
                    sock.recv(65536, socket.MSG_DONTWAIT)


class MediaServer:
    """Background-thread HTTP server over ``root`` on 127.0.0.1 and a random port."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root).resolve()
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._counters: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._torrents: dict[tuple[str, str, float], bytes] = {}
        self._pages: dict[str, str] = dict(PAGES)

    # --- lifecycle --------------------------------------------------------------

    def start(self) -> MediaServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler)
        server.app = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"media-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MediaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("media server is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (``"/media/x.mp4"`` or ``"media/x.mp4"``)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def media_url(self, relpath: str) -> str:
        return self.url(f"/media/{quote(relpath)}")

    # --- inspection & customisation ---------------------------------------------

    def requests(
        self, path_prefix: str | None = None, method: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests, optionally only those whose path starts with ``path_prefix``."""
        with self._lock:
            items = list(self._requests)
        return [
            r
            for r in items
            if (path_prefix is None or r.path.startswith(path_prefix))
            and (method is None or r.method == method)
        ]

    def hits(self, path_prefix: str) -> int:
        """How many requests had a path starting with ``path_prefix``."""
        return len(self.requests(path_prefix))

    def add_page(self, name: str, html: str) -> str:
        """Serve ``html`` at ``/pages/<name>`` (``{base}`` is substituted); returns its URL."""
        with self._lock:
            self._pages[name] = html
        return self.url(f"/pages/{name}")

    def torrent_bytes(self, relpath: str, seed: str | None = None) -> bytes:
        """The .torrent served at ``/torrent/<relpath>.torrent``."""
        return self._torrent(relpath, seed or self.media_url(relpath))

    # --- internals used by the handler --------------------------------------------

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _count(self, key: str) -> int:
        with self._lock:
            self._counters[key] = n = self._counters.get(key, 0) + 1
            return n

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _resolve(self, relpath: str) -> Path:
        candidate = (self.root / relpath.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            raise _NotFound
        return candidate

    def _torrent(self, relpath: str, seed: str) -> bytes:
        file = self._resolve(relpath)
        key = (relpath, seed, file.stat().st_mtime)
        with self._lock:
            cached = self._torrents.get(key)
        if cached is None:
            cached = make_torrent(file, seed)
            with self._lock:
                self._torrents[key] = cached
        return cached


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file (handy for comparing downloads)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="session")
def media_server(media_dir: Path) -> Iterator[MediaServer]:
    """A running ``MediaServer`` over ``media_dir`` for the whole session.

    Shared: use unique keys for ``/ratelimit`` and ``/flaky`` and filter ``requests()``
    by paths your test alone uses.
    """
    with MediaServer(media_dir) as server:
        yield server
