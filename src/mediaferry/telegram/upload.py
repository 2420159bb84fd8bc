"""Upload a file and send it to a chat over MTProto: parts of 512 KiB, several in flight
over several connections, big-file parts above 10 MB (Telegram's rules: one part size,
at most 4000 parts). A send carries a ``random_id`` chosen before the first try and
kept by the caller, so Telegram refuses a retried send as a duplicate instead of
posting the file twice."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
import secrets
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telethon import errors as tl_errors
from telethon.tl import functions, types

from mediaferry.errors import NetworkError, SizeLimitExceeded, TelegramError
from mediaferry.telegram._errors import ChatNotFound, translate
from mediaferry.telegram._senders import SenderPool, run_all
from mediaferry.telegram.clients import WaitHook, call

__all__ = [
    "BIG_FILE",
    "PART",
    "SentDocument",
    "bot_peer",
    "new_random_id",
    "resend_document",
    "send_file",
    "upload_file",
]

log = logging.getLogger(__name__)

PART = 512 * 1024
BIG_FILE = 10 * 1024 * 1024
MAX_PARTS = 4000
MAX_SIZE = 2000 * 1024 * 1024
UploadProgress = Callable[[int, int], None]


@dataclass(slots=True)
class SentDocument:
    """What a re-send needs: the document's id, access hash and file reference."""

    message_id: int | None
    document_id: int
    access_hash: int
    file_reference: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "document_id": self.document_id,
            "access_hash": self.access_hash,
            "file_reference": self.file_reference.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SentDocument:
        return cls(
            data.get("message_id"),
            int(data["document_id"]),
            int(data["access_hash"]),
            bytes.fromhex(data.get("file_reference") or ""),
        )


async def bot_peer(client: Any, chat_id: int, *, on_wait: WaitHook | None = None) -> Any:
    """The InputPeer the bot addresses a Bot API chat id with: a user as
    ``InputPeerUser(id, 0)`` (Telegram accepts access hash 0 from bots), a basic group
    by its id, a channel or supergroup (``-100<id>``) with the bot's own access hash,
    asked once per client with ``channels.getChannels`` (hash 0 is how a bot learns it
    for a chat it is in; a send with 0 is refused)."""
    if chat_id > 0:
        return types.InputPeerUser(chat_id, 0)
    if chat_id >= -1_000_000_000_000:
        return types.InputPeerChat(-chat_id)
    channel_id = -chat_id - 1_000_000_000_000
    known: dict[int, Any] | None = getattr(client, "_mediaferry_channel_peers", None)
    if known is None:
        known = {}
        client._mediaferry_channel_peers = known
    if channel_id not in known:
        result = await call(
            client,
            functions.channels.GetChannelsRequest([types.InputChannel(channel_id, 0)]),
            what=f"chat {chat_id}",
            on_wait=on_wait,
        )
        found = next(
            (c for c in result.chats if isinstance(c, types.Channel) and c.id == channel_id),
            None,
        )
        if found is None or found.access_hash is None:
            raise ChatNotFound(f"chat {chat_id}: the bot is not in it, or it is gone")
        known[channel_id] = types.InputPeerChannel(channel_id, found.access_hash)
    return known[channel_id]


def new_random_id() -> int:
    """A random_id for messages.sendMedia (a signed 64-bit number)."""
    return secrets.randbits(63)


async def upload_file(
    client: Any,
    path: Path,
    *,
    connections: int = 4,
    part_size: int = PART,
    progress: UploadProgress | None = None,
    on_wait: WaitHook | None = None,
) -> Any:
    """Upload ``path``; returns the InputFile / InputFileBig to send it with."""
    size = path.stat().st_size
    if size == 0:
        raise TelegramError(f"{path.name} is empty; Telegram does not take 0-byte files")
    if size > MAX_SIZE:
        raise SizeLimitExceeded(f"{path.name} is over Telegram's 2000 MB limit")
    while -(-size // part_size) > MAX_PARTS:
        part_size *= 2
    total = -(-size // part_size)
    big = size > BIG_FILE
    file_id = secrets.randbits(63)
    state = {"next": 0, "sent": 0}
    fd = os.open(path, os.O_RDONLY)

    async def worker(sender: Any) -> None:
        while state["next"] < total:
            index = state["next"]
            state["next"] += 1
            data = os.pread(fd, part_size, index * part_size)
            if big:
                request: Any = functions.upload.SaveBigFilePartRequest(file_id, index, total, data)
            else:
                request = functions.upload.SaveFilePartRequest(file_id, index, data)
            for attempt in range(8):
                try:
                    ok = await sender.send(request)
                except tl_errors.FloodWaitError as exc:
                    if on_wait is not None:
                        await on_wait(float(exc.seconds))
                    await asyncio.sleep(float(exc.seconds))
                    continue
                except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
                    if attempt >= 2:
                        raise NetworkError("the upload connection to Telegram dropped") from exc
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                except Exception as exc:
                    raise translate(exc, "uploading to Telegram") from exc
                if not ok:
                    raise TelegramError(f"Telegram refused part {index} of {path.name}")
                break
            state["sent"] += len(data)
            if progress is not None:
                progress(state["sent"], size)

    try:
        wanted = max(1, min(connections, total))
        async with SenderPool(client, None, wanted) as pool:
            await run_all([worker(s) for s in pool.senders])
    finally:
        os.close(fd)
    name = path.name
    if big:
        return types.InputFileBig(file_id, total, name)
    return types.InputFile(file_id, total, name, "")


def _attributes(
    path: Path,
    kind: str,
    *,
    title: str | None,
    performer: str | None,
    duration: float | None,
    width: int | None,
    height: int | None,
) -> list[Any]:
    attrs: list[Any] = [types.DocumentAttributeFilename(path.name)]
    if kind == "video":
        attrs.append(
            types.DocumentAttributeVideo(
                duration=float(duration or 0), w=int(width or 0), h=int(height or 0),
                supports_streaming=True,
            )
        )  # fmt: skip
    elif kind == "audio":
        attrs.append(
            types.DocumentAttributeAudio(
                duration=int(duration or 0), title=title, performer=performer
            )
        )
    return attrs


def _sent(updates: Any) -> SentDocument | None:
    for update in getattr(updates, "updates", []) or []:
        message: Any = getattr(update, "message", None)
        media = getattr(message, "media", None)
        doc = getattr(media, "document", None)
        if isinstance(doc, types.Document):
            return SentDocument(int(message.id), int(doc.id), int(doc.access_hash),
                                bytes(doc.file_reference or b""))  # fmt: skip
    return None


async def send_file(
    client: Any,
    peer: Any,
    path: Path,
    *,
    kind: str,
    random_id: int,
    caption: str = "",
    title: str | None = None,
    performer: str | None = None,
    duration: float | None = None,
    width: int | None = None,
    height: int | None = None,
    thumbnail: Path | None = None,
    connections: int = 4,
    progress: UploadProgress | None = None,
    on_wait: WaitHook | None = None,
    send_slot: Callable[[], AbstractAsyncContextManager[None]] | None = None,
) -> SentDocument | None:
    """Upload ``path`` whole and send it to ``peer`` as video/audio/document.

    Returns the sent document (for re-sends), or None when Telegram says this
    ``random_id`` was sent already (a retried delivery: nothing is posted twice)."""
    uploaded = await upload_file(
        client, path, connections=connections, progress=progress, on_wait=on_wait
    )
    thumb = None
    if thumbnail is not None and thumbnail.is_file() and thumbnail.stat().st_size > 0:
        thumb = await upload_file(client, thumbnail, connections=1, on_wait=on_wait)
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    media = types.InputMediaUploadedDocument(
        file=uploaded, mime_type=mime, thumb=thumb,
        attributes=_attributes(path, kind, title=title, performer=performer,
                               duration=duration, width=width, height=height),
        force_file=kind == "document", nosound_video=False,
    )  # fmt: skip
    if send_slot is None:
        return await _send_media(client, peer, media, caption, random_id, on_wait)
    async with send_slot():  # a slot in the send path's budgets, around the send itself
        return await _send_media(client, peer, media, caption, random_id, on_wait)


async def resend_document(
    client: Any,
    peer: Any,
    document: SentDocument,
    *,
    random_id: int,
    caption: str = "",
    on_wait: WaitHook | None = None,
) -> SentDocument | None:
    """Send an already uploaded document again: no upload at all."""
    media = types.InputMediaDocument(
        id=types.InputDocument(document.document_id, document.access_hash, document.file_reference)
    )
    return await _send_media(client, peer, media, caption, random_id, on_wait)


async def _send_media(
    client: Any, peer: Any, media: Any, caption: str, random_id: int, on_wait: WaitHook | None
) -> SentDocument | None:
    request = functions.messages.SendMediaRequest(
        peer=peer, media=media, message=caption, random_id=random_id
    )
    try:
        updates = await call(client, request, what="sending to Telegram", on_wait=on_wait)
    except TelegramError as exc:
        if isinstance(exc.__cause__, tl_errors.RandomIdDuplicateError):
            log.info("Telegram already has this message (random_id seen): not sent twice")
            return None
        raise
    return _sent(updates)
