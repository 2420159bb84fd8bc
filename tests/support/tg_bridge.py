"""One Telegram, two fakes: a file a user sends (or forwards) to the bot exists in the
fake Bot API (the update the bot polls) and in the fake MTProto world under the same
message id, as on Telegram, where both APIs look at one message box: in a private chat
or a basic group the bot's own box (read with ``messages.getMessages``), in a
supergroup the supergroup's (read with ``channels.getMessages``).

The file's ``file_unique_id`` is derived from the MTProto document's id, so the same
document sent twice (or forwarded from a channel where it was posted) has the same
``file_unique_id`` both times, as on Telegram.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from telethon.tl import types

from tests.support.fake_mtproto import (
    FakeChannel,
    FakeDocument,
    FakeGroup,
    FakeMTProtoServer,
    FakeUser,
)
from tests.support.fake_telegram import ChatMessage, FakeTelegram

__all__ = ["bot_api_chat_id", "document_for", "send_in_group", "send_to_bot", "unique_id"]

_KINDS = {
    "video": ("video/mp4", types.DocumentAttributeVideo),
    "audio": ("audio/mpeg", types.DocumentAttributeAudio),
    "voice": ("audio/ogg", types.DocumentAttributeAudio),
    "document": ("application/octet-stream", None),
}


def unique_id(document: FakeDocument) -> str:
    """The Bot API ``file_unique_id`` of an MTProto document (stable per document)."""
    return f"AgAD{document.id:016x}"


def document_for(
    server: FakeMTProtoServer,
    kind: str,
    path: Path,
    *,
    file_name: str | None = None,
    mime: str | None = None,
    duration: int = 10,
    width: int = 640,
    height: int = 360,
    title: str | None = None,
    performer: str | None = None,
) -> FakeDocument:
    """A document of ``kind`` (video, audio, voice, document) in the MTProto world,
    its bytes read from ``path`` when asked for."""
    world = server.world
    if kind == "video":
        return world.add_video(
            path=path, duration=duration, w=width, h=height,
            file_name=file_name or path.name,
        )  # fmt: skip
    if kind == "audio":
        return world.add_audio(
            path=path, title=title, performer=performer, duration=duration,
            file_name=file_name or path.name, mime_type=mime or "audio/mpeg",
        )  # fmt: skip
    if kind == "voice":
        return world.add_voice(path=path, duration=duration)
    if kind == "document":
        return world.add_document(
            path=path, mime_type=mime or "application/octet-stream",
            file_name=file_name or path.name,
        )  # fmt: skip
    raise ValueError(f"unknown kind {kind!r}; use one of {sorted(_KINDS)}")


def _bot(server: FakeMTProtoServer, fake: FakeTelegram) -> FakeUser:
    bot = server.world.user_by_token(fake.token)
    if bot is None:
        raise ValueError("add the bot to the MTProto world first (world.add_bot(token=…))")
    return bot


def send_to_bot(
    fake: FakeTelegram,
    server: FakeMTProtoServer,
    user_id: int,
    document: FakeDocument,
    *,
    kind: str,
    caption: str | None = None,
    forwarded_from: FakeChannel | None = None,
    forwarded_post: int | None = None,
) -> ChatMessage:
    """The user sends ``document`` to the bot as ``kind`` (``video`` ``audio``
    ``voice`` ``document``), or forwards it from ``forwarded_from``'s post: stored in
    the MTProto world (both private boxes) and delivered as a Bot API update, under
    one message id."""
    world = server.world
    bot = _bot(server, fake)
    user = world.users.get(user_id)
    if user is None:
        raise ValueError(f"no user {user_id} in the MTProto world")
    message_id = fake.reserve_message_id(world.box(bot.id).next_id)
    world.send_private(
        user, bot, caption or "", media=document, forwarded_from=forwarded_from,
        forwarded_post=forwarded_post, recipient_message_id=message_id,
    )  # fmt: skip
    origin = None
    if forwarded_from is not None:
        origin = fake.forward_origin_channel(
            bot_api_chat_id(forwarded_from), forwarded_from.title,
            forwarded_post or 1, forwarded_from.username,
        )  # fmt: skip
    return _bot_api_message(
        fake, user_id, document, kind=kind, caption=caption, message_id=message_id,
        forward_origin=origin,
    )  # fmt: skip


def bot_api_chat_id(chat: FakeChannel | FakeGroup) -> int:
    """The Bot API's id of a chat: ``-100<id>`` for a channel or supergroup, ``-<id>``
    for a basic group."""
    if isinstance(chat, FakeChannel):
        return -1_000_000_000_000 - chat.id
    return -chat.id


def send_in_group(
    fake: FakeTelegram,
    server: FakeMTProtoServer,
    user_id: int,
    group: FakeChannel | FakeGroup,
    document: FakeDocument,
    *,
    kind: str,
    caption: str | None = None,
) -> ChatMessage:
    """The user sends ``document`` as ``kind`` in a supergroup (a megagroup
    :class:`FakeChannel`) or a basic group (:class:`FakeGroup`) the bot is in: stored in
    the MTProto world (the supergroup's own messages; in a basic group, every member's
    box) and delivered as a Bot API update, under one message id (the supergroup's, or
    the bot's box's for a basic group)."""
    world = server.world
    bot = _bot(server, fake)
    user = world.users.get(user_id)
    if user is None:
        raise ValueError(f"no user {user_id} in the MTProto world")
    if bot.id not in group.members or user_id not in group.members:
        raise ValueError(f"the bot and user {user_id} must both be in {group.title!r}")
    if isinstance(group, FakeChannel):
        if not group.megagroup:
            raise ValueError("users post in supergroups, not in broadcast channels")
        message_id = fake.reserve_message_id(group.next_id)
        world.post(group, caption or "", media=document, from_user=user, message_id=message_id)
        chat_type = "supergroup"
    else:
        message_id = fake.reserve_message_id(world.box(bot.id).next_id)
        world.send_to_group(user, group, caption or "", media=document,
                            message_ids={bot.id: message_id})  # fmt: skip
        chat_type = "group"
    return _bot_api_message(
        fake, user_id, document, kind=kind, caption=caption, message_id=message_id,
        chat_id=bot_api_chat_id(group), chat_type=chat_type,
    )  # fmt: skip


def _bot_api_message(
    fake: FakeTelegram,
    user_id: int,
    document: FakeDocument,
    *,
    kind: str,
    caption: str | None,
    message_id: int,
    forward_origin: dict[str, Any] | None = None,
    chat_id: int | None = None,
    chat_type: str = "private",
) -> ChatMessage:
    """The Bot API update of the message the MTProto world holds as ``message_id``."""
    extra: dict[str, Any] = {}
    video = document.attribute(types.DocumentAttributeVideo)
    audio = document.attribute(types.DocumentAttributeAudio)
    if kind in ("video", "video_note") and video is not None:
        extra = {"duration": int(video.duration), "width": video.w, "height": video.h}
    elif kind in ("audio", "voice") and audio is not None:
        extra = {"duration": audio.duration, "title": audio.title, "performer": audio.performer}
    assert document.path is not None, "bridged documents live in a file"
    return fake.user_sends_media(
        user_id, kind, path=document.path, file_name=document.file_name,
        mime=document.mime_type, caption=caption, forward_origin=forward_origin,
        message_id=message_id, file_unique_id=unique_id(document), chat_id=chat_id,
        chat_type=chat_type, **extra,
    )  # fmt: skip
