"""A fake Telegram Bot API server speaking real HTTP to the real python-telegram-bot.

It runs in its own thread on 127.0.0.1 with a random port, so a bot running in the test's
event loop talks to it over sockets exactly as it would to Telegram::

    bot = telegram.Bot(**fake.bot_kwargs())          # token, base_url, base_file_url
    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url)
              .base_file_url(fake.base_file_url).build()

Driving (thread-safe): ``user_sends_text``, ``user_sends_document``,
``user_sends_media`` (audio, video, voice, document, video note, animation, sticker or
photo, optionally forwarded, with a chosen message id), ``user_presses_button``.
Inspecting: ``calls(method)``, ``messages_to(chat_id)``, ``uploads()``, ``wait_for(...)``
/ ``await async_wait_for(...)`` (a condition with a deadline). Faults:
``fail_next(method, times, kind)``, ``set_down(True)``.

Behaviour copied from the real Bot API where tests care: getUpdates long-polls and
honours ``offset`` (and answers 409 to a superseded poll); editing a message with unchanged
content is ``400 message is not modified``; ``parse_mode`` text that would not parse is
``400 can't parse entities``; text over 4096 / captions over 1024 UTF-16 units are
refused; uploads over ``upload_limit`` (50 MB by default) are ``413``; a ``file_id`` is
accepted only for a file of the same kind. ``getFile`` of a file over ``download_limit``
(20 MB) is ``400 Bad Request: file is too big``, and a file's download URL
(``/file/bot<token>/<file_path>``) answers only after ``getFile`` gave that path out.
Media dimensions/durations are taken from the request parameters (0 when not given).

Like the public server, media given as a ``file://`` URI or a local path is refused
("wrong file identifier/HTTP URL specified") unless the fake runs in ``local_mode``
(a local Bot API server started with ``--local``), which reads such files from disk.

Telegram's flood limits are enforced (``rate_limits``, on by default): more than about
one message a second to a private chat, 20 a minute to a group/channel (negative chat
id) or 30 in any one second in all (a sliding window, no burst on top) is answered
``429 Too Many Requests: retry after N`` and recorded (``flood_refusals``); sends and
edits count, a media group as its items.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http.server
import itertools
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from tests.support._tg_markup import MarkupError, utf16_len, visible_text

__all__ = [
    "Call",
    "ChatMessage",
    "FakeTelegram",
    "RateLimits",
    "TelegramFile",
    "Upload",
    "fake_telegram",
]

log = logging.getLogger(__name__)

JSON = dict[str, Any]

_TEXT_PARAMS = {
    "text", "caption", "title", "performer", "file_name", "callback_query_id", "description",
    "short_description", "url", "parse_mode", "action", "inline_message_id", "emoji",
    "business_connection_id", "message_effect_id", "language_code", "secret_token",
    "ip_address", "name", "query", "callback_data", "video", "audio", "document", "photo",
    "thumbnail", "animation", "voice", "sticker", "file_id", "drop_pending_updates",
}  # fmt: skip
_MEDIA_KINDS = {
    "sendVideo": "video",
    "sendAudio": "audio",
    "sendDocument": "document",
    "sendPhoto": "photo",
    "sendAnimation": "animation",
    "sendVoice": "voice",
}
_USER_MEDIA = frozenset(
    {"audio", "video", "voice", "document", "video_note", "animation", "sticker", "photo"}
)
_ORIGIN_KEYS = {
    "user": {"sender_user"},
    "hidden_user": {"sender_user_name"},
    "chat": {"sender_chat"},
    "channel": {"chat", "message_id"},
}
_URL_RE = re.compile(r"(?:https?|ftp)://[^\s<>\"']+|magnet:\?[^\s<>\"']+", re.IGNORECASE)
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")
MAX_TEXT = 4096
MAX_CAPTION = 1024


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass(frozen=True)
class Upload:
    """A file part received in a multipart request."""

    field: str
    filename: str
    content: bytes
    mime: str

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.write_bytes(self.content)
        return path


@dataclass
class TelegramFile:
    """A file known to the fake server (uploaded by the bot or "sent" by a user).

    Its bytes are ``content`` or, for big files a test makes cheaply (sparse), the file
    at ``path``."""

    file_id: str
    file_unique_id: str
    kind: str
    content: bytes | None
    filename: str | None
    mime: str | None
    file_path: str
    url: str | None = None
    path: Path | None = None

    @property
    def size(self) -> int:
        if self.content is not None:
            return len(self.content)
        return self.path.stat().st_size if self.path is not None else 0

    def read(self) -> bytes | None:
        if self.content is not None:
            return self.content
        return self.path.read_bytes() if self.path is not None else None


@dataclass(frozen=True)
class Call:
    """One Bot API request: method, decoded parameters, uploaded files, time, outcome."""

    method: str
    params: dict[str, Any]
    files: dict[str, Upload]
    time: float
    status: int
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class ChatMessage:
    """A message as the chat currently shows it (edits applied)."""

    chat_id: int
    message_id: int
    from_bot: bool
    kind: str  # text, video, audio, document, photo, ...
    text: str | None  # text or caption, as the user sees it
    raw: JSON
    reply_markup: JSON | None = None
    file: TelegramFile | None = None
    edits: int = 0
    deleted: bool = False
    history: list[str | None] = field(default_factory=list)

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """(label, callback_data) of every inline button."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b.get("text", ""), b.get("callback_data")) for row in rows for b in row]


@dataclass(frozen=True)
class RateLimits:
    """Telegram's flood limits as token buckets (a burst, then the steady rate)."""

    private_per_s: float = 1.0
    private_burst: int = 4
    group_per_min: float = 20.0
    group_burst: int = 4
    global_per_s: float = 30.0  # in any one second, all chats together

    def scaled(self, factor: float) -> RateLimits:
        """The same limits ``factor`` times faster (tests that cannot wait minutes)."""
        return RateLimits(
            self.private_per_s * factor,
            self.private_burst,
            self.group_per_min * factor,
            self.group_burst,
            self.global_per_s * factor,
        )


def _counts_for_flood(method: str) -> bool:
    m = method.lower()
    if m == "sendchataction":
        return False
    return m.startswith(("send", "edit", "copymessage", "forwardmessage"))


@dataclass
class _Fault:
    method: str
    times: int
    kind: str
    retry_after: int


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    app: FakeTelegram

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("fake telegram: error serving %s", client_address, exc_info=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTelegramBotAPI/1.0"
    timeout = 120
    server: _Server

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
        log.debug("fake telegram: " + format, *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        app = self.server.app
        try:
            body = self._read_body()
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            if app._down:
                m = re.fullmatch(r"/bot[^/]+/([A-Za-z]+)/?", path)
                if m:
                    with contextlib.suppress(ApiError, ValueError):
                        p, f = _decode_request(self.headers.get("Content-Type", ""), body, "")
                        app._record(Call(m.group(1), p, f, time.time(), 502, None))
                self._reply(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                return
            if path.startswith("/file/bot"):
                self._serve_file(path)
                return
            m = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)/?", path)
            if not m:
                self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return
            token, method = m.groups()
            if token != app.token:
                self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                return
            params, files = _decode_request(self.headers.get("Content-Type", ""), body, parts.query)
            fault = app._take_fault(method)
            if fault is not None and fault.kind not in _AFTER_FAULTS:
                self._fault(fault, method, params, files)
                return
            flood = app._flood_check(method, params)
            if flood is not None:
                self._json(429, flood)
                return
            status, payload = app._call(method, params, files)
            if fault is not None:
                self._cut(fault.kind, json.dumps(payload).encode())
                return
            self._json(status, payload)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _cut(self, kind: str, body: bytes) -> None:
        """The call took effect; its answer is lost (see ``fail_next``)."""
        self.close_connection = True
        if kind == "hang":
            _hang(self.connection, self.server.app._stopping)
            return
        if kind == "half":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _fault(self, fault: _Fault, method: str, params: JSON, files: dict[str, Upload]) -> None:
        app = self.server.app
        if fault.kind == "close":
            app._record(Call(method, params, files, time.time(), 0, "closed"))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault.kind == "timeout":
            app._record(Call(method, params, files, time.time(), 0, "timeout"))
            self.close_connection = True
            _hang(self.connection, app._stopping)
            return
        if fault.kind == "429":
            status = 429
            payload: JSON = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {fault.retry_after}",
                "parameters": {"retry_after": fault.retry_after},
            }
        elif fault.kind == "502":
            app._record(Call(method, params, files, time.time(), 502, None))
            self._reply(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        else:
            status = int(fault.kind)
            payload = {
                "ok": False,
                "error_code": status,
                "description": "Internal Server Error" if status >= 500 else "Bad Request",
            }
        app._record(Call(method, params, files, time.time(), status, payload))
        self._json(status, payload)

    def _serve_file(self, path: str) -> None:
        app = self.server.app
        prefix = f"/file/bot{app.token}/"
        record = app._file_by_path(path[len(prefix) :]) if path.startswith(prefix) else None
        content = record.read() if record is not None and app._path_issued(record) else None
        if content is None:
            self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        app._record(Call("file", {"file_path": path[len(prefix) :]}, {}, time.time(), 200))
        self._reply(200, content, (record.mime if record else None) or "application/octet-stream")

    def _json(self, status: int, payload: Any) -> None:
        self._reply(status, json.dumps(payload).encode(), "application/json")

    def _reply(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


_AFTER_FAULTS = {"drop", "half", "hang"}  # the call takes effect, then the answer is lost


def _hang(sock: socket.socket, stop: threading.Event) -> None:
    """Wait until the client gives up (closes) or the server stops."""
    import select

    while not stop.is_set():
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable:
            try:
                if not sock.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                    return
                sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                return


def _decode_value(name: str, value: str) -> Any:
    if name in _TEXT_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _decode_request(
    content_type: str, body: bytes, query: str
) -> tuple[dict[str, Any], dict[str, Upload]]:
    params: dict[str, Any] = {}
    files: dict[str, Upload] = {}
    raw: list[tuple[str, str]] = list(parse_qsl(query, keep_blank_values=True))
    ctype = content_type.lower()
    if ctype.startswith("application/json") and body:
        data = json.loads(body)
        return dict(data), files
    if ctype.startswith("multipart/form-data"):
        m = re.search(r'boundary="?([^";]+)"?', content_type)
        if not m:
            raise ApiError(400, "Bad Request: no boundary")
        for name, filename, part_ctype, content in _parse_multipart(body, m.group(1).encode()):
            if filename is None:
                raw.append((name, content.decode()))
            else:
                files[name] = Upload(name, filename, content, part_ctype)
    elif body:
        raw.extend(parse_qsl(body.decode(), keep_blank_values=True))
    for name, value in raw:
        params[name] = _decode_value(name, value)
    return params, files


def _parse_multipart(body: bytes, boundary: bytes) -> Iterator[tuple[str, str | None, str, bytes]]:
    delimiter = b"--" + boundary
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part.removeprefix(b"\r\n")
        head, _, content = part.partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        disp = headers.get("content-disposition", "")
        name_m = re.search(r'\bname="([^"]*)"', disp)
        file_m = re.search(r'\bfilename="([^"]*)"', disp)
        if not name_m:
            continue
        yield (
            name_m.group(1),
            file_m.group(1) if file_m else None,
            headers.get("content-type", "application/octet-stream"),
            content,
        )


def _check_origin(origin: JSON) -> None:
    """A ``MessageOrigin`` as the Bot API sends it: its type, date and that type's fields."""
    kind = origin.get("type")
    if kind not in _ORIGIN_KEYS or not isinstance(origin.get("date"), int):
        raise ValueError(f"not a MessageOrigin: {origin!r}")
    missing = _ORIGIN_KEYS[kind] - set(origin)
    if missing:
        raise ValueError(f"a {kind} origin needs {sorted(missing)}")


def _entities(text: str) -> list[JSON]:
    """``bot_command`` at the start and ``url`` entities, with UTF-16 offsets."""
    out: list[JSON] = []
    m = _COMMAND_RE.match(text)
    if m:
        out.append({"type": "bot_command", "offset": 0, "length": utf16_len(m.group(0))})
    for m in _URL_RE.finditer(text):
        url = m.group(0).rstrip(".,;:!?)")
        out.append(
            {"type": "url", "offset": utf16_len(text[: m.start()]), "length": utf16_len(url)}
        )
    return out


class FakeTelegram:
    """The fake Bot API server. ``start()``/``stop()`` or use it as a context manager."""

    def __init__(
        self,
        token: str = "123456789:TEST-fake-telegram-token",
        *,
        bot_username: str = "mediaferry_test_bot",
        upload_limit: int | None = 50 * 1024 * 1024,
        download_limit: int | None = 20 * 1024 * 1024,
        local_mode: bool = False,
        rate_limits: RateLimits | None = RateLimits(),
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user: JSON = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Mediaferry Test",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.upload_limit = upload_limit
        self.download_limit = download_limit
        self.local_mode = local_mode
        self.rate_limits = rate_limits
        self._flood_tat: dict[int | str, float] = {}  # per chat
        self._flood_recent: collections.deque[float] = collections.deque()  # the whole bot
        self.flood_refusals: list[Call] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._cond = threading.Condition(threading.RLock())
        self._connections: set[socket.socket] = set()
        self._down = False
        self._calls: list[Call] = []
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._last_message_id = 0  # one counter, like a bot's own message box
        self._issued_paths: set[str] = set()  # file paths getFile gave out
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._poll_generation = 0
        self._polls_waiting = 0
        self._messages: dict[tuple[int, int], ChatMessage] = {}
        self._files: dict[str, TelegramFile] = {}
        self._faults: list[_Fault] = []
        self._users: dict[int, JSON] = {}
        self._commands: dict[str, list[JSON]] = {}
        self.callback_answers: dict[str, JSON] = {}
        self._callback_queries: set[str] = set()

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.app = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-telegram",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        server.shutdown()
        with self._cond:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------

    @property
    def root(self) -> str:
        """Bot API server root, e.g. for ``MEDIAFERRY_TELEGRAM_API_URL``."""
        if self._server is None:
            raise RuntimeError("fake telegram is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.root}/file/bot"

    def bot_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``telegram.Bot(...)``."""
        return {"token": self.token, "base_url": self.base_url, "base_file_url": self.base_file_url}

    # --- driving --------------------------------------------------------------------

    def user(
        self, user_id: int, first_name: str | None = None, username: str | None = None
    ) -> JSON:
        """The Telegram ``User`` for ``user_id`` (created on first use)."""
        with self._cond:
            if user_id not in self._users or first_name or username:
                self._users[user_id] = {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": first_name or f"User{user_id}",
                    "username": username or f"user{user_id}",
                    "language_code": "en",
                }
            return self._users[user_id]

    def _chat(self, chat_id: int, chat_type: str, user_id: int) -> JSON:
        if chat_type == "private":
            u = self.user(user_id)
            return {
                "id": chat_id,
                "type": "private",
                "first_name": u["first_name"],
                "username": u["username"],
            }
        return {"id": chat_id, "type": chat_type, "title": f"Test {chat_type} {chat_id}"}

    def _push_update(self, update: JSON) -> JSON:
        with self._cond:
            update["update_id"] = next(self._update_ids)
            self._updates.append(update)
            self._cond.notify_all()
        return update

    def _next_message_id(self, wanted: int | None = None) -> int:
        """The next message id; ``wanted`` (a bridged MTProto message's id) must not be
        below one already given out, as ids in a bot's message box only grow."""
        with self._cond:
            if wanted is None:
                wanted = self._last_message_id + 1
            elif wanted <= self._last_message_id:
                raise ValueError(f"message id {wanted} is taken (last {self._last_message_id})")
            self._last_message_id = wanted
            return wanted

    def reserve_message_id(self, at_least: int = 1) -> int:
        """A message id no message has yet, at least ``at_least``: for a test that puts
        the same message into the fake MTProto world (the bot's box) under that id."""
        with self._cond:
            return max(self._last_message_id + 1, at_least)

    def _reply_json(self, chat_id: int, reply_to: int) -> JSON:
        """The replied-to message as Telegram nests it: one level, no reply of its own."""
        cm = self._messages.get((chat_id, reply_to))
        if cm is None or cm.deleted:
            raise ValueError(f"no message {reply_to} in chat {chat_id} to reply to")
        return {k: v for k, v in cm.raw.items() if k != "reply_to_message"}

    def _user_message(
        self,
        user_id: int,
        chat_id: int | None,
        chat_type: str,
        body: JSON,
        reply_to: int | None = None,
        *,
        message_id: int | None = None,
        kind: str | None = None,
        record: TelegramFile | None = None,
    ) -> ChatMessage:
        cid = chat_id if chat_id is not None else user_id
        with self._cond:
            msg: JSON = {
                "message_id": self._next_message_id(message_id),
                "date": int(time.time()),
                "chat": self._chat(cid, chat_type, user_id),
                "from": self.user(user_id),
                **body,
            }
            if reply_to is not None and (cid, reply_to) in self._messages:
                msg["reply_to_message"] = self._reply_json(cid, reply_to)
            if kind is None:
                kind = next(
                    (k for k in ("document", "photo", "video", "audio") if k in body), "text"
                )
            text = body.get("text", body.get("caption"))
            cm = ChatMessage(
                cid, msg["message_id"], False, kind, text, msg, file=record, history=[text]
            )
            self._messages[(cid, cm.message_id)] = cm
            self._push_update({"message": msg})
            return cm

    def user_sends_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        chat_type: str = "private",
        forward_from: int | None = None,
        reply_to: int | None = None,
    ) -> ChatMessage:
        """The user sends ``text`` (a ``message`` update is queued for getUpdates)."""
        body: JSON = {"text": text}
        if ents := _entities(text):
            body["entities"] = ents
        if forward_from is not None:
            body["forward_origin"] = {
                "type": "user",
                "date": int(time.time()) - 60,
                "sender_user": self.user(forward_from),
            }
        return self._user_message(user_id, chat_id, chat_type, body, reply_to)

    def user_sends_document(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        mime: str = "text/plain",
        caption: str | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
    ) -> ChatMessage:
        """The user sends a file; the bot can fetch it with getFile + the file URL."""
        record = self._new_file("document", content, filename, mime)
        body: JSON = {"document": self._file_json(record)}
        if caption is not None:
            body["caption"] = caption
            if ents := _entities(caption):
                body["caption_entities"] = ents
        return self._user_message(user_id, chat_id, chat_type, body)

    def user_sends_media(
        self,
        user_id: int,
        kind: str,
        content: bytes | None = None,
        *,
        path: Path | None = None,
        file_name: str | None = None,
        mime: str | None = None,
        caption: str | None = None,
        duration: int | None = None,
        width: int | None = None,
        height: int | None = None,
        title: str | None = None,
        performer: str | None = None,
        forward_origin: JSON | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        message_id: int | None = None,
        reply_to: int | None = None,
        file_unique_id: str | None = None,
        media_group_id: str | None = None,
    ) -> ChatMessage:
        """The user sends (or forwards, with ``forward_origin``) a file of ``kind``:
        ``audio video voice document video_note animation sticker photo``, shaped as
        the Bot API shapes it (``Audio``/``Video``/… objects; an animation also as
        ``document``; a photo as a list of sizes). The bytes are ``content`` or the file
        at ``path`` (a big sparse file costs nothing). ``message_id`` puts it under an
        id chosen by the test (see :meth:`reserve_message_id`); ``file_unique_id`` is
        the same for the same file, as on Telegram (e.g. derived from an MTProto
        document's id), else new. Messages with one ``media_group_id`` are an album
        (audio, video, document and photo only, as on Telegram)."""
        if kind not in _USER_MEDIA:
            raise ValueError(f"unknown media kind {kind!r}; use one of {sorted(_USER_MEDIA)}")
        if (content is None) == (path is None):
            raise ValueError("give exactly one of content or path")
        if forward_origin is not None:
            _check_origin(forward_origin)
        file_kind = "document" if kind == "animation" else kind
        record = self._new_file(file_kind, content, file_name, mime, path=path,
                                unique=file_unique_id)  # fmt: skip
        base = self._file_json(record)
        if kind in ("voice", "video_note", "sticker", "photo"):
            base.pop("file_name", None)
        if kind in ("video_note", "sticker", "photo"):
            base.pop("mime_type", None)
        if kind in ("audio", "voice", "video", "video_note", "animation"):
            base["duration"] = int(duration or 0)
        if kind in ("video", "animation", "sticker", "photo"):
            base |= {"width": int(width or 0), "height": int(height or 0)}
        if kind == "video_note":
            base["length"] = int(width or 240)
        if kind == "audio":
            base |= {k: v for k, v in (("title", title), ("performer", performer)) if v}
        if kind == "sticker":
            base |= {"type": "regular", "is_animated": False, "is_video": False, "emoji": "🙂"}
        body: JSON = {kind: [base] if kind == "photo" else base}
        if kind == "animation":  # "for backward compatibility" the Bot API sets both
            body["document"] = self._file_json(record)
        if caption is not None:
            if kind in ("video_note", "sticker"):
                raise ValueError(f"a {kind} has no caption on Telegram")
            body["caption"] = caption
            if ents := _entities(caption):
                body["caption_entities"] = ents
        if forward_origin is not None:
            body["forward_origin"] = forward_origin
        if media_group_id is not None:
            if kind not in ("audio", "video", "document", "photo"):
                raise ValueError(f"a {kind} cannot be part of an album")
            body["media_group_id"] = media_group_id
        return self._user_message(
            user_id, chat_id, chat_type, body, reply_to,
            message_id=message_id, kind=kind, record=record,
        )  # fmt: skip

    def forward_origin_channel(
        self, chat_id: int, title: str, message_id: int, username: str | None = None
    ) -> JSON:
        """A ``MessageOriginChannel``: forwarded from a channel post."""
        chat: JSON = {"id": chat_id, "type": "channel", "title": title}
        if username:
            chat["username"] = username
        return {
            "type": "channel",
            "date": int(time.time()) - 60,
            "chat": chat,
            "message_id": message_id,
        }

    def forward_origin_user(self, user_id: int) -> JSON:
        """A ``MessageOriginUser``: forwarded from a user who allows linking to them."""
        return {"type": "user", "date": int(time.time()) - 60, "sender_user": self.user(user_id)}

    def user_presses_button(
        self,
        user_id: int,
        message: ChatMessage | Mapping[str, Any],
        callback_data: str,
        *,
        check: bool = True,
    ) -> JSON:
        """The user presses an inline button of a bot ``message`` (a callback_query update).

        With ``check`` the data must belong to a button the message shows now.
        """
        with self._cond:
            if isinstance(message, ChatMessage):
                cm: ChatMessage | None = message
            else:
                cm = self._messages.get((message["chat"]["id"], message["message_id"]))
            if cm is None:
                raise ValueError("unknown message")
            cm = self._messages.get((cm.chat_id, cm.message_id), cm)
            if check and callback_data not in [d for _, d in cm.buttons]:
                raise ValueError(f"message {cm.message_id} has no button {callback_data!r}")
            query_id = str(next(self._callback_ids))
            self._callback_queries.add(query_id)
            query = {
                "id": query_id,
                "from": self.user(user_id),
                "chat_instance": str(cm.chat_id),
                "message": cm.raw,
                "data": callback_data,
            }
            return self._push_update({"callback_query": query})

    # --- faults ---------------------------------------------------------------------

    def fail_next(
        self, method: str, times: int = 1, kind: str = "429", retry_after: int = 1
    ) -> None:
        """The next ``times`` calls of ``method`` fail.

        ``kind``: ``"429"`` (flood wait with ``retry_after``), ``"500"`` or any status code,
        ``"502"`` (HTML bad gateway), ``"timeout"`` (no answer until the client gives up;
        the call has no effect), ``"close"`` (the connection is closed at once; no
        effect). The call takes effect but its answer is lost with ``"drop"`` (the
        connection closes without an answer), ``"half"`` (half the answer, then the
        connection closes) and ``"hang"`` (no answer until the client gives up).
        """
        with self._cond:
            self._faults.append(_Fault(method.lower(), times, kind, retry_after))

    def set_down(self, down: bool = True) -> None:
        """While down every request is answered ``502 Bad Gateway`` and nothing happens."""
        with self._cond:
            self._down = down
            self._cond.notify_all()

    def _take_fault(self, method: str) -> _Fault | None:
        with self._cond:
            for fault in self._faults:
                if fault.method == method.lower() and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _flood_check(self, method: str, p: JSON) -> JSON | None:
        """A 429 answer when this call would break Telegram's flood limits (recorded)."""
        limits = self.rate_limits
        if limits is None or not _counts_for_flood(method):
            return None
        chat: int | str | None
        try:
            chat = int(p["chat_id"])
        except (KeyError, TypeError, ValueError):
            chat = p.get("chat_id")
        media = p.get("media") if method.lower() == "sendmediagroup" else None
        cost = len(media) if isinstance(media, list) else 1
        # all chats together: at most ``global_per_s`` in any one second (a sliding
        # window, no burst on top: "no more than 30 messages per second")
        buckets: list[tuple[int | str, float, int]] = []
        if isinstance(chat, int) and chat > 0:
            buckets.append((chat, 1.0 / limits.private_per_s, limits.private_burst))
        elif chat is not None:
            buckets.append((chat, 60.0 / limits.group_per_min, limits.group_burst))
        with self._cond:
            now = time.monotonic()
            late = 0.0
            recent = self._flood_recent
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) + cost > int(limits.global_per_s):
                late = max(late, recent[0] + 1.0 - now if recent else 1.0)
            for key, interval, burst in buckets:
                tat = self._flood_tat.get(key, 0.0)
                late = max(late, tat + min(cost, burst) * interval - burst * interval - now)
            if late <= 0:
                for key, interval, burst in buckets:
                    tat = self._flood_tat.get(key, 0.0)
                    self._flood_tat[key] = max(tat, now) + min(cost, burst) * interval
                recent.extend([now] * cost)
                return None
            retry = max(1, int(late + 0.999))
            payload: JSON = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry}",
                "parameters": {"retry_after": retry},
            }
            call = Call(method, p, {}, time.time(), 429, payload)
            self.flood_refusals.append(call)
            self._calls.append(call)
            self._cond.notify_all()
            return payload

    # --- inspection -----------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls, oldest first (``getUpdates`` included)."""
        with self._cond:
            items = list(self._calls)
        if method is None:
            return items
        return [c for c in items if c.method.lower() == method.lower()]

    def uploads(self, method: str | None = None) -> list[Upload]:
        """Every file uploaded by the bot (optionally by one method), in order."""
        return [u for c in self.calls(method) if c.ok for u in c.files.values()]

    def messages_to(self, chat_id: int, *, include_deleted: bool = False) -> list[ChatMessage]:
        """The bot's messages in ``chat_id`` as the chat shows them now."""
        with self._cond:
            items = [
                m
                for (cid, _), m in sorted(self._messages.items())
                if cid == chat_id and m.from_bot and (include_deleted or not m.deleted)
            ]
        return items

    def chat(self, chat_id: int) -> list[ChatMessage]:
        """Every message (user's and bot's) in ``chat_id``, not deleted."""
        with self._cond:
            return [
                m for (c, _), m in sorted(self._messages.items()) if c == chat_id and not m.deleted
            ]

    def file(self, file_id: str) -> TelegramFile | None:
        with self._cond:
            return self._files.get(file_id)

    @property
    def commands(self) -> list[JSON]:
        """The command list of the default scope (``setMyCommands``)."""
        with self._cond:
            return list(self._commands.get("default", []))

    @property
    def polls_waiting(self) -> int:
        """How many getUpdates requests are waiting for updates right now."""
        with self._cond:
            return self._polls_waiting

    @property
    def pending_updates(self) -> int:
        with self._cond:
            return len(self._updates)

    def wait_for(
        self,
        condition: str | Callable[[], Any],
        timeout: float = 10,
        count: int = 1,
    ) -> Any:
        """Block until ``condition`` holds (at most ``timeout`` s), return its value.

        ``condition`` is a method name (wait for ``count`` successful calls of it; returns
        the ``count``-th call) or a callable returning something truthy. Do not call from
        the event loop the bot runs in: use ``async_wait_for`` there.
        """
        check = self._checker(condition, count)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = check()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(condition, timeout))
                self._cond.wait(min(remaining, 0.1))

    async def async_wait_for(
        self,
        condition: str | Callable[[], Any],
        timeout: float = 10,
        count: int = 1,
    ) -> Any:
        """``wait_for`` for coroutines: yields to the event loop while waiting."""
        check = self._checker(condition, count)
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(condition, timeout))
            await asyncio.sleep(0.01)

    def _checker(self, condition: str | Callable[[], Any], count: int) -> Callable[[], Any]:
        if isinstance(condition, str):
            method = condition

            def check() -> Any:
                ok = [c for c in self.calls(method) if c.ok]
                return ok[count - 1] if len(ok) >= count else None

            return check
        return condition

    def _timeout_message(self, condition: object, timeout: float) -> str:
        recent = [f"{c.method}→{c.status}" for c in self.calls() if c.method != "getUpdates"]
        return f"condition {condition!r} not met within {timeout}s; calls: {recent[-20:]}"

    # --- internals: state -----------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._cond:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _new_file(
        self,
        kind: str,
        content: bytes | None,
        filename: str | None,
        mime: str | None,
        url: str | None = None,
        *,
        path: Path | None = None,
        unique: str | None = None,
    ) -> TelegramFile:
        with self._cond:
            n = next(self._file_ids)
            suffix = Path(filename).suffix if filename else ""
            record = TelegramFile(
                file_id=f"{kind[:2].upper()}{n:06d}-{secrets.token_hex(8)}",
                file_unique_id=unique or f"U{n:06d}{secrets.token_hex(4)}",
                kind=kind,
                content=content,
                filename=filename,
                mime=mime,
                file_path=f"{kind}s/file_{n}{suffix}",
                url=url,
                path=path,
            )
            self._files[record.file_id] = record
            return record

    def _path_issued(self, record: TelegramFile) -> bool:
        with self._cond:
            return record.file_path in self._issued_paths

    def _file_by_path(self, file_path: str) -> TelegramFile | None:
        with self._cond:
            return next((f for f in self._files.values() if f.file_path == file_path), None)

    @staticmethod
    def _file_json(record: TelegramFile) -> JSON:
        out: JSON = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.size,
        }
        if record.filename:
            out["file_name"] = record.filename
        if record.mime:
            out["mime_type"] = record.mime
        return out

    # --- internals: API -------------------------------------------------------------

    def _call(self, method: str, params: JSON, files: dict[str, Upload]) -> tuple[int, JSON]:
        handler = getattr(self, f"_api_{method.lower()}", None)
        try:
            if handler is None:
                raise ApiError(404, "Not Found")
            result = handler(params, files)
        except ApiError as exc:
            payload: JSON = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                payload["parameters"] = exc.parameters
            self._record(Call(method, params, files, time.time(), exc.code, payload))
            return exc.code, payload
        self._record(Call(method, params, files, time.time(), 200, result))
        return 200, {"ok": True, "result": result}

    def _api_getme(self, p: JSON, f: dict[str, Upload]) -> JSON:
        return self.bot_user

    def _api_logout(self, p: JSON, f: dict[str, Upload]) -> bool:
        return True

    _api_close = _api_logout
    _api_setwebhook = _api_logout
    _api_sendchataction = _api_logout

    def _api_deletewebhook(self, p: JSON, f: dict[str, Upload]) -> bool:
        if p.get("drop_pending_updates") in (True, "true", "True"):
            with self._cond:
                self._updates.clear()
        return True

    def _api_getwebhookinfo(self, p: JSON, f: dict[str, Upload]) -> JSON:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _api_setmycommands(self, p: JSON, f: dict[str, Upload]) -> bool:
        scope = (p.get("scope") or {}).get("type", "default")
        with self._cond:
            self._commands[scope] = list(p.get("commands") or [])
        return True

    def _api_getmycommands(self, p: JSON, f: dict[str, Upload]) -> list[JSON]:
        scope = (p.get("scope") or {}).get("type", "default")
        with self._cond:
            return list(self._commands.get(scope, []))

    def _api_deletemycommands(self, p: JSON, f: dict[str, Upload]) -> bool:
        scope = (p.get("scope") or {}).get("type", "default")
        with self._cond:
            self._commands.pop(scope, None)
        return True

    def _api_getupdates(self, p: JSON, f: dict[str, Upload]) -> list[JSON]:
        offset = int(p.get("offset") or 0)
        limit = int(p.get("limit") or 100)
        timeout = float(p.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._cond:
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            while True:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or self._stopping.is_set():
                    return list(self._updates[:limit])
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that "
                        "only one bot instance is running",
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._down:
                    return []
                self._polls_waiting += 1
                try:
                    self._cond.wait(min(remaining, 0.5))
                finally:
                    self._polls_waiting -= 1

    def _api_getfile(self, p: JSON, f: dict[str, Upload]) -> JSON:
        record = self.file(str(p.get("file_id")))
        if record is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if self.download_limit is not None and record.size > self.download_limit:
            raise ApiError(400, "Bad Request: file is too big")
        with self._cond:
            self._issued_paths.add(record.file_path)
        return {**self._file_json(record), "file_path": record.file_path}

    def _message(self, chat_id: int, message_id: int) -> ChatMessage:
        cm = self._messages.get((chat_id, message_id))
        if cm is None or cm.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        return cm

    @staticmethod
    def _chat_id(p: JSON) -> int:
        try:
            return int(p["chat_id"])
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None

    def _visible(self, text: str, parse_mode: str | None, limit: int, what: str) -> str:
        try:
            shown = visible_text(text, parse_mode)
        except MarkupError as exc:
            raise ApiError(400, f"Bad Request: {exc}") from None
        if utf16_len(shown) > limit:
            raise ApiError(400, f"Bad Request: {what} is too long")
        return shown

    def _bot_message(self, p: JSON, body: JSON, kind: str, record: TelegramFile | None) -> JSON:
        chat_id = self._chat_id(p)
        with self._cond:
            chat_type = "private" if chat_id > 0 else "supergroup"
            chat = self._chat(chat_id, chat_type, chat_id)
            msg: JSON = {
                "message_id": self._next_message_id(),
                "date": int(time.time()),
                "chat": chat,
                "from": self.bot_user,
                **body,
            }
            reply_to = (p.get("reply_parameters") or {}).get("message_id") or p.get(
                "reply_to_message_id"
            )
            if reply_to and (chat_id, int(reply_to)) in self._messages:
                msg["reply_to_message"] = self._messages[(chat_id, int(reply_to))].raw
            markup = p.get("reply_markup")
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                msg["reply_markup"] = markup
            text = body.get("text", body.get("caption"))
            self._messages[(chat_id, msg["message_id"])] = ChatMessage(
                chat_id,
                msg["message_id"],
                True,
                kind,
                text,
                msg,
                reply_markup=msg.get("reply_markup"),
                file=record,
                history=[text],
            )
            return msg

    def _api_sendmessage(self, p: JSON, f: dict[str, Upload]) -> JSON:
        text = str(p.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        shown = self._visible(text, p.get("parse_mode"), MAX_TEXT, "message")
        return self._bot_message(p, {"text": shown}, "text", None)

    def _edit(self, p: JSON, *, text: str | None = None, caption: str | None = None) -> JSON:
        with self._cond:
            cm = self._message(self._chat_id(p), int(p.get("message_id") or 0))
            markup = p.get("reply_markup")
            new_markup = (
                markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
            )
            if text is not None and cm.kind != "text":
                raise ApiError(400, "Bad Request: there is no text in the message to edit")
            if caption is not None and cm.kind == "text":
                raise ApiError(400, "Bad Request: there is no caption in the message to edit")
            new_text = text if text is not None else caption if caption is not None else cm.text
            if new_text == cm.text and new_markup == cm.reply_markup:
                raise ApiError(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            key = "text" if cm.kind == "text" else "caption"
            if new_text is not None:
                cm.raw[key] = new_text
            cm.raw.pop("reply_markup", None)
            if new_markup:
                cm.raw["reply_markup"] = new_markup
            cm.raw["edit_date"] = int(time.time())
            cm.text = new_text
            cm.reply_markup = new_markup
            cm.edits += 1
            cm.history.append(new_text)
            return dict(cm.raw)

    def _api_editmessagetext(self, p: JSON, f: dict[str, Upload]) -> JSON:
        text = str(p.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        return self._edit(p, text=self._visible(text, p.get("parse_mode"), MAX_TEXT, "message"))

    def _api_editmessagecaption(self, p: JSON, f: dict[str, Upload]) -> JSON:
        caption = self._visible(
            str(p.get("caption") or ""), p.get("parse_mode"), MAX_CAPTION, "message caption"
        )
        return self._edit(p, caption=caption)

    def _api_editmessagereplymarkup(self, p: JSON, f: dict[str, Upload]) -> JSON:
        return self._edit(p)

    def _api_deletemessage(self, p: JSON, f: dict[str, Upload]) -> bool:
        with self._cond:
            cm = self._messages.get((self._chat_id(p), int(p.get("message_id") or 0)))
            if cm is None or cm.deleted:
                raise ApiError(400, "Bad Request: message to delete not found")
            cm.deleted = True
            self._cond.notify_all()
        return True

    def _api_answercallbackquery(self, p: JSON, f: dict[str, Upload]) -> bool:
        with self._cond:
            qid = str(p.get("callback_query_id"))
            if qid in self.callback_answers or qid not in self._callback_queries:
                raise ApiError(
                    400,
                    "Bad Request: query is too old and response timeout expired "
                    "or query ID is invalid",
                )
            if len(str(p.get("text") or "")) > 200:  # Telegram: 0-200 characters
                raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
            self.callback_answers[qid] = p
        return True

    def _resolve_media(
        self, value: Any, kind: str, files: dict[str, Upload], field_name: str
    ) -> TelegramFile:
        """An uploaded part, ``attach://name``, a known ``file_id`` or an http(s) URL."""
        upload: Upload | None = None
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise ApiError(400, f"Bad Request: file {value} not found in the request")
        elif value is None:
            upload = files.get(field_name)
        if upload is not None:
            if self.upload_limit is not None and len(upload.content) > self.upload_limit:
                raise ApiError(413, "Request Entity Too Large")
            if not upload.content:
                raise ApiError(400, "Bad Request: file must be non-empty")
            return self._new_file(kind, upload.content, upload.filename, upload.mime)
        if isinstance(value, str) and (value.startswith("file://") or value.startswith("/")):
            if not self.local_mode:
                # the public server knows nothing of the bot's disk
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            path = Path(unquote(urlsplit(value).path) if value.startswith("file:") else value)
            try:
                content = path.read_bytes()
            except OSError:
                raise ApiError(400, "Bad Request: file not found") from None
            if self.upload_limit is not None and len(content) > self.upload_limit:
                raise ApiError(400, "Bad Request: file is too big")
            return self._new_file(kind, content, path.name, None)
        if isinstance(value, str) and re.match(r"https?://", value):
            return self._new_file(kind, None, Path(urlsplit(value).path).name or None, None, value)
        if isinstance(value, str) and value:
            record = self.file(value)
            if record is None:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            if record.kind != kind:
                raise ApiError(
                    400,
                    f"Bad Request: can't use file of type {record.kind.title()} as {kind.title()}",
                )
            return record
        raise ApiError(400, f"Bad Request: there is no {kind} in the request")

    def _media_object(
        self, kind: str, record: TelegramFile, p: JSON, files: dict[str, Upload]
    ) -> Any:
        base = self._file_json(record)
        if kind == "photo":
            return [
                {**base, "width": int(p.get("width") or 0), "height": int(p.get("height") or 0)}
            ]
        if kind in ("video", "animation"):
            base |= {
                "width": int(p.get("width") or 0),
                "height": int(p.get("height") or 0),
                "duration": int(p.get("duration") or 0),
            }
        elif kind in ("audio", "voice"):
            base["duration"] = int(p.get("duration") or 0)
            for key in ("title", "performer"):
                if p.get(key):
                    base[key] = p[key]
        thumb = p.get("thumbnail")
        if kind in ("video", "audio", "document", "animation") and (thumb or "thumbnail" in files):
            t = self._resolve_media(thumb, "photo", files, "thumbnail")
            base["thumbnail"] = {**self._file_json(t), "width": 320, "height": 320}
        return base

    def _send_media(self, method: str, p: JSON, files: dict[str, Upload]) -> JSON:
        kind = _MEDIA_KINDS[method]
        with self._cond:
            self._chat_id(p)
            body: JSON = {}
            if p.get("caption"):
                body["caption"] = self._visible(
                    str(p["caption"]), p.get("parse_mode"), MAX_CAPTION, "message caption"
                )
            record = self._resolve_media(p.get(kind), kind, files, kind)
            body[kind] = self._media_object(kind, record, p, files)
            return self._bot_message(p, body, kind, record)

    def _api_sendvideo(self, p: JSON, f: dict[str, Upload]) -> JSON:
        return self._send_media("sendVideo", p, f)

    def _api_sendaudio(self, p: JSON, f: dict[str, Upload]) -> JSON:
        return self._send_media("sendAudio", p, f)

    def _api_senddocument(self, p: JSON, f: dict[str, Upload]) -> JSON:
        return self._send_media("sendDocument", p, f)

    def _api_sendphoto(self, p: JSON, f: dict[str, Upload]) -> JSON:
        return self._send_media("sendPhoto", p, f)

    def _api_sendanimation(self, p: JSON, f: dict[str, Upload]) -> JSON:
        return self._send_media("sendAnimation", p, f)

    def _api_sendvoice(self, p: JSON, f: dict[str, Upload]) -> JSON:
        return self._send_media("sendVoice", p, f)

    def _api_sendmediagroup(self, p: JSON, f: dict[str, Upload]) -> list[JSON]:
        media = p.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: media group must contain 2-10 items")
        group_id = secrets.token_hex(8)
        out = []
        with self._cond:
            for item in media:
                kind = item.get("type")
                if kind not in ("video", "audio", "document", "photo"):
                    raise ApiError(400, f"Bad Request: unsupported media type {kind!r}")
                item_p = {**p, **item}
                self._chat_id(item_p)
                body: JSON = {"media_group_id": group_id}
                if item.get("caption"):
                    body["caption"] = self._visible(
                        str(item["caption"]), item.get("parse_mode"), MAX_CAPTION, "message caption"
                    )
                record = self._resolve_media(item.get("media"), kind, f, kind)
                body[kind] = self._media_object(kind, record, item_p, f)
                item_p.pop("reply_markup", None)
                out.append(self._bot_message(item_p, body, kind, record))
        return out


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """A started ``FakeTelegram`` (fresh per test), stopped afterwards."""
    with FakeTelegram() as server:
        yield server
