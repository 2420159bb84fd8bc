"""Sending: messages.sendMessage / sendMedia / uploadMedia, with random_id dedup.

Answers are ``Updates`` with ``UpdateMessageID`` + ``UpdateNewMessage`` (private chats)
or ``UpdateNewChannelMessage`` (channels), as Telegram returns them. A random_id the same
sender already used in the same chat returns the earlier message, not a new one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject

from ..dispatch import CallContext, RpcFail, handles
from ..world import FakeChannel, FakeDocument, FakeMessage, FakePhoto, FakeUser, Media
from ._peers import chats_and_users, resolve_peer
from .upload import assemble


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's SOF marker (Telegram sizes thumbnails from the image)."""
    if not data.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h = int.from_bytes(data[i + 5 : i + 7], "big")
            w = int.from_bytes(data[i + 7 : i + 9], "big")
            return w, h
        i += 2 + length
    return None


THUMB_MAX_BYTES = 200 * 1000
THUMB_MAX_SIDE = 320


def _thumb(ctx: CallContext, data: bytes) -> tuple[int, int, bytes] | None:
    """A document's thumbnail as Telegram takes it: a JPEG under 200 kB, at most 320 px
    a side. Anything else Telegram silently drops (the file arrives without a picture):
    the reason is kept in ``world.ignored_thumbs`` for tests to show."""
    size = jpeg_size(data)
    reason = None
    if size is None:
        reason = "not a JPEG"
    elif len(data) >= THUMB_MAX_BYTES:
        reason = f"{len(data)} bytes (must be under {THUMB_MAX_BYTES})"
    elif max(size) > THUMB_MAX_SIDE:
        reason = f"{size[0]}x{size[1]} px (at most {THUMB_MAX_SIDE} a side)"
    if reason is not None:
        ctx.world.ignored_thumbs.append(reason)
        return None
    assert size is not None
    return size[0], size[1], data


def _media_from_input(ctx: CallContext, media: Any) -> Media:
    world = ctx.world
    if isinstance(media, types.InputMediaUploadedDocument):
        file = assemble(ctx, media.file)
        attributes = list(media.attributes or [])
        if not any(isinstance(a, types.DocumentAttributeFilename) for a in attributes):
            attributes.append(types.DocumentAttributeFilename(file.name or "file"))
        thumb = None
        if media.thumb is not None:
            thumb = _thumb(ctx, assemble(ctx, media.thumb).data or b"")
        doc = world.add_document(
            file.data,
            path=file.path,
            mime_type=media.mime_type or "application/octet-stream",
            attributes=attributes,
            thumb=thumb,
        )
        world.uploaded.append(doc)
        return doc
    if isinstance(media, types.InputMediaUploadedPhoto):
        file = assemble(ctx, media.file)
        return world.add_photo(file.data or (file.path.read_bytes() if file.path else b""))
    if isinstance(media, types.InputMediaDocument):
        ref = media.id
        if not isinstance(ref, types.InputDocument):
            raise RpcFail(400, "MEDIA_INVALID")
        doc = world.documents.get(ref.id)
        if doc is None or doc.access_hash != ref.access_hash:
            raise RpcFail(400, "MEDIA_INVALID")
        if ref.file_reference != doc.file_reference:
            raise RpcFail(400, "FILE_REFERENCE_EXPIRED")
        return doc
    if isinstance(media, types.InputMediaPhoto):
        ref = media.id
        photo = world.photos.get(getattr(ref, "id", 0))
        if photo is None or photo.access_hash != ref.access_hash:
            raise RpcFail(400, "MEDIA_INVALID")
        if ref.file_reference != photo.file_reference:
            raise RpcFail(400, "FILE_REFERENCE_EXPIRED")
        return photo
    raise RpcFail(400, "MEDIA_INVALID")


def _updates(
    ctx: CallContext,
    target: FakeUser | FakeChannel,
    msg: FakeMessage,
    random_id: int,
    *,
    replay: bool = False,
) -> TLObject:
    """What Telegram answers a send with; a replayed random_id gets the old message with
    pts_count 0 (nothing new happened in the chat)."""
    me = ctx.me()
    pts_count = 0 if replay else 1
    if isinstance(target, FakeChannel):
        update: TLObject = types.UpdateNewChannelMessage(
            message=msg.tl(me.id), pts=msg.pts, pts_count=pts_count
        )
        chats, users = chats_and_users(ctx, [target], [me])
    else:
        update = types.UpdateNewMessage(message=msg.tl(me.id), pts=msg.pts, pts_count=pts_count)
        chats, users = chats_and_users(ctx, [], [me, target])
    return types.Updates(
        updates=[types.UpdateMessageID(id=msg.id, random_id=random_id), update],
        users=users,
        chats=chats,
        date=dt.datetime.now(dt.UTC),
        seq=0,
    )


def _earlier(
    ctx: CallContext, target: FakeUser | FakeChannel, random_id: int
) -> FakeMessage | None:
    me = ctx.me()
    if isinstance(target, FakeChannel):
        msg_id = target.random_ids.get((me.id, random_id))
        return target.messages.get(msg_id) if msg_id else None
    box = ctx.world.box(me.id)
    msg_id = box.random_ids.get((target.id, random_id))
    return box.messages.get(msg_id) if msg_id else None


def _send(ctx: CallContext, peer: Any, text: str, media: Any, random_id: int) -> TLObject:
    me = ctx.me()
    target = resolve_peer(ctx, peer)
    if not random_id:
        raise RpcFail(400, "RANDOM_ID_EMPTY")
    earlier = _earlier(ctx, target, random_id)
    if earlier is not None:
        return _updates(ctx, target, earlier, random_id, replay=True)
    if isinstance(target, FakeChannel):
        if me.id not in target.members:
            raise RpcFail(403, "CHAT_WRITE_FORBIDDEN")
    elif me.bot and target.bot:
        raise RpcFail(400, "USER_IS_BOT")
    if not text and media is None:
        raise RpcFail(400, "MESSAGE_EMPTY")
    stored = _media_from_input(ctx, media) if media is not None else None
    if isinstance(target, FakeChannel):
        msg = ctx.world.post(target, text, media=stored, from_user=me, random_id=random_id)
    else:
        msg, _ = ctx.world.send_private(me, target, text, media=stored, random_id=random_id)
    return _updates(ctx, target, msg, random_id)


@handles(functions.messages.SendMessageRequest)
def send_message(ctx: CallContext, req: functions.messages.SendMessageRequest) -> TLObject:
    return _send(ctx, req.peer, req.message, None, req.random_id)


@handles(functions.messages.SendMediaRequest)
def send_media(ctx: CallContext, req: functions.messages.SendMediaRequest) -> TLObject:
    return _send(ctx, req.peer, req.message or "", req.media, req.random_id)


@handles(functions.messages.UploadMediaRequest)
def upload_media(ctx: CallContext, req: functions.messages.UploadMediaRequest) -> TLObject:
    resolve_peer(ctx, req.peer)
    stored = _media_from_input(ctx, req.media)
    if isinstance(stored, FakeDocument):
        return stored.media()
    assert isinstance(stored, FakePhoto)
    return stored.media()
