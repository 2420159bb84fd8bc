"""The Telethon clients: the user account (reads chats) and the bot over MTProto.

One :class:`TelegramClients` per process, built from the settings and passed down.
Sessions: the user account's in ``DATA_DIR/telegram/user.session`` (or the string
session ``MEDIAFERRY_TELEGRAM_USER_SESSION``), the bot's in
``DATA_DIR/telegram/bot.session``; both files mode 0600 in a 0700 folder.
``MTPROTO_SERVER``/``MTPROTO_DC`` override the address inside any session, keeping its
auth key. Telethon never sleeps on a flood wait by itself here: :func:`call` does, so
the wait is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mediaferry.config import Settings
from mediaferry.errors import ConfigError, RateLimited
from mediaferry.logging import add_secret
from mediaferry.telegram._errors import NotLoggedIn, raise_translated

__all__ = ["FLOOD_MAX_WAIT_S", "TelegramClients", "WaitHook", "call"]

log = logging.getLogger(__name__)

# Flood waits up to this long are slept through (and reported); longer ones end the
# attempt with RATE_LIMIT and the job is retried after ``retry_after``.
FLOOD_MAX_WAIT_S = 300.0
WaitHook = Callable[[float], Awaitable[None]]
_registered_keys: set[bytes] = set()


async def call(
    client: Any,
    request: Any,
    *,
    what: str = "Telegram",
    on_wait: WaitHook | None = None,
    max_wait: float = FLOOD_MAX_WAIT_S,
) -> Any:
    """Invoke one raw request: flood waits honoured (and reported through
    ``on_wait``), every Telethon error translated."""
    from telethon import errors as tl_errors

    for _ in range(8):
        try:
            return await client(request)
        except tl_errors.FloodWaitError as exc:
            seconds = float(exc.seconds)
            if seconds > max_wait:
                raise RateLimited(
                    f"Telegram asks to wait {seconds:.0f} s", retry_after=seconds
                ) from exc
            log.warning("%s: Telegram asks to wait %.0f s", what, seconds)
            if on_wait is not None:
                await on_wait(seconds)
            await asyncio.sleep(seconds)
        except Exception as exc:
            raise_translated(exc, what)
    raise RateLimited("Telegram keeps asking to wait", retry_after=60.0)


def _register_key(path: Path) -> None:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"MEDIAFERRY_TELEGRAM_MTPROTO_PUBLIC_KEY: cannot read {path}: {exc.strerror}"
        ) from None
    if pem in _registered_keys:
        return
    from telethon.crypto import rsa

    try:
        rsa.add_key(pem.decode("ascii"), old=False)
    except Exception:
        raise ConfigError(
            "MEDIAFERRY_TELEGRAM_MTPROTO_PUBLIC_KEY: not a PKCS#1 PEM RSA public key "
            "(BEGIN RSA PUBLIC KEY)"
        ) from None
    _registered_keys.add(pem)


def _private_file(path: Path) -> None:
    """Create ``path`` (and its folder) readable by the owner only, before Telethon
    writes an auth key into it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class TelegramClients:
    """Owns the Telethon clients of this process; connects them on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.data_dir / "telegram"
        self._user: Any = None
        self._bot: Any = None
        self._lock = asyncio.Lock()
        for secret in (settings.telegram_api_hash, settings.telegram_user_session):
            if secret is not None:
                add_secret(secret.get_secret_value())

    @property
    def enabled(self) -> bool:
        return self.settings.mtproto_enabled

    def require(self) -> None:
        """Raise the one-line "it is off" error unless API id and hash are set."""
        if not self.enabled:
            raise ConfigError(self.settings.mtproto_off_reason)

    @property
    def user_session_path(self) -> Path:
        return self.folder / "user.session"

    @property
    def bot_session_path(self) -> Path:
        return self.folder / "bot.session"

    @property
    def uses_string_session(self) -> bool:
        return self.settings.telegram_user_session is not None

    # -- sessions -----------------------------------------------------------
    def _file_session(self, path: Path) -> Any:
        from telethon.sessions import SQLiteSession

        try:
            _private_file(path)
            session = SQLiteSession(str(path))
        except sqlite3.DatabaseError:
            raise NotLoggedIn(
                f"the Telegram session file {path.name} is corrupt; "
                "run `mediaferry tg logout` then `mediaferry tg login`"
            ) from None
        except OSError as exc:  # a folder in its place, no permission, a read-only disk
            raise ConfigError(
                f"the Telegram session file {path} cannot be used: {exc.strerror or exc}"
            ) from None
        return session

    def _string_session(self) -> Any:
        from telethon.sessions import StringSession

        secret = self.settings.telegram_user_session
        assert secret is not None
        try:
            return StringSession(secret.get_secret_value().strip())
        except Exception:
            raise ConfigError(
                "MEDIAFERRY_TELEGRAM_USER_SESSION is not a valid Telethon string session"
            ) from None

    def _point(self, session: Any) -> None:
        """MTPROTO_SERVER/DC win over the address saved in the session (key kept)."""
        server = self.settings.telegram_mtproto_server
        if server is None:
            return
        host, _, port = server.rpartition(":")
        session.set_dc(self.settings.telegram_mtproto_dc, host.strip("[]"), int(port))

    def make_client(self, session: Any) -> Any:
        """A Telethon client for ``session`` with Mediaferry's settings (not connected)."""
        from telethon import TelegramClient
        from telethon.network.connection import ConnectionTcpIntermediate

        self.require()
        if self.settings.telegram_mtproto_public_key is not None:
            _register_key(self.settings.telegram_mtproto_public_key)
        self._point(session)
        api_hash = self.settings.telegram_api_hash
        assert api_hash is not None and self.settings.telegram_api_id is not None
        return TelegramClient(
            session,
            self.settings.telegram_api_id,
            api_hash.get_secret_value(),
            connection=ConnectionTcpIntermediate,
            flood_sleep_threshold=0,  # call() sleeps and reports instead
            receive_updates=False,
            request_retries=3,
            connection_retries=3,
            base_logger="mediaferry.telegram.telethon",
            device_model="Mediaferry",
            app_version="mediaferry",
        )

    def user_session(self) -> Any:
        if self.uses_string_session:
            return self._string_session()
        return self._file_session(self.user_session_path)

    # -- clients ------------------------------------------------------------
    async def connect(self, client: Any) -> None:
        try:
            await client.connect()
        except Exception as exc:
            raise_translated(exc, "connecting to Telegram")

    async def user(self) -> Any:
        """The logged-in user account client; :class:`NotLoggedIn` if there is none."""
        async with self._lock:
            if self._user is None or not self._user.is_connected():
                client = self.make_client(self.user_session())
                await self.connect(client)
                try:
                    me = await call(client, _get_me_request(), what="the Telegram account")
                except NotLoggedIn:
                    await client.disconnect()
                    raise NotLoggedIn() from None
                except BaseException:
                    await client.disconnect()
                    raise
                if not me:
                    await client.disconnect()
                    raise NotLoggedIn()
                self._user = client
            return self._user

    async def bot(self) -> Any:
        """The bot logged in over MTProto with its token (auth.importBotAuthorization)."""
        token = self.settings.telegram_token
        if token is None:
            raise ConfigError("MEDIAFERRY_TELEGRAM_TOKEN is needed for the bot over MTProto")
        async with self._lock:
            if self._bot is None or not self._bot.is_connected():
                client = self.make_client(self._file_session(self.bot_session_path))
                await self.connect(client)
                try:
                    with contextlib.suppress(NotLoggedIn):
                        if await call(client, _get_me_request(), what="the bot over MTProto"):
                            self._bot = client
                            return client
                    await client.sign_in(bot_token=token.get_secret_value())
                except BaseException as exc:
                    await client.disconnect()
                    raise_translated(exc, "the bot's MTProto login")
                self._bot = client
            return self._bot

    async def close(self) -> None:
        clients, self._user, self._bot = [self._user, self._bot], None, None
        for client in clients:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.disconnect()


def _get_me_request() -> Any:
    from telethon.tl import functions, types

    return functions.users.GetUsersRequest([types.InputUserSelf()])
