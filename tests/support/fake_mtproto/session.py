"""One client TCP connection: framing, plain key exchange, then MTProto 2.0 messages.

Incoming encrypted messages are decrypted and checked (auth key, msg_key, salt, msg_id
time and parity), containers and gzip are unpacked, service messages (acks, pings) are
answered here and RPC requests are dispatched to the handler table, each in its own task
so a slow answer does not hold up the next request. Outgoing messages get odd msg_ids,
proper seqnos and the client's session id, and go through one writer that applies the
throughput cap and the connection-drop fault.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import time
from typing import TYPE_CHECKING

from telethon.errors import TypeNotFoundError
from telethon.extensions import BinaryReader
from telethon.tl import functions, types
from telethon.tl.core import GzipPacked, MessageContainer
from telethon.tl.tlobject import TLObject, TLRequest

from . import dispatch
from .crypto import decrypt_client_message, encrypt_server_message
from .handshake import HandshakeError, KeyExchange
from .transport import Codec, TransportError, detect_codec

if TYPE_CHECKING:
    from .server import AuthState, FakeMTProtoServer

__all__ = ["Connection"]

log = logging.getLogger(__name__)

RPC_RESULT = 0xF35C6D01
MSG_CONTAINER = 0x73F1F8DC
_CHUNK = 64 * 1024  # write granularity under a throughput cap
_BURST_S = 0.05  # token-bucket depth: oversleeping is made up for, idling is not banked
_WRAPPERS = (
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeAfterMsgRequest,
    functions.InvokeAfterMsgsRequest,
)


def serialize_result(result: object) -> bytes:
    """TL bytes of a handler's answer: an object, a Vector of objects, or a Bool."""
    if isinstance(result, bool):
        return struct.pack("<I", 0x997275B5 if result else 0xBC799737)
    if isinstance(result, list):
        items = b"".join(bytes(item) for item in result)
        return struct.pack("<Ii", 0x1CB5C415, len(result)) + items
    return bytes(result)  # type: ignore[call-overload]


class _Closed(Exception):
    pass


class Connection:
    def __init__(
        self,
        server: FakeMTProtoServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.stats = server.stats.new_connection()
        self.codec: Codec | None = None
        self.auth: AuthState | None = None
        self.session_id: int | None = None
        self.layer: int | None = None
        self._exchange: KeyExchange | None = None
        self._write_lock = asyncio.Lock()
        self._last_msg_base = 0
        self._seq = 0
        self._next_free = 0.0
        self._next_free_in = 0.0
        self._acks: list[int] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- main loop ------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            self.codec = await detect_codec(self.reader)
            self.stats.transport = self.codec.name
            while not self._closed:
                packet = await self.codec.read_packet(self.reader)
                self.stats.bytes_in += len(packet)
                if self.server.faults.take_drop(len(packet), incoming=True) is not None:
                    self.stats.dropped = True
                    log.info(
                        "fake MTProto: dropping connection %d (fault switch)", self.stats.number
                    )
                    raise _Closed
                await self._throttle_read(len(packet))
                await self._on_packet(packet)
        except (asyncio.IncompleteReadError, ConnectionError, _Closed):
            pass
        except (TransportError, HandshakeError, ValueError) as exc:
            log.info("fake MTProto: closing connection %d: %s", self.stats.number, exc)
        except Exception:
            log.exception("fake MTProto: server bug on connection %d", self.stats.number)
            self.server.stats.crashes.append(f"connection {self.stats.number}")
        finally:
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.stats.closed = True
            for task in list(self._tasks):
                task.cancel()
            self.writer.transport.abort()

    async def _on_packet(self, packet: bytes) -> None:
        if len(packet) < 8:
            raise TransportError("packet shorter than an auth_key_id")
        (key_id,) = struct.unpack("<Q", packet[:8])
        if key_id == 0:
            await self._on_plain(packet)
            return
        auth = self.server.auth_keys.get(key_id)
        if auth is None:
            # What Telegram does for an auth key it does not know: transport error -404.
            await self._write(struct.pack("<i", -404))
            raise _Closed
        self.auth = auth
        plain = decrypt_client_message(auth.key, packet[8:24], packet[24:])
        salt, session_id, msg_id, seqno, length = struct.unpack("<qqqii", plain[:32])
        if length < 0 or length > len(plain) - 32 or length % 4:
            raise TransportError("bad inner message length")
        if not 12 <= len(plain) - 32 - length <= 1024:
            raise TransportError("bad padding length")
        body = plain[32 : 32 + length]
        if self.session_id != session_id:
            self.session_id = session_id
            self._seq = 0
            if session_id not in auth.sessions:
                auth.sessions.add(session_id)
                await self._send(
                    types.NewSessionCreated(
                        first_msg_id=msg_id,
                        unique_id=int.from_bytes(os.urandom(8), "little", signed=True),
                        server_salt=auth.salt,
                    ),
                    content_related=False,
                )
        bad = self._check_msg_id(msg_id)
        if bad:
            await self._send(
                types.BadMsgNotification(bad_msg_id=msg_id, bad_msg_seqno=seqno, error_code=bad),
                content_related=False,
                response=True,
            )
            return
        if salt != auth.salt:
            await self._send(
                types.BadServerSalt(
                    bad_msg_id=msg_id,
                    bad_msg_seqno=seqno,
                    error_code=48,
                    new_server_salt=auth.salt,
                ),
                content_related=False,
                response=True,
            )
            return
        try:
            with BinaryReader(body) as reader:
                obj = reader.tgread_object()
        except TypeNotFoundError as exc:
            log.warning("fake MTProto: unknown constructor %08x", exc.invalid_constructor_id)
            await self._send_rpc_error(msg_id, 400, "INPUT_CONSTRUCTOR_INVALID")
            return
        await self._on_message(msg_id, seqno, obj)

    async def _on_plain(self, packet: bytes) -> None:
        _msg_id, length = struct.unpack("<qi", packet[8:20])
        if length != len(packet) - 20:
            raise TransportError("bad plain message length")
        with BinaryReader(packet[20:]) as reader:
            obj = reader.tgread_object()
        if self._exchange is None or isinstance(obj, functions.ReqPqMultiRequest):
            self._exchange = KeyExchange(self.server.rsa_key)
        answer = self._exchange.handle(obj)
        if self._exchange.auth_key is not None:
            self.server.register_auth_key(self._exchange.auth_key, self._exchange.first_salt)
            self._exchange = None
        body = bytes(answer)
        await self._write(struct.pack("<qqi", 0, self._new_msg_id(True), len(body)) + body)

    @staticmethod
    def _check_msg_id(msg_id: int) -> int:
        """0 if acceptable, else the bad_msg_notification error code."""
        if msg_id % 4:
            return 18
        delta = (msg_id >> 32) - time.time()
        if delta < -300:
            return 16
        if delta > 30:
            return 17
        return 0

    async def _on_message(self, msg_id: int, seqno: int, obj: TLObject) -> None:
        if isinstance(obj, GzipPacked):
            with BinaryReader(obj.data) as reader:
                obj = reader.tgread_object()
        # Requests are content-related (odd seqno); acks and containers are not (even).
        content_related = isinstance(obj, TLRequest)
        if content_related != bool(seqno % 2):
            code = 35 if content_related else 34
            await self._send(
                types.BadMsgNotification(bad_msg_id=msg_id, bad_msg_seqno=seqno, error_code=code),
                content_related=False,
                response=True,
            )
            return
        if isinstance(obj, MessageContainer):
            self.stats.containers_in += 1
            for inner in obj.messages:
                await self._on_message(inner.msg_id, inner.seq_no, inner.obj)
        elif isinstance(obj, types.MsgsAck | types.MsgsStateReq | types.MsgResendReq):
            pass
        elif isinstance(obj, functions.PingRequest | functions.PingDelayDisconnectRequest):
            await self._send(types.Pong(msg_id=msg_id, ping_id=obj.ping_id), content_related=True)
        elif isinstance(obj, functions.DestroySessionRequest):
            await self._send(types.DestroySessionOk(obj.session_id), content_related=True)
        else:
            self._acks.append(msg_id)  # acknowledged along with the next answer
            task = asyncio.get_running_loop().create_task(self._rpc(msg_id, obj))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- RPC ------------------------------------------------------------------------------
    async def _rpc(self, msg_id: int, request: TLObject) -> None:
        try:
            await self._rpc_inner(msg_id, request)
        except (_Closed, ConnectionError):
            self.close()

    async def _rpc_inner(self, msg_id: int, request: TLObject) -> None:
        assert self.auth is not None
        ctx = dispatch.CallContext(server=self.server, auth=self.auth, conn=self.stats)
        while isinstance(request, _WRAPPERS):
            if isinstance(request, functions.InvokeWithLayerRequest):
                self.layer = request.layer
            elif isinstance(request, functions.InitConnectionRequest):
                self.auth.api_id = request.api_id
            request = request.query
        ctx.layer = self.layer
        name = dispatch.method_name(request)
        self.server.stats.count_request(self.stats, name)
        is_get_file = isinstance(request, functions.upload.GetFileRequest)
        if is_get_file:
            self.server.stats.in_flight(+1)
        try:
            seconds = self.server.faults.take_flood(name)
            if seconds is not None:
                raise dispatch.RpcFail(420, f"FLOOD_WAIT_{seconds}")
            handler = dispatch.lookup(request)
            if handler is None:
                log.warning("fake MTProto: %s is not implemented", name)
                self.server.stats.unimplemented[name] += 1
                raise dispatch.RpcFail(400, "METHOD_NOT_IMPLEMENTED_BY_FAKE_SERVER")
            with self.server.world.lock:
                result = handler(ctx, request)
            self.stats.user_id = self.auth.user_id
        except dispatch.RpcFail as fail:
            await self._send_rpc_error(msg_id, fail.code, fail.message)
            return
        except Exception:
            # A bug in the fake: answer like a Telegram server error, never leave it hanging.
            log.exception("fake MTProto: handler for %s crashed", name)
            self.server.stats.crashes.append(name)
            await self._send_rpc_error(msg_id, 500, "INTERNAL_SERVER_ERROR")
            return
        finally:
            if is_get_file:
                self.server.stats.in_flight(-1)
        file_bytes = int(ctx.extra.get("file_bytes", 0))
        self.stats.file_bytes_served += file_bytes
        body = struct.pack("<Iq", RPC_RESULT, msg_id) + serialize_result(result)
        await self._send_raw(body, content_related=True, file_bytes=file_bytes)

    async def _send_rpc_error(self, msg_id: int, code: int, message: str) -> None:
        error = bytes(types.RpcError(error_code=code, error_message=message))
        await self._send_raw(struct.pack("<Iq", RPC_RESULT, msg_id) + error, content_related=True)

    async def _throttle_read(self, nbytes: int) -> None:
        """The throughput cap on what the client sends (uploads): hold off reading more,
        so TCP back-pressure slows the client down like a slow link would."""
        cap = self.server.faults.throughput_cap
        if not cap:
            return
        self.stats.capped_bytes_in += nbytes
        now = time.monotonic()
        self._next_free_in = max(self._next_free_in, now - _BURST_S) + nbytes / cap
        if self._next_free_in > now:
            self.stats.throttled_seconds += self._next_free_in - now
            await asyncio.sleep(self._next_free_in - now)

    # -- writing --------------------------------------------------------------------------
    async def _send(
        self, obj: TLObject, *, content_related: bool, response: bool | None = None
    ) -> None:
        await self._send_raw(bytes(obj), content_related=content_related, response=response)

    def _new_msg_id(self, response: bool) -> int:
        now = time.time()
        base = (int(now) << 32) | (int((now % 1) * 1e9) << 2)
        base = max(base & ~3, self._last_msg_base + 4)
        self._last_msg_base = base
        return base | (1 if response else 3)

    def _next_seqno(self, content_related: bool) -> int:
        if content_related:
            self._seq += 1
            return self._seq * 2 - 1
        return self._seq * 2

    async def _send_raw(
        self,
        body: bytes,
        *,
        content_related: bool,
        file_bytes: int = 0,
        response: bool | None = None,
    ) -> None:
        """Encrypt and send one message; pending msgs_acks ride along in a msg_container."""
        assert self.auth is not None and self.session_id is not None
        async with self._write_lock:
            if self._closed:
                return
            is_response = content_related if response is None else response
            inner: list[tuple[int, int, bytes]] = []
            if self._acks and content_related:
                ack = bytes(types.MsgsAck(msg_ids=self._acks))
                self._acks = []
                inner.append((self._new_msg_id(False), self._next_seqno(False), ack))
            inner.append((self._new_msg_id(is_response), self._next_seqno(content_related), body))
            if len(inner) == 1:
                msg_id, seqno, data = inner[0]
            else:
                data = struct.pack("<Ii", MSG_CONTAINER, len(inner)) + b"".join(
                    struct.pack("<qii", m, q, len(b)) + b for m, q, b in inner
                )
                msg_id, seqno = self._new_msg_id(False), self._next_seqno(False)
                self.stats.containers_out += 1
            plain = struct.pack("<qqqii", self.auth.salt, self.session_id, msg_id, seqno, len(data))
            packet = encrypt_server_message(self.auth.key, self.auth.key_id, plain + data)
            await self._write_locked(packet, file_bytes=file_bytes)

    async def _write(self, data: bytes) -> None:
        async with self._write_lock:
            await self._write_locked(data, file_bytes=0)

    async def _write_locked(self, data: bytes, *, file_bytes: int) -> None:
        assert self.codec is not None
        framed = self.codec.encode(data)
        faults = self.server.faults
        counted = file_bytes if faults.drop_counts_file_bytes else len(framed)
        allowed = faults.take_drop(counted) if counted else None
        if allowed is not None:
            # Cut the packet in the middle: the client sees a torn frame, then EOF.
            cut = len(framed) // 2 if faults.drop_counts_file_bytes else allowed
            cut = min(cut, len(framed) - 1)
            self.writer.write(framed[:cut])
            self.stats.bytes_out += cut
            self.stats.dropped = True
            await self.writer.drain()
            log.info("fake MTProto: dropping connection %d (fault switch)", self.stats.number)
            self.close()
            raise _Closed
        cap = faults.throughput_cap
        if not cap:
            self.writer.write(framed)
            self.stats.bytes_out += len(framed)
            await self.writer.drain()
            return
        for start in range(0, len(framed), _CHUNK):
            chunk = framed[start : start + _CHUNK]
            self.writer.write(chunk)
            self.stats.bytes_out += len(chunk)
            self.stats.capped_bytes_out += len(chunk)
            await self.writer.drain()
            now = time.monotonic()
            self._next_free = max(self._next_free, now - _BURST_S) + len(chunk) / cap
            if self._next_free > now:
                self.stats.throttled_seconds += self._next_free - now
                await asyncio.sleep(self._next_free - now)
