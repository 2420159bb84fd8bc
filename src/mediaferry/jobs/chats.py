"""Per-chat defaults (``chat_settings``): job type, quality, ask or not, archive mode.

The core service the bot calls for ``/settings``, ``/archive_on`` and the keyboard's
defaults; it hands back plain :class:`ChatPrefs`, never ORM rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mediaferry.db.models import ChatSettings, utcnow

if TYPE_CHECKING:
    from mediaferry.db.engine import Database

__all__ = ["ChatPrefs", "ChatSettingsService"]

_FIELDS = ("archive_mode", "default_job_type", "default_quality", "ask", "language")


@dataclass(frozen=True, slots=True)
class ChatPrefs:
    chat_id: int
    archive_mode: bool = False
    default_job_type: str | None = None  # None: ask
    default_quality: str = "best"
    ask: bool = True
    language: str = "en"


def _prefs(row: ChatSettings) -> ChatPrefs:
    return ChatPrefs(
        chat_id=row.chat_id,
        archive_mode=bool(row.archive_mode),
        default_job_type=row.default_job_type,
        default_quality=row.default_quality or "best",
        ask=bool(row.ask) if row.ask is not None else True,
        language=row.language or "en",
    )


class ChatSettingsService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, chat_id: int) -> ChatPrefs:
        """The chat's settings, or the defaults for a chat that never set any."""
        async with self.db.session() as session:
            row = await session.get(ChatSettings, chat_id)
        return _prefs(row) if row is not None else ChatPrefs(chat_id)

    async def update(self, chat_id: int, **values: Any) -> ChatPrefs:
        """Change some settings (``archive_mode``, ``default_job_type``, ...)."""
        unknown = set(values) - set(_FIELDS)
        if unknown:
            raise ValueError(f"not chat settings: {sorted(unknown)}")
        async with self.db.session() as session:
            row = await session.get(ChatSettings, chat_id)
            if row is None:
                defaults = ChatPrefs(chat_id)
                row = ChatSettings(chat_id=chat_id, **{f: getattr(defaults, f) for f in _FIELDS})
                session.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            return _prefs(row)
