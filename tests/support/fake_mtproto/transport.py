"""MTProto TCP transports, server side: full, intermediate (plain and padded), abridged.

The first bytes a client writes choose the transport, as on Telegram's servers:
``0xef`` abridged, ``0xeeeeeeee`` intermediate, ``0xdddddddd`` padded intermediate, anything
else is the full transport (length, sequence number, CRC32). Obfuscated transports are not
spoken; such a client is disconnected.
"""

from __future__ import annotations

import asyncio
import os
import struct
from zlib import crc32

__all__ = ["Codec", "TransportError", "detect_codec"]


class TransportError(Exception):
    """The byte stream broke the transport's framing rules; the connection is closed."""


class Codec:
    """Reads and writes one framed packet at a time."""

    name = "?"

    async def read_packet(self, reader: asyncio.StreamReader) -> bytes:
        raise NotImplementedError

    def encode(self, data: bytes) -> bytes:
        raise NotImplementedError


class FullCodec(Codec):
    name = "full"

    def __init__(self, first: bytes) -> None:
        self._first = first
        self._recv_seq = 0
        self._send_seq = 0

    async def read_packet(self, reader: asyncio.StreamReader) -> bytes:
        if self._first:
            head, self._first = self._first, b""
        else:
            head = await reader.readexactly(4)
        head += await reader.readexactly(4)
        length, seq = struct.unpack("<ii", head)
        if length < 12 or length > 16 * 1024 * 1024:
            raise TransportError(f"bad full-transport length {length}")
        if seq != self._recv_seq:
            raise TransportError(f"full transport: sequence {seq}, expected {self._recv_seq}")
        self._recv_seq += 1
        rest = await reader.readexactly(length - 8)
        body, crc = rest[:-4], struct.unpack("<I", rest[-4:])[0]
        if crc32(head + body) != crc:
            raise TransportError("full transport: CRC32 mismatch")
        return body

    def encode(self, data: bytes) -> bytes:
        packet = struct.pack("<ii", len(data) + 12, self._send_seq) + data
        self._send_seq += 1
        return packet + struct.pack("<I", crc32(packet))


class IntermediateCodec(Codec):
    name = "intermediate"

    def __init__(self, padded: bool = False) -> None:
        self._padded = padded
        if padded:
            self.name = "padded-intermediate"

    async def read_packet(self, reader: asyncio.StreamReader) -> bytes:
        (length,) = struct.unpack("<i", await reader.readexactly(4))
        if length <= 0 or length > 16 * 1024 * 1024:
            raise TransportError(f"bad intermediate length {length}")
        data = await reader.readexactly(length)
        if self._padded and len(data) % 4:
            data = data[: len(data) - len(data) % 4]
        return data

    def encode(self, data: bytes) -> bytes:
        if self._padded:
            data += os.urandom(int.from_bytes(os.urandom(1), "big") % 4)
        return struct.pack("<i", len(data)) + data


class AbridgedCodec(Codec):
    name = "abridged"

    async def read_packet(self, reader: asyncio.StreamReader) -> bytes:
        first = (await reader.readexactly(1))[0] & 0x7F  # the high bit asks for a quick ack
        length = first
        if first == 0x7F:
            length = int.from_bytes(await reader.readexactly(3), "little")
        if length == 0:
            raise TransportError("abridged: empty packet")
        return await reader.readexactly(length * 4)

    def encode(self, data: bytes) -> bytes:
        words = len(data) // 4
        if words < 0x7F:
            return bytes([words]) + data
        return b"\x7f" + words.to_bytes(3, "little") + data


async def detect_codec(reader: asyncio.StreamReader) -> Codec:
    """Read the transport tag (or the first full-transport length) and pick the codec."""
    first = await reader.readexactly(1)
    if first == b"\xef":
        return AbridgedCodec()
    head = first + await reader.readexactly(3)
    if head == b"\xee\xee\xee\xee":
        return IntermediateCodec()
    if head == b"\xdd\xdd\xdd\xdd":
        return IntermediateCodec(padded=True)
    (length,) = struct.unpack("<i", head)
    if 12 <= length <= 16 * 1024 * 1024:
        return FullCodec(head)
    raise TransportError("unknown transport (obfuscated transports are not supported)")
