"""The bot's MTProto route (issue 10): files over the Bot API's upload limit are sent
whole (up to 2000 MB) by the bot's own MTProto session instead of being split.

A streamable video goes with duration, dimensions and a thumbnail; audio with title,
performer and cover. The ``random_id`` of each send is saved on the job before the
first try, so a retried delivery is refused by Telegram as a duplicate instead of
posting the file twice. The sent document (id, access hash, file reference) is what
the re-send cache keeps (``telegram_file_id`` = ``mtproto:<id>:<hash>:<reference>``):
a Bot API file_id cannot point at it. Sends take a slot of the one send path's budgets
(:mod:`mediaferry.delivery.ratelimit`) and report flood waits to it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from mediaferry.config import Settings
from mediaferry.delivery.ratelimit import Priority, SendLimiter
from mediaferry.errors import SizeLimitExceeded

if TYPE_CHECKING:
    from mediaferry.db.models import Job
    from mediaferry.media.result import Processed
    from mediaferry.telegram.clients import TelegramClients

__all__ = [
    "MTPROTO_LIMIT",
    "PREFIX",
    "RANDOM_IDS_EVENT",
    "MtprotoRoute",
    "is_mtproto_id",
    "mtproto_available",
]

log = logging.getLogger(__name__)

PREFIX = "mtproto:"
MTPROTO_LIMIT = 2000 * 1024 * 1024
RANDOM_IDS_EVENT = "MTPROTO_RANDOM_IDS"  # recorded before the first send of a delivery


def mtproto_available(settings: Settings) -> bool:
    """The bot can send over MTProto: a bot token and API id/hash are set."""
    return settings.bot_mtproto_enabled


def is_mtproto_id(value: str) -> bool:
    return value.startswith(PREFIX)


def _encode(sent: Any) -> str:
    return f"{PREFIX}{sent.document_id}:{sent.access_hash}:{sent.file_reference.hex()}"


def _decode(value: str) -> Any:
    from mediaferry.telegram.upload import SentDocument

    doc, hash_, ref = value.removeprefix(PREFIX).split(":")
    return SentDocument(None, int(doc), int(hash_), bytes.fromhex(ref))


class MtprotoRoute:
    """Sends a job's result (or re-sends a stored document) through the bot's MTProto
    session, inside the send path's budgets."""

    def __init__(self, settings: Settings, telegram: TelegramClients, limiter: SendLimiter) -> None:
        self.settings = settings
        self.telegram = telegram
        self.limiter = limiter

    def wanted(self, processed: Processed) -> bool:
        """Over the Bot API's limit and within MTProto's: this route."""
        limit = self.settings.upload_limit_bytes
        return any(p.size > limit for p in processed.parts)

    @staticmethod
    def random_ids(processed: Processed, earlier: list[int] | None) -> list[int]:
        """The random_ids of this delivery: the earlier attempt's, else new ones (the
        caller records them before the first send, so a retry re-uses them)."""
        from mediaferry.telegram.upload import new_random_id

        if earlier and len(earlier) == len(processed.parts):
            return list(earlier)
        return [new_random_id() for _ in processed.parts]

    async def send(
        self,
        job: Job,
        processed: Processed,
        chat_id: int,
        randoms: list[int],
        caption: str,
    ) -> list[str]:
        from mediaferry.telegram.upload import bot_peer, send_file

        if any(p.size > MTPROTO_LIMIT for p in processed.parts):
            raise SizeLimitExceeded("the file is over Telegram's 2000 MB limit")
        client = await self.telegram.bot()

        async def flooded(seconds: float) -> None:
            self.limiter.flood(chat_id, seconds)

        peer = await bot_peer(client, chat_id, on_wait=flooded)
        ids: list[str] = []
        for part, random_id in zip(processed.parts, randoms, strict=True):

            def slot() -> AbstractAsyncContextManager[None]:
                return self.limiter.slot(chat_id, Priority.RESULT)

            sent = await send_file(
                client, peer, part.path, kind=processed.kind, random_id=random_id,
                caption=caption, title=processed.title, performer=processed.performer,
                duration=part.duration, width=part.width, height=part.height,
                thumbnail=part.thumbnail, connections=self.settings.telegram_connections,
                on_wait=flooded, send_slot=slot,
            )  # fmt: skip
            if sent is None:  # a retried send Telegram already had: delivered, not twice
                log.info("delivery already in the chat (random_id seen)", extra={"job_id": job.id})
                continue
            ids.append(_encode(sent))
        log.info("sent over MTProto: %d file(s)", len(ids), extra={"job_id": job.id})
        return ids

    async def resend(self, ids: Sequence[str], chat_id: int, caption: str) -> None:
        """Send stored documents again: no upload, no download."""
        from mediaferry.telegram.upload import bot_peer, new_random_id, resend_document

        client = await self.telegram.bot()

        async def flooded(seconds: float) -> None:
            self.limiter.flood(chat_id, seconds)

        peer = await bot_peer(client, chat_id, on_wait=flooded)
        for value in ids:
            async with self.limiter.slot(chat_id, Priority.RESULT):
                await resend_document(
                    client, peer, _decode(value), random_id=new_random_id(),
                    caption=caption, on_wait=flooded,
                )  # fmt: skip
