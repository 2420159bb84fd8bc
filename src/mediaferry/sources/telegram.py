"""TELEGRAM: t.me message links, read with the user account over MTProto, and files
sent or forwarded to the bot (issue 10).

``describe`` finds the message and its document: title and performer from the
document's audio attributes (else, after download, the file's own tags, else the file
name or caption). A link to one item of an album without ``?single`` becomes one job
per item (as a playlist). The file itself is fetched by the "telegram" transfer
backend and kept byte for byte.

A file sent to the bot (``JobRequest.bot_file``) is read by the bot's own MTProto
session when it has one (by its Bot API message id: ``messages.getMessages`` in a
private chat or basic group, ``channels.getMessages`` in a supergroup or channel; up
to 2000 MB), else through the Bot API's ``getFile`` (up to 20 MB, the Bot API's cap).
It is kept byte for byte, except that an audio job of a video extracts its sound.
"""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, ClassVar, Literal

from mediaferry.errors import SizeLimitExceeded, UnsupportedSource, UrlRejected
from mediaferry.plan import (
    BOTAPI_FILE_LIMIT,
    FALLBACK_TITLE,
    KEEP_ORIGINAL,
    NEEDS_MTPROTO,
    BotFile,
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

__all__ = [
    "MTPROTO_FILE_LIMIT",
    "TelegramSource",
    "bot_file_route",
    "bot_file_title",
    "plan_for",
]

MTPROTO_FILE_LIMIT = 2000 * 1024 * 1024  # Telegram's file size limit
_KIND_EXT = {"audio": "mp3", "voice": "ogg", "video": "mp4", "video_note": "mp4",
             "animation": "mp4"}  # fmt: skip


def bot_file_route(settings: Settings, file: BotFile) -> Literal["mtproto", "botapi"]:
    """How a file sent to the bot is fetched: by the bot's MTProto session when it has
    one, in any chat the bot is in (a private chat or basic group: ``messages.getMessages``
    in the bot's own message box; a supergroup or channel: ``channels.getMessages``),
    else with the Bot API's ``getFile``."""
    del file  # every chat the bot gets a file in can be read over MTProto
    return "mtproto" if settings.bot_mtproto_enabled else "botapi"


def bot_file_title(file: BotFile) -> str | None:
    """The file's own title, else its name without extension, else its caption's
    first line."""
    if file.title:
        return file.title
    if file.file_name:
        return file.file_name.rsplit(".", 1)[0] or file.file_name
    return _caption_title(file.caption)


def _ext(file_name: str | None, mime: str | None, kind: str) -> str:
    if file_name and "." in file_name:
        return file_name.rsplit(".", 1)[1].lower()[:10]
    guessed = mimetypes.guess_extension((mime or "").split(";")[0].strip().lower())
    return (guessed or "").lstrip(".") or _KIND_EXT.get(kind, "bin")


def _caption_title(caption: str) -> str | None:
    line = next((ln.strip() for ln in caption.splitlines() if ln.strip()), "")
    return line[:200] or None


def plan_for(
    url: str, media: MediaMessage, chat_title: str | None, username: str | None = None
) -> MediaPlan:
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
                "username": username,
                "message_id": media.message_id,
                "document_id": media.document_id,
                "access_hash": media.access_hash,
                "grouped_id": media.grouped_id,  # an album's item (jobs/tg_documents.py)
                "kind": media.kind,
                "caption": media.caption[:1000],
                "date": media.date.isoformat() if media.date else None,
            },
        },
    )


class TelegramSource(Source):
    """A Telegram channel or group message link."""

    name: ClassVar[SourceType] = SourceType.TELEGRAM
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

    async def describe(self, request: JobRequest) -> MediaPlan:
        if request.bot_file is not None:
            return await self._describe_bot_file(request, request.bot_file)
        if not self.settings.mtproto_enabled:
            raise UnsupportedSource(self.settings.mtproto_off_reason)
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
        return plan_for(message_url(chat.ref, media.message_id), media, chat.title, chat.username)

    async def _describe_bot_file(self, request: JobRequest, file: BotFile) -> MediaPlan:
        """A file sent to the bot: its message read again over MTProto (the bot's
        session), or its Bot API description (fetched with ``getFile``)."""
        from mediaferry.telegram._errors import NoMedia

        if file.size == 0:
            raise NoMedia("the file is empty (0 bytes)")
        route = bot_file_route(self.settings, file)
        telegram: dict[str, object] = {
            "bot_chat_id": file.chat_id, "message_id": file.message_id, "kind": file.kind,
            "via": route, "chat": file.origin, "performer": file.performer or file.origin,
        }  # fmt: skip
        size, mime, name = file.size, file.mime, file.file_name
        duration, width, height = file.duration, file.width, file.height
        title, performer = file.title, file.performer
        if route == "mtproto":
            from mediaferry.telegram.chats import fetch_bot_message, media_of

            client = await self.telegram.bot()
            message = await fetch_bot_message(client, file.chat_id, file.message_id)
            media = media_of(message, file.chat_id)
            if media is None:
                raise NoMedia("the message no longer holds a file")
            if file.size is not None and media.size != file.size:
                raise NoMedia("the message now holds another file")
            if media.size > MTPROTO_FILE_LIMIT:
                raise SizeLimitExceeded("Telegram files over 2000 MB cannot be fetched")
            size, mime, name = media.size, media.mime or mime, media.file_name or name
            duration, width = media.duration or duration, media.width or width
            height, title = media.height or height, media.title or title
            performer = media.performer or performer
            telegram["document_id"] = media.document_id
            protocol = "telegram"
        else:
            if size is not None and size > BOTAPI_FILE_LIMIT:
                raise SizeLimitExceeded(NEEDS_MTPROTO)
            telegram["file_id"] = file.file_id
            protocol = "telegram-botapi"
        extra: dict[str, object] = {
            FALLBACK_TITLE: bot_file_title(file),
            "telegram": telegram,
        }
        audio_of_video = request.job_type == "audio" and file.is_video
        if not audio_of_video:  # kept byte for byte; an audio job of a video extracts
            extra[KEEP_ORIGINAL] = True
        date = (file.date or "")[:10].replace("-", "") or None
        return MediaPlan(
            url=request.url,
            protocol=protocol,
            title=title or (bot_file_title(file) if audio_of_video else None),
            ext=_ext(name, mime, file.kind),
            size=size,
            media_id=f"tgfile:{file.file_unique_id}",
            duration=duration,
            uploader=performer or file.origin,
            upload_date=date,
            width=width,
            height=height,
            mime=mime,
            extra=extra,
        )
