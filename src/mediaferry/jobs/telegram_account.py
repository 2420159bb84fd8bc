"""The Telegram user account Mediaferry reads chats with, as the interfaces see it
(``mediaferry tg login|logout|whoami|chats``).

Each call opens the MTProto clients (:mod:`mediaferry.telegram`), does its one thing
and closes them again; errors arrive as Mediaferry's (``AuthError`` for a bad code,
password or session, ``ConfigError`` when MTProto is off).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from mediaferry.telegram import account
from mediaferry.telegram.chats import Chat, dialogs
from mediaferry.telegram.clients import TelegramClients

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["Account", "Chat", "TelegramAccount"]

Account = account.Account
T = TypeVar("T")


class TelegramAccount:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def _with_clients(self, work: Callable[[TelegramClients], Awaitable[T]]) -> T:
        clients = TelegramClients(self.settings)
        try:
            return await work(clients)
        finally:
            await clients.close()

    async def login(self, ask: account.Ask) -> account.Account:
        """Interactive login (phone, code, 2FA password asked through ``ask``)."""
        return await self._with_clients(lambda c: account.login(c, ask))

    async def logout(self) -> bool:
        """Log out at Telegram and delete the session; False if there was none."""
        return bool(await self._with_clients(account.logout))

    async def whoami(self) -> account.Account:
        return await self._with_clients(account.whoami)

    async def chats(self) -> list[Chat]:
        """The account's channels and groups."""

        async def listed(clients: TelegramClients) -> list[Chat]:
            return await dialogs(await clients.user())

        return await self._with_clients(listed)
