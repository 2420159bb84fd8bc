"""A loopback HTTP proxy that applies the URL policy to every connection through it.

Tools that open their own connections (aria2c: HTTP(S) downloads, their redirects,
torrent web seeds and HTTP trackers) are pointed at this proxy (``all-proxy``), so the
address they reach is resolved and checked here, at connect time, by the same table
as everything else (:func:`mediaferry.urls.resolve_public`), and the connection goes
to the very address that was checked (no DNS rebinding between check and connect).

``CONNECT host:port`` is tunnelled (HTTPS); an absolute-form request
(``GET http://host/path``) is forwarded with ``Connection: close``, one request per
proxy connection, so a kept-alive client cannot reuse a checked connection for
another host; the answer says ``Connection: close`` to the client too (a server need
not), or a client that keeps connections alive could send its next request on this
one before the proxy's close reached it, and lose it. Each user of the proxy gets its
own credentials (:meth:`session`); the proxy answers 407 to anything else, so it is no
open proxy for other local users, and it remembers what it refused per session so the
caller can say why a download failed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mediaferry.errors import NetworkError, UrlRejected
from mediaferry.logging import add_secret
from mediaferry.urls import resolve_public

__all__ = ["GuardProxy", "ProxySession"]

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
_BUFFER = 1 << 20  # stream buffer: bulk downloads pass in large chunks, not 64 KiB ones
_HOP_HEADERS = (b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive")


@dataclass(slots=True)
class ProxySession:
    """Credentials for one download, and what the proxy refused for it."""

    user: str
    password: str
    refused: list[str] = field(default_factory=list)


class GuardProxy:
    """Start with :meth:`start`; give a tool :attr:`url` and a :meth:`session`'s
    credentials; :meth:`close` when done."""

    def __init__(self, *, connect_timeout: float = 15.0) -> None:
        self.connect_timeout = connect_timeout
        self._server: asyncio.Server | None = None
        self._sessions: dict[bytes, ProxySession] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None, "the proxy is not started"
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=_BUFFER)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    def session(self) -> ProxySession:
        password = secrets.token_urlsafe(18)
        add_secret(password)
        session = ProxySession("mediaferry", password)
        token = base64.b64encode(f"{session.user}:{password}".encode())
        self._sessions[token] = session
        return session

    def end(self, session: ProxySession) -> None:
        token = base64.b64encode(f"{session.user}:{session.password}".encode())
        self._sessions.pop(token, None)

    # one client connection -----------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEAD_BYTES:
            await _answer(writer, 431, "Request Header Fields Too Large")
            return
        first, *lines = head[:-4].split(b"\r\n")
        method, target, version = [*first.split(b" "), b"", b""][:3]
        session = self._authorised(lines)
        if session is None:
            await _answer(writer, 407, "Proxy Authentication Required")
            return
        if method == b"CONNECT":
            host, _, port_text = target.decode("ascii", "replace").rpartition(":")
            host = host.strip("[]")
            port = int(port_text) if port_text.isdigit() else 0
            rest = b""
        else:
            parts = urlsplit(target.decode("ascii", "replace"))
            if parts.scheme != "http" or not parts.hostname:
                await _answer(writer, 400, "Bad Request")
                return
            host, port = parts.hostname, parts.port or 80
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            kept = [h for h in lines if h.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]
            rest = b"\r\n".join(
                [b" ".join([method, path.encode("ascii"), version]), *kept, b"Connection: close"]
            )
            rest += b"\r\n\r\n"
        if not host or not 0 < port < 65536:
            await _answer(writer, 400, "Bad Request")
            return
        upstream = await self._connect(host, port, session)
        if upstream is None:
            await _answer(writer, 403, "Forbidden")
            return
        up_reader, up_writer = upstream
        try:
            if method == b"CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                answer = _pipe(up_reader, writer)
            else:
                up_writer.write(rest)
                answer = _pipe_closing(up_reader, writer)
            await asyncio.gather(_pipe(reader, up_writer), answer)
        finally:
            up_writer.close()

    def _authorised(self, lines: list[bytes]) -> ProxySession | None:
        for line in lines:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"proxy-authorization":
                scheme, _, token = value.strip().partition(b" ")
                if scheme.lower() != b"basic":
                    return None
                try:
                    base64.b64decode(token, validate=True)
                except (binascii.Error, ValueError):
                    return None
                return self._sessions.get(token.strip())
        return None

    async def _connect(
        self, host: str, port: int, session: ProxySession
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            addresses = await resolve_public(host, port, allow_private=False)
        except UrlRejected as exc:
            session.refused.append(f"{host}: {exc.message}")
            log.warning("proxy refused a connection: %s", exc.message, extra={"url_domain": host})
            return None
        except NetworkError as exc:
            log.info("proxy could not resolve: %s", exc.message)
            return None
        for address in addresses:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    return await asyncio.open_connection(address, port, limit=_BUFFER)
            except (OSError, TimeoutError):
                continue
        return None


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    extra = b'Proxy-Authenticate: Basic realm="mediaferry"\r\n' if status == 407 else b""
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\n".encode()
        + extra
        + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        await writer.drain()


def _closing(head: bytes) -> bytes:
    """A response head (ending in a blank line) that says ``Connection: close``."""
    first, *lines = head[:-4].split(b"\r\n")
    kept = [h for h in lines if h.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]
    return b"\r\n".join([first, *kept, b"Connection: close"]) + b"\r\n\r\n"


async def _pipe_closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The answer to a forwarded request: its final head (after any interim 1xx ones)
    with ``Connection: close``, then the rest as it comes."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[:16].split(b" ")[1:2]
            if not status or not status[0].startswith(b"1") or status[0] == b"101":
                break
            writer.write(head)
        writer.write(_closing(head))
    except asyncio.IncompleteReadError as exc:  # the server hung up mid-head
        writer.write(exc.partial)
    except OSError:
        pass
    except (asyncio.LimitOverrunError, ValueError):  # a head over the buffer: no answer
        writer.close()
        return
    await _pipe(reader, writer)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_BUFFER):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
