"""TELEGRAM: t.me message links, read with the user account over MTProto.

``describe`` finds the message and its document: title and performer from the
document's audio attributes (else, after download, the file's own tags, else the file
name or caption). A link to one item of an album without ``?single`` becomes one job
per item (as a playlist). The file itself is fetched by the "telegram" transfer
backend and kept byte for byte.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

from mediaferry.errors import UnsupportedSource, UrlRejected
from mediaferry.plan import (
    FALLBACK_TITLE,
    KEEP_ORIGINAL,
    JobRequest,
    MediaPlan,
    PlaylistEntry,
    SourceType,
)
from mediaferry.sources.base import Source

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.telegram.chats import MediaMessage
    from mediaferry.telegram.clients import TelegramClients

__all__ = ["TelegramSource", "plan_for"]


def _caption_title(caption: str) -> str | None:
    line = next((ln.strip() for ln in caption.splitlines() if ln.strip()), "")
    return line[:200] or None


def plan_for(url: str, media: MediaMessage, chat_title: str | None) -> MediaPlan:
    """The plan of one Telegram document (shared with ``tg archive``)."""
    stem = media.file_name.rsplit(".", 1)[0] if media.file_name else None
    # the file's own tags beat a file name or caption (media/original.py)
    fallback = stem or _caption_title(media.caption)
    date = media.date.strftime("%Y%m%d") if media.date else None
    return MediaPlan(
        url=url,
        protocol="telegram",
        title=media.title,
        ext=media.ext,
        size=media.size,
        media_id=f"tgdoc:{media.document_id}",
        duration=media.duration,
        uploader=media.performer,
        upload_date=date,
        width=media.width,
        height=media.height,
        mime=media.mime,
        extra={
            KEEP_ORIGINAL: True,
            FALLBACK_TITLE: fallback,
            "telegram": {
                "chat_id": media.chat_id,
                "chat": chat_title,
                "message_id": media.message_id,
                "document_id": media.document_id,
                "kind": media.kind,
            },
        },
    )


class TelegramSource(Source):
    """A Telegram channel or group message link."""

    name: ClassVar[SourceType] = SourceType.TELEGRAM
    pattern: ClassVar[re.Pattern[str] | None] = re.compile(
        r"^https?://(?:www\.)?(?:t|telegram)\.(?:me|dog)/(?:s/|c/)?"
        r"(?P<chat>[\w+-]+)(?:/(?P<msg>\d+))?",
        re.IGNORECASE,
    )
    example: ClassVar[str] = "https://t.me/some_channel/1234"

    def __init__(self, settings: Settings, telegram: TelegramClients | None = None) -> None:
        super().__init__(settings)
        self._telegram = telegram

    @property
    def telegram(self) -> TelegramClients:
        if self._telegram is None:
            from mediaferry.telegram.clients import TelegramClients

            self._telegram = TelegramClients(self.settings)
        return self._telegram

    def media_id(self, url: str) -> str | None:
        match = self.pattern.search(url) if self.pattern else None
        if match and match.group("msg"):
            # one item of an album (?single) is not the album its message stands for
            single = "?single" if re.search(r"[?&]single(?:[=&]|$)", url) else ""
            return f"{match.group('chat').lower()}/{match.group('msg')}{single}"
        return None

    async def describe(self, request: JobRequest) -> MediaPlan:
        if not self.settings.mtproto_enabled:
            raise UnsupportedSource(
                "Telegram links are not supported yet here: Telegram over MTProto is off "
                "(set MEDIAFERRY_TELEGRAM_API_ID and MEDIAFERRY_TELEGRAM_API_HASH)"
            )
        from mediaferry.telegram._errors import NoMedia
        from mediaferry.telegram.chats import album_of, fetch_message, media_of, resolve_chat
        from mediaferry.telegram.links import message_url, parse_message_link

        try:
            link = parse_message_link(request.url)
        except UrlRejected as exc:
            raise UnsupportedSource(exc.message) from None
        client = await self.telegram.user()
        chat = await resolve_chat(client, link.chat)
        message = await fetch_message(client, chat, link.message_id)
        if message.grouped_id is not None and not link.single:
            items = await album_of(client, chat, message)
            if len(items) > 1:
                return MediaPlan(
                    url=request.url,
                    protocol="telegram",
                    title=chat.title,
                    entries=[
                        PlaylistEntry(
                            message_url(chat.ref, item.message_id, single=True),
                            item.title or item.file_name,
                            f"tgdoc:{item.document_id}",
                        )
                        for item in items
                    ],
                )
        media = media_of(message, chat.id)
        if media is None:
            raise NoMedia(f"message {link.message_id} of {chat.display} has no file")
        if media.size == 0:
            raise NoMedia(f"message {link.message_id} of {chat.display} holds an empty file")
        return plan_for(message_url(chat.ref, media.message_id), media, chat.title)
