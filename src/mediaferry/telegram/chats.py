"""Chats and their media messages: resolve what a user typed, list media (paged, no
sleep between pages, server-side filters), fetch one message again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from telethon import utils as tl_utils
from telethon.tl import functions, types

from mediaferry.telegram._errors import ChatNotFound, NoMedia, translate
from mediaferry.telegram.clients import WaitHook, call
from mediaferry.telegram.links import KINDS, ChatRef, Kind
from mediaferry.telegram.upload import bot_peer

__all__ = [
    "KINDS",
    "Chat",
    "Kind",
    "MediaMessage",
    "dialogs",
    "fetch_bot_message",
    "fetch_message",
    "iter_media",
    "media_of",
    "resolve_chat",
]

log = logging.getLogger(__name__)

PAGE = 100
WINDOW = 4  # pages asked at once (add_offset): Telegram answers one while we read another

_FILTERS: dict[str, Any] = {
    "audio": types.InputMessagesFilterMusic,
    "voice": types.InputMessagesFilterVoice,
    "video": types.InputMessagesFilterVideo,
    "document": types.InputMessagesFilterDocument,
}


@dataclass(slots=True)
class Chat:
    """A resolved chat. ``id`` is the bare id (channel id for channels)."""

    id: int
    kind: Literal["channel", "group", "user"]
    title: str | None
    username: str | None
    peer: Any = field(repr=False)  # an InputPeer, only for this package
    supergroup: bool = False  # a "channel" that is a group (megagroup)

    @property
    def ref(self) -> ChatRef:
        if self.username:
            return ChatRef(username=self.username)
        if self.kind == "channel":
            return ChatRef(channel_id=self.id)
        return ChatRef(peer_id=self.id)

    @property
    def display(self) -> str:
        return self.title or (f"@{self.username}" if self.username else str(self.id))


@dataclass(slots=True)
class MediaMessage:
    """One message's file, as plain data."""

    chat_id: int
    message_id: int
    date: datetime | None
    caption: str
    grouped_id: int | None
    kind: Literal["audio", "voice", "video", "document"]
    document_id: int
    access_hash: int
    file_reference: bytes = field(repr=False)
    dc_id: int
    size: int
    mime: str | None
    file_name: str | None
    title: str | None = None
    performer: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    supports_streaming: bool = False

    @property
    def ext(self) -> str:
        if self.file_name and "." in self.file_name:
            return self.file_name.rsplit(".", 1)[1].lower()[:10]
        guessed = _EXT_BY_MIME.get((self.mime or "").lower())
        return guessed or ("ogg" if self.kind == "voice" else "bin")


_EXT_BY_MIME = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/wav": "wav",
    "video/mp4": "mp4",
    "video/x-matroska": "mkv",
    "video/webm": "webm",
    "application/pdf": "pdf",
    "application/zip": "zip",
}


def media_of(message: Any, chat_id: int) -> MediaMessage | None:
    """The document of a message as :class:`MediaMessage`; None for text or photos."""
    media = getattr(message, "media", None)
    if not isinstance(media, types.MessageMediaDocument):
        return None
    doc = media.document
    if not isinstance(doc, types.Document):
        return None
    kind: Literal["audio", "voice", "video", "document"] = "document"
    out: dict[str, Any] = {}
    name = None
    for attr in doc.attributes or []:
        if isinstance(attr, types.DocumentAttributeAudio):
            kind = "voice" if attr.voice else "audio"
            out.update(title=attr.title or None, performer=attr.performer or None)
            out["duration"] = float(attr.duration) if attr.duration else None
        elif isinstance(attr, types.DocumentAttributeVideo) and kind == "document":
            kind = "video"
            out.update(duration=float(attr.duration) if attr.duration else None)
            out.update(width=attr.w or None, height=attr.h or None)
            out["supports_streaming"] = bool(attr.supports_streaming)
        elif isinstance(attr, types.DocumentAttributeFilename):
            name = attr.file_name
    when = message.date
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return MediaMessage(
        chat_id=chat_id,
        message_id=int(message.id),
        date=when,
        caption=message.message or "",
        grouped_id=message.grouped_id,
        kind=kind,
        document_id=int(doc.id),
        access_hash=int(doc.access_hash),
        file_reference=bytes(doc.file_reference or b""),
        dc_id=int(doc.dc_id),
        size=int(doc.size),
        mime=doc.mime_type or None,
        file_name=name,
        **out,
    )


def _chat_from_entity(entity: Any) -> Chat:
    if isinstance(entity, types.Channel):
        kind: Literal["channel", "group", "user"] = "channel"
        title, username = entity.title, entity.username
    elif isinstance(entity, types.Chat):
        kind, title, username = "group", entity.title, None
    elif isinstance(entity, types.User):
        kind = "user"
        title = " ".join(p for p in (entity.first_name, entity.last_name) if p) or None
        username = entity.username
    elif isinstance(entity, types.ChannelForbidden | types.ChatForbidden):
        raise ChatNotFound(f"the chat {entity.title!r} is private to this account")
    else:
        raise ChatNotFound("no such chat, or this account cannot see it")
    return Chat(
        int(entity.id), kind, title, (username or "").lower() or None,
        tl_utils.get_input_peer(entity), bool(getattr(entity, "megagroup", False)),
    )  # fmt: skip


async def resolve_chat(client: Any, ref: ChatRef, *, on_wait: WaitHook | None = None) -> Chat:
    """The chat ``ref`` names, as this account sees it (:class:`ChatNotFound` if none;
    AUTH_ERROR for a private chat). Remembered per client: archiving a chat resolves it
    once, not once per message (Telegram rate-limits ``contacts.resolveUsername``)."""
    cache: dict[str, Chat] | None = getattr(client, "_mediaferry_chats", None)
    if cache is None:
        cache = {}
        client._mediaferry_chats = cache
    if str(ref) in cache:
        return cache[str(ref)]
    chat = await _resolve(client, ref, on_wait)
    cache[str(ref)] = chat
    return chat


async def _resolve(client: Any, ref: ChatRef, on_wait: WaitHook | None) -> Chat:
    what = f"chat {ref}"
    if ref.username:
        found = await call(
            client, functions.contacts.ResolveUsernameRequest(ref.username), what=what,
            on_wait=on_wait,
        )  # fmt: skip
        peer_id = tl_utils.get_peer_id(found.peer, add_mark=False)
        for entity in [*found.chats, *found.users]:
            if int(entity.id) == peer_id:
                return _chat_from_entity(entity)
        raise ChatNotFound(f"no chat @{ref.username}")
    candidates: list[Any]
    if ref.channel_id is not None:
        candidates = [types.PeerChannel(ref.channel_id)]
    else:
        assert ref.peer_id is not None
        pid = ref.peer_id
        candidates = (
            [types.PeerChat(-pid)]
            if pid < 0
            else [types.PeerChannel(pid), types.PeerChat(pid), types.PeerUser(pid)]
        )
    for attempt in range(2):
        for peer in candidates:
            try:
                entity = await client.get_entity(peer)
            except ValueError:
                continue  # not in this session's cache
            except Exception as exc:
                error = translate(exc, what)
                if isinstance(error, ChatNotFound) and len(candidates) > 1:
                    continue  # a bare id: not a basic group (CHAT_ID_INVALID), try the next
                raise error from exc
            return _chat_from_entity(entity)
        if attempt == 0:  # learn the account's chats (and their access hashes) once
            await dialogs(client, on_wait=on_wait)
    raise ChatNotFound(f"{what}: no such chat, or this account cannot see it")


async def dialogs(client: Any, *, on_wait: WaitHook | None = None) -> list[Chat]:
    """The account's channels and groups (every page; Telethon caches their hashes)."""
    out: list[Chat] = []
    try:
        async for dialog in client.iter_dialogs():
            entity = dialog.entity
            if isinstance(entity, types.Channel | types.Chat):
                out.append(_chat_from_entity(entity))
    except Exception as exc:
        raise translate(exc, "listing chats") from exc
    return out


def _day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


async def iter_media(
    client: Any,
    chat: Chat,
    *,
    kind: Kind = "all",
    search: str | None = None,
    since: date | None = None,
    until: date | None = None,
    min_id: int = 0,
    limit: int | None = None,
    on_wait: WaitHook | None = None,
) -> AsyncIterator[list[MediaMessage]]:
    """Pages (newest first) of the chat's media messages newer than ``min_id``.

    Raw ``messages.getHistory`` / ``messages.search`` requests, no pause between pages
    (Telethon's iterators sleep 1 s per page). ``until`` is inclusive."""
    since_dt = _day_start(since)
    until_dt = _day_start(until + timedelta(days=1)) if until else None
    server_filter = _FILTERS.get(kind)
    use_search = server_filter is not None or bool(search)
    what = f"chat {chat.display}"

    def request(offset_id: int, add_offset: int) -> Any:
        if use_search:
            return functions.messages.SearchRequest(
                peer=chat.peer, q=search or "",
                filter=(server_filter or types.InputMessagesFilterEmpty)(),
                min_date=since_dt, max_date=until_dt, offset_id=offset_id,
                add_offset=add_offset, limit=PAGE, max_id=0, min_id=min_id, hash=0,
            )  # fmt: skip
        return functions.messages.GetHistoryRequest(
            peer=chat.peer, offset_id=offset_id,
            offset_date=until_dt if offset_id == 0 else None, add_offset=add_offset,
            limit=PAGE, max_id=0, min_id=min_id, hash=0,
        )  # fmt: skip

    found = 0
    offset_id = 0
    window = 1  # the first page alone; then WINDOW pages at once below the last one seen
    while True:
        results = await asyncio.gather(
            *(
                call(client, request(offset_id, k * PAGE), what=what, on_wait=on_wait)
                for k in range(window)
            )
        )
        window = WINDOW
        for result in results:
            if not result.messages:
                return
            page: list[MediaMessage] = []
            stop = False
            for message in result.messages:
                if not isinstance(message, types.Message):
                    continue
                if message.id <= min_id:
                    stop = True
                    break
                when = message.date if message.date.tzinfo else message.date.replace(tzinfo=UTC)
                if since_dt is not None and when < since_dt:
                    stop = True
                    break
                if until_dt is not None and when >= until_dt:
                    continue
                item = media_of(message, chat.id)
                if item is None or (kind != "all" and item.kind != kind):
                    continue
                page.append(item)
                found += 1
                if limit is not None and found >= limit:
                    stop = True
                    break
            if page:
                yield page
            lowest = min(int(m.id) for m in result.messages)
            if stop or lowest <= max(min_id, 1) or (offset_id and lowest >= offset_id):
                return
            offset_id = lowest


def _get_messages(peer: Any, ids: list[int]) -> Any:
    """Messages by id: a channel's or supergroup's own ids (``channels.getMessages``),
    else ids in the account's own box (``messages.getMessages``)."""
    wanted = [types.InputMessageID(i) for i in ids]
    if isinstance(peer, types.InputPeerChannel):
        channel = types.InputChannel(peer.channel_id, peer.access_hash)
        return functions.channels.GetMessagesRequest(channel, wanted)
    return functions.messages.GetMessagesRequest(wanted)


async def fetch_message(
    client: Any, chat: Chat, message_id: int, *, on_wait: WaitHook | None = None
) -> Any:
    """One message, fetched again (fresh file reference). :class:`NoMedia` if gone."""
    what = f"message {message_id} of {chat.display}"
    request = _get_messages(chat.peer, [message_id])
    result = await call(client, request, what=what, on_wait=on_wait)
    for message in result.messages:
        if isinstance(message, types.Message) and message.id == message_id:
            return message
    raise NoMedia(f"{what} does not exist (deleted, or never there)")


async def fetch_bot_message(
    client: Any, chat_id: int, message_id: int, *, on_wait: WaitHook | None = None
) -> Any:
    """A message in one of the bot's chats (a Bot API chat id), by its Bot API message
    id. A private chat's or basic group's ids live in the bot's own message box
    (``messages.getMessages``); a supergroup or channel (``-100<id>``) has its own ids,
    read with ``channels.getMessages`` and the bot's own access hash of the chat
    (:func:`~mediaferry.telegram.upload.bot_peer`, learned once per client).
    :class:`NoMedia` if the message is gone, or if that id belongs to another chat than
    ``chat_id``; :class:`ChatNotFound` if the bot is not in the chat."""
    what = f"message {message_id} of chat {chat_id} with the bot"
    peer = await bot_peer(client, chat_id, on_wait=on_wait)
    result = await call(client, _get_messages(peer, [message_id]), what=what, on_wait=on_wait)
    for message in result.messages:
        if isinstance(message, types.Message) and message.id == message_id:
            if tl_utils.get_peer_id(message.peer_id) != chat_id:
                break  # another chat's message: not this job's to read
            return message
    raise NoMedia(f"{what} does not exist (deleted, or never there)")


async def album_of(
    client: Any, chat: Chat, message: Any, *, on_wait: WaitHook | None = None
) -> list[MediaMessage]:
    """Every media item of the album ``message`` belongs to (itself if none)."""
    own = media_of(message, chat.id)
    if message.grouped_id is None:
        return [own] if own else []
    ids = list(range(max(1, message.id - 9), message.id + 10))
    request = _get_messages(chat.peer, ids)
    result = await call(client, request, what=f"album of message {message.id}", on_wait=on_wait)
    items = [
        media_of(m, chat.id)
        for m in result.messages
        if isinstance(m, types.Message) and m.grouped_id == message.grouped_id
    ]
    return sorted((i for i in items if i is not None), key=lambda i: i.message_id)
