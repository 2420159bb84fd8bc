"""FakeMTProtoServer: an MTProto 2.0 server on 127.0.0.1 running in its own thread."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import handlers  # noqa: F401  (registers the RPC handlers)
from .crypto import AuthKeyData, ServerRSAKey
from .faults import Faults, Stats
from .session import Connection
from .world import FakeUser, World

__all__ = ["AuthState", "FakeMTProtoServer", "shared_rsa_key"]

log = logging.getLogger(__name__)

_RSA_KEY: ServerRSAKey | None = None
_RSA_LOCK = threading.Lock()


def shared_rsa_key() -> ServerRSAKey:
    """One RSA key per process: generating 2048-bit keys costs a second or more each."""
    global _RSA_KEY
    with _RSA_LOCK:
        if _RSA_KEY is None:
            _RSA_KEY = ServerRSAKey()
        return _RSA_KEY


@dataclass
class AuthState:
    """An authorization key the server knows, and who is logged in with it."""

    key: bytes
    key_id: int
    salt: int
    user_id: int | None = None
    api_id: int | None = None
    sessions: set[int] = field(default_factory=set)
    pending: dict[str, Any] = field(default_factory=dict)  # login in progress


class FakeMTProtoServer:
    """A small Telegram: MTProto 2.0 over TCP on loopback, serving :class:`World`.

    ``start()`` listens on ``host:port`` (port 0: a free one) in a background thread with
    its own event loop, so sync tests, async tests and subprocesses can all talk to it.
    """

    def __init__(
        self,
        world: World | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rsa_key: ServerRSAKey | None = None,
    ) -> None:
        self.world = world or World()
        self.host = host
        self.port = port
        self.rsa_key = rsa_key or shared_rsa_key()
        self.faults = Faults()
        self.stats = Stats()
        self.auth_keys: dict[int, AuthState] = {}
        self.exported_auth: dict[int, tuple[int, bytes]] = {}  # id -> (user id, bytes)
        # Upload parts not yet used in a message, by (account id, client file_id).
        self.pending_uploads: dict[tuple[int, int], Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[Connection] = set()
        self._ready = threading.Event()

    # -- what clients need ----------------------------------------------------------------
    @property
    def dc_id(self) -> int:
        return self.world.dc_id

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def public_key_pem(self) -> str:
        return self.rsa_key.public_pem.decode()

    def write_public_key(self, path: Path) -> Path:
        """Write the PKCS#1 PEM public key (for MEDIAFERRY_TELEGRAM_MTPROTO_PUBLIC_KEY)."""
        return self.rsa_key.write_public(path)

    def prepare_client(self, client: Any) -> Any:
        """Point a stock ``TelegramClient`` at this server: DC address and RSA key."""
        from telethon.crypto import rsa

        rsa.add_key(self.public_key_pem, old=False)
        client.session.set_dc(self.dc_id, self.host, self.port)
        return client

    def register_auth_key(self, key: AuthKeyData, salt: int) -> AuthState:
        state = AuthState(key=key.key, key_id=key.key_id, salt=salt)
        self.auth_keys[key.key_id] = state
        return state

    def session_string(self, user: FakeUser | None = None) -> str:
        """A Telethon StringSession already holding an auth key of this server (logged in
        as ``user`` when given) — what ``MEDIAFERRY_TELEGRAM_USER_SESSION`` takes."""
        from telethon.crypto import AuthKey
        from telethon.sessions import StringSession

        key = AuthKeyData(os.urandom(256))
        auth = self.register_auth_key(key, secrets.randbits(63) - (1 << 62))
        auth.user_id = user.id if user else None
        session = StringSession()
        session.set_dc(self.dc_id, self.host, self.port)
        session.auth_key = AuthKey(key.key)
        saved: str = session.save()
        return saved

    def login(self, auth: AuthState, user_id: int | None) -> None:
        auth.user_id = user_id

    def new_exported_authorization(self, user_id: int) -> tuple[int, bytes]:
        export_id = secrets.randbits(63)
        token = secrets.token_bytes(32)
        self.exported_auth[export_id] = (user_id, token)
        return export_id, token

    def sessions_of(self, user_id: int) -> list[AuthState]:
        return [a for a in self.auth_keys.values() if a.user_id == user_id]

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeMTProtoServer:
        self._thread = threading.Thread(target=self._run, name="fake-mtproto", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("fake MTProto server did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            asyncio.start_server(self._on_client, self.host, self.port)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(self, reader, writer)
        self._connections.add(conn)
        try:
            await conn.run()
        except asyncio.CancelledError:
            # the server is stopping; ending quietly here also keeps Python 3.11's stream
            # callback from printing a traceback for the cancelled handler task
            conn.close()
        finally:
            self._connections.discard(conn)

    def drop_all_connections(self) -> None:
        """Cut every open connection now (like a network blip)."""
        assert self._loop is not None

        def cut() -> None:
            for conn in list(self._connections):
                conn.stats.dropped = True
                conn.close()

        self._loop.call_soon_threadsafe(cut)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for conn in list(self._connections):
                conn.close()
            await asyncio.sleep(0)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeMTProtoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
