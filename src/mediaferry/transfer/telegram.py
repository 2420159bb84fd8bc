"""The "telegram" transfer backend: a Telegram document fetched over MTProto.

The message is fetched again first (a fresh file reference): a t.me link's with the
user account, a file sent to the bot (``via: mtproto`` in the plan) with the bot's own
session from its message box. Then
:func:`mediaferry.telegram.download.fetch_document` downloads it in parallel parts,
resuming a ``.part`` left by a former attempt. Flood waits show as a progress note
("Telegram asks to wait N s"), which the job records as an event.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mediaferry.errors import NetworkError
from mediaferry.files.names import sanitize_filename
from mediaferry.transfer.base import Progress, ProgressSink, Transfer, TransferResult

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.plan import MediaPlan
    from mediaferry.telegram.chats import MediaMessage
    from mediaferry.telegram.clients import TelegramClients

__all__ = ["TelegramTransfer"]


class TelegramTransfer(Transfer):
    name: ClassVar[str] = "telegram"
    protocols: ClassVar[tuple[str, ...]] = ("telegram",)

    def __init__(self, settings: Settings, telegram: TelegramClients | None = None) -> None:
        self.settings = settings
        if telegram is None:
            from mediaferry.telegram.clients import TelegramClients

            telegram = TelegramClients(settings)
        self.telegram = telegram

    async def fetch(
        self, plan: MediaPlan, dest_dir: Path, progress: ProgressSink
    ) -> TransferResult:
        from mediaferry.telegram.download import fetch_document

        current, client = await self._reader(plan)

        media = await current()
        name = sanitize_filename(f"{plan.title or media.document_id}.{media.ext}", max_bytes=180)
        dest = dest_dir / name
        started = time.monotonic()
        state: dict[str, int] = {"first": -1, "done": 0}

        def report(done: int, total: int) -> None:
            if state["first"] < 0:
                state["first"] = done
            state["done"] = done
            elapsed = max(time.monotonic() - started, 1e-3)
            speed = max(done - state["first"], 0) / elapsed
            eta = (total - done) / speed if speed > 0 else None
            progress(Progress(done, total, speed or None, eta))

        async def waiting(seconds: float) -> None:
            note = f"Telegram asks to wait {seconds:.0f} s"
            progress(Progress(state["done"], media.size, None, seconds, note))

        fetched = await fetch_document(
            client,
            media,
            dest,
            connections=_connections(plan, self.settings),
            refresh=current,
            on_wait=waiting,
            progress=report,
        )
        if fetched.size != dest.stat().st_size:
            raise NetworkError("the Telegram download is incomplete")
        return TransferResult(dest, fetched.size, self.name)

    async def _reader(self, plan: MediaPlan) -> tuple[Callable[[], Awaitable[MediaMessage]], Any]:
        """How to read the file's message again (a fresh file reference), and the
        client that downloads it: the bot's own session for a file sent to the bot,
        the user account for a t.me link."""
        from mediaferry.telegram._errors import NoMedia
        from mediaferry.telegram.chats import (
            fetch_bot_message,
            fetch_message,
            media_of,
            resolve_chat,
        )
        from mediaferry.telegram.links import parse_message_link

        about = plan.extra.get("telegram")
        if isinstance(about, dict) and about.get("via") == "mtproto":
            chat_id, message_id = int(about["bot_chat_id"]), int(about["message_id"])
            bot = await self.telegram.bot()

            async def sent_to_bot() -> MediaMessage:
                media = media_of(await fetch_bot_message(bot, chat_id, message_id), chat_id)
                if media is None:
                    raise NoMedia("the message sent to the bot no longer holds a file")
                return media

            return sent_to_bot, bot
        link = parse_message_link(plan.url)
        client = await self.telegram.user()
        chat = await resolve_chat(client, link.chat)

        async def current() -> MediaMessage:
            message = await fetch_message(client, chat, link.message_id)
            media = media_of(message, chat.id)
            if media is None:
                raise NoMedia(f"message {link.message_id} of {chat.display} has no file")
            return media

        return current, client

    async def close(self) -> None:
        await self.telegram.close()


def _connections(plan: MediaPlan, settings: Settings) -> int:
    """The job's own ``--parallel`` (kept in its args by ``tg archive``), else
    ``TELEGRAM_CONNECTIONS``."""
    args = plan.extra.get("telegram")
    wanted = args.get("connections") if isinstance(args, dict) else None
    if isinstance(wanted, int) and not isinstance(wanted, bool) and 1 <= wanted <= 16:
        return wanted
    return settings.telegram_connections
