"""A fake Telegram MTProto server for tests and benchmarks (see COORDINATION.md).

    server = FakeMTProtoServer().start()          # or the ``fake_mtproto`` fixture
    bot = server.world.add_bot("mediabot")
    client = server.prepare_client(TelegramClient(StringSession(), 1, "hash"))
    await client.start(bot_token=bot.bot_token)

Modules: ``transport`` (TCP framings), ``crypto`` + ``handshake`` (RSA, DH, AES-IGE,
MTProto 2.0 keys), ``session`` (one connection: decrypt, containers, acks, pings, RPC
dispatch), ``world`` (users, channels, messages, documents), ``handlers/`` (the RPC
methods), ``faults`` (fault switches and counters), ``server`` (the listener thread).
"""

from __future__ import annotations

from .dispatch import RpcFail
from .faults import ConnectionStats, Faults, Stats
from .server import AuthState, FakeMTProtoServer, shared_rsa_key
from .world import (
    FakeChannel,
    FakeDocument,
    FakeGroup,
    FakeMessage,
    FakePhoto,
    FakeUser,
    World,
)

__all__ = [
    "AuthState",
    "ConnectionStats",
    "FakeChannel",
    "FakeDocument",
    "FakeGroup",
    "FakeMTProtoServer",
    "FakeMessage",
    "FakePhoto",
    "FakeUser",
    "Faults",
    "RpcFail",
    "Stats",
    "World",
    "shared_rsa_key",
]
