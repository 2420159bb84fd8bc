"""The library as the interfaces see it: search archived media, fetch one item.

A thin core service over :mod:`mediaferry.db.library`, so the web API (and any other
interface) asks the core instead of holding the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mediaferry.db.library import LibraryQueryError, parse_size, search_library, telegram_chat_ids
from mediaferry.db.models import MediaItem

if TYPE_CHECKING:
    from mediaferry.db.engine import Database

__all__ = ["Library", "LibraryQueryError", "parse_size"]


class Library:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(self, query: str, **filters: Any) -> list[MediaItem]:
        """Items matching ``query``; see :func:`~mediaferry.db.library.search_library`
        for the filters. Raises ``LibraryQueryError`` (a ValueError) for a bad query."""
        return await search_library(self.db, query, **filters)

    async def item(self, item_id: int) -> MediaItem | None:
        async with self.db.session() as session:
            return await session.get(MediaItem, item_id)

    async def chat_ids(self, name: str) -> list[int]:
        """Ids of the archived Telegram chats called ``name`` (@username, username,
        title or the id itself), for a search by chat."""
        return await telegram_chat_ids(self.db, name)

    async def chat_filter(self, chat: str) -> dict[str, Any]:
        """The :meth:`search` filters for ``chat`` as a user names it: a Telegram chat's
        @name, title, ``-100<id>`` or bare id (items archived from it), or a bot chat's
        id (items asked for there); a number may be either."""
        value = chat.strip()
        numeric = value.removeprefix("-").isdigit()
        return {
            "chat_id": int(value) if numeric else None,
            "channel_ids": await self.chat_ids(value),
        }
