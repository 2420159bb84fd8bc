"""Per-chat defaults (``ChatSettings``): job type, quality, ask or not, archive mode."""

from __future__ import annotations

from typing import Any

from mediaferry.db.engine import Database
from mediaferry.db.models import ChatSettings, utcnow

__all__ = ["get_chat_settings", "update_chat_settings"]


def _defaults(chat_id: int) -> ChatSettings:
    return ChatSettings(
        chat_id=chat_id,
        archive_mode=False,
        default_job_type=None,
        default_quality="best",
        ask=True,
        language="en",
    )


async def get_chat_settings(db: Database, chat_id: int) -> ChatSettings:
    async with db.session() as session:
        row = await session.get(ChatSettings, chat_id)
    return row if row is not None else _defaults(chat_id)


async def update_chat_settings(db: Database, chat_id: int, **values: Any) -> ChatSettings:
    async with db.session() as session:
        row = await session.get(ChatSettings, chat_id)
        if row is None:
            row = _defaults(chat_id)
            session.add(row)
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = utcnow()
    return row
