"""The chats waiting on a job another chat started (``telegram_waiters``).

One repository for the bot (which adds a waiter and tells it about progress) and the
Telegram deliverer (which sends the result to every waiter once, then marks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from mediaferry.db.models import TelegramWaiter

if TYPE_CHECKING:
    from mediaferry.db.engine import Database

__all__ = ["Waiter", "Waiters"]


@dataclass(frozen=True, slots=True)
class Waiter:
    id: int
    job_id: int
    chat_id: int
    user_id: int | None
    message_id: int | None
    progress_message_id: int | None


class Waiters:
    """Add, list and mark the chats waiting on a job."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        job_id: int,
        chat_id: int,
        *,
        user_id: int | None = None,
        message_id: int | None = None,
        progress_message_id: int | None = None,
    ) -> bool:
        """Register ``chat_id`` as waiting on ``job_id``; False if it already waits."""
        try:
            async with self.db.session() as session:
                session.add(
                    TelegramWaiter(
                        job_id=job_id,
                        chat_id=chat_id,
                        user_id=user_id,
                        message_id=message_id,
                        progress_message_id=progress_message_id,
                        delivered=False,
                    )
                )
        except IntegrityError:
            return False  # this chat already waits on it
        return True

    async def pending(self, job_id: int) -> list[Waiter]:
        """The chats not yet sent the job's result, oldest first."""
        async with self.db.session() as session:
            rows = await session.scalars(
                select(TelegramWaiter)
                .where(TelegramWaiter.job_id == job_id, TelegramWaiter.delivered.is_(False))
                .order_by(TelegramWaiter.id)
            )
            return [
                Waiter(w.id, w.job_id, w.chat_id, w.user_id, w.message_id, w.progress_message_id)
                for w in rows.all()
            ]

    async def mark_delivered(self, waiter_id: int) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(TelegramWaiter).where(TelegramWaiter.id == waiter_id).values(delivered=True)
            )

    async def claim(self, waiter_id: int) -> bool:
        """Mark one waiter served before its copy is sent; False if another did."""
        return await self._flip(waiter_id, delivered=True)

    async def release(self, waiter_id: int) -> None:
        """Its copy could not be sent: hand the waiter back."""
        await self._flip(waiter_id, delivered=False)

    async def _flip(self, waiter_id: int, *, delivered: bool) -> bool:
        async with self.db.session() as session:
            result = await session.execute(
                update(TelegramWaiter)
                .where(TelegramWaiter.id == waiter_id, TelegramWaiter.delivered.is_(not delivered))
                .values(delivered=delivered)
            )
            return bool(getattr(result, "rowcount", 0))
