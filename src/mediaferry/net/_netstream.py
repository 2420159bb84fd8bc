"""httpcore network streams on asyncio's own streams, for bulk downloads.

httpcore's default (anyio) stream asks for 64 KiB per read, splitting (copying)
each 256 KiB the socket delivered, and re-arms the socket in epoll on every read;
on a fast link that Python work per 64 KiB is what limits a download. Here the
transport keeps reading while the consumer works (up to :data:`BUFFER_LIMIT`
unread), and a read returns a received chunk as it is. TLS is asyncio's own
(``loop.start_tls``).

Only :mod:`mediaferry.net.http`'s SSRF-checking backend opens these streams,
after it checked the address it connects to.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import select
import ssl
from typing import Any

import httpcore

__all__ = ["BUFFER_LIMIT", "READ_BYTES", "AsyncioStream", "open_stream"]


READ_BYTES = 1 << 20
BUFFER_LIMIT = 4 << 20  # received but unread bytes above this pause the socket


class _Protocol(asyncio.Protocol):
    """Keeps what the transport received as the bytes objects it delivered (no copy
    into a growing buffer); pauses the transport while too much waits unread."""

    def __init__(self) -> None:
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.eof = False
        self.error: BaseException | None = None
        self.transport: asyncio.Transport | None = None
        self._paused = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        self._readable.set()
        if self.buffered > BUFFER_LIMIT and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._readable.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._readable.set()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def read(self, max_bytes: int) -> bytes:
        while not self.chunks:
            if self.eof:
                if self.error is not None:
                    raise self.error
                return b""
            self._readable.clear()
            await self._readable.wait()
        chunk = self.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            self.chunks.appendleft(rest)
        self.buffered -= len(chunk)
        if self._paused and self.buffered <= BUFFER_LIMIT // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    async def drain(self) -> None:
        if self.error is not None:
            raise self.error
        await self._writable.wait()


async def open_stream(
    address: str, port: int, *, timeout: float | None, local_address: str | None, options: Any
) -> AsyncioStream:
    """A TCP connection to ``address`` (already checked by the caller)."""
    loop = asyncio.get_running_loop()
    local = (local_address, 0) if local_address else None
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await loop.create_connection(
                _Protocol, address, port, local_addr=local
            )
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"connecting to {address}:{port} timed out") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
    sock = transport.get_extra_info("socket")
    for option in options or ():
        sock.setsockopt(*option)
    return AsyncioStream(transport, protocol)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection; reads return what arrived, up to :data:`READ_BYTES`."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._protocol.read(max(max_bytes, READ_BYTES))
        except TimeoutError as exc:
            raise httpcore.ReadTimeout("the server sent nothing in time") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                if self._transport.is_closing():
                    raise ConnectionResetError("the connection is closed")
                self._transport.write(buffer)
                await self._protocol.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout("the server accepted nothing in time") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        # no waiting for a TLS close_notify: the body's length is known (as with anyio's
        # standard_compatible=False); the transport finishes closing in the background
        with contextlib.suppress(Exception):
            self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout("the TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            await self.aclose()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        assert isinstance(transport, asyncio.Transport)
        self._protocol.transport = transport
        return AsyncioStream(transport, self._protocol)

    def take_socket(self) -> tuple[list[bytes], int] | None:
        """Hand a plain (not TLS) connection's socket over for a bulk read of the rest
        of a body: this stream stops reading, and what it received but was not read
        yet is returned with the socket's descriptor (``None``: a TLS connection, or
        one already at its end). Nothing may read the stream after this; closing it
        still closes the socket."""
        protocol = self._protocol
        if self._transport.get_extra_info("ssl_object") is not None or protocol.eof:
            return None
        sock = self._transport.get_extra_info("socket")
        if sock is None or sock.fileno() < 0:
            return None
        self._transport.pause_reading()
        protocol._paused = True  # for good: nothing resumes it
        chunks = list(protocol.chunks)
        protocol.chunks.clear()
        protocol.buffered = 0
        return chunks, sock.fileno()

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":
            return self._is_readable()
        return None

    def _is_readable(self) -> bool:
        """Has an idle connection been closed (or sent something unasked)?"""
        if self._protocol.eof or self._protocol.chunks or self._transport.is_closing():
            return True
        sock = self._transport.get_extra_info("socket")
        if sock is None or sock.fileno() < 0:
            return True
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
