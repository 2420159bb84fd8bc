"""The in-memory Telegram the fake server serves: users, bots, channels, messages, files.

Tests build it through the ``add_*``/``post_*`` methods (thread-safe; the server runs in
another thread) and read it back for assertions. Every object renders itself as the real
``telethon.tl.types`` object a given viewer would receive.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telethon.tl import types

__all__ = [
    "FakeChannel",
    "FakeDocument",
    "FakeGroup",
    "FakeMessage",
    "FakePhoto",
    "FakeUser",
    "World",
]


def _hash() -> int:
    return secrets.randbits(63)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _message_id(next_id: int, wanted: int | None, where: str = "") -> int:
    """``wanted`` (e.g. the id the Bot API fake gave the same message) when it is free,
    else the next id; ids in a box or channel only grow."""
    if wanted is None:
        return next_id
    if wanted < next_id:
        raise ValueError(f"message id {wanted} is taken{where}")
    return wanted


@dataclass
class FakeUser:
    id: int
    access_hash: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    phone: str | None = None
    bot: bool = False
    bot_token: str | None = None
    password: str | None = None  # 2FA cloud password; None: no 2FA
    login_code: str = "12345"

    def tl(self, viewer_id: int | None = None) -> types.User:
        is_self = viewer_id == self.id
        return types.User(
            id=self.id,
            is_self=is_self,
            access_hash=self.access_hash,
            first_name=self.first_name,
            last_name=self.last_name,
            username=self.username,
            phone=self.phone.lstrip("+") if is_self and self.phone else None,
            bot=self.bot,
            bot_info_version=1 if self.bot else None,
            bot_nochats=False if self.bot else None,
        )

    def peer(self) -> types.PeerUser:
        return types.PeerUser(self.id)


@dataclass
class FakeDocument:
    id: int
    access_hash: int
    file_reference: bytes
    mime_type: str
    size: int
    attributes: list[Any]
    date: dt.datetime
    dc_id: int
    data: bytes | None = None
    path: Path | None = None
    thumb: tuple[int, int, bytes] | None = None  # (w, h, jpeg bytes), served as type "m"

    def read(self, offset: int, limit: int) -> bytes:
        if offset >= self.size:
            return b""
        if self.data is not None:
            return self.data[offset : offset + limit]
        assert self.path is not None
        with self.path.open("rb") as fh:
            fh.seek(offset)
            return fh.read(limit)

    def content(self) -> bytes:
        return self.read(0, self.size)

    def tl(self) -> types.Document:
        thumbs = None
        if self.thumb is not None:
            w, h, data = self.thumb
            thumbs = [types.PhotoSize(type="m", w=w, h=h, size=len(data))]
        return types.Document(
            id=self.id,
            access_hash=self.access_hash,
            file_reference=self.file_reference,
            date=self.date,
            mime_type=self.mime_type,
            size=self.size,
            dc_id=self.dc_id,
            attributes=list(self.attributes),
            thumbs=thumbs,
        )

    def attribute(self, kind: type) -> Any:
        return next((a for a in self.attributes if isinstance(a, kind)), None)

    @property
    def file_name(self) -> str | None:
        attr = self.attribute(types.DocumentAttributeFilename)
        return attr.file_name if attr else None

    def media(self) -> types.MessageMediaDocument:
        audio = self.attribute(types.DocumentAttributeAudio)
        video = self.attribute(types.DocumentAttributeVideo)
        return types.MessageMediaDocument(
            document=self.tl(),
            voice=bool(audio and audio.voice) or None,
            video=bool(video and not video.round_message) or None,
            round=bool(video and video.round_message) or None,
        )


@dataclass
class FakePhoto:
    id: int
    access_hash: int
    file_reference: bytes
    date: dt.datetime
    dc_id: int
    w: int
    h: int
    data: bytes

    def tl(self) -> types.Photo:
        return types.Photo(
            id=self.id,
            access_hash=self.access_hash,
            file_reference=self.file_reference,
            date=self.date,
            sizes=[types.PhotoSize(type="x", w=self.w, h=self.h, size=len(self.data))],
            dc_id=self.dc_id,
        )

    def media(self) -> types.MessageMediaPhoto:
        return types.MessageMediaPhoto(photo=self.tl())


Media = FakeDocument | FakePhoto


@dataclass
class FakeMessage:
    """A message as stored in one box (a channel, or one account's private and basic
    group messages)."""

    id: int
    peer: types.PeerUser | types.PeerChannel | types.PeerChat
    date: dt.datetime
    text: str = ""
    media: Media | None = None
    from_id: int | None = None
    out: bool = False
    post: bool = False
    random_id: int | None = None
    pts: int = 0
    author_id: int | None = None  # who posted it into a channel (posts hide it as from_id)
    grouped_id: int | None = None  # album: messages sharing it are one group
    fwd_from: types.MessageFwdHeader | None = None  # a forwarded message's origin

    def tl(self, viewer_id: int | None = None) -> types.Message:
        out = self.out or (self.author_id is not None and self.author_id == viewer_id)
        return types.Message(
            id=self.id,
            peer_id=self.peer,
            date=self.date,
            message=self.text,
            out=out,
            post=self.post or None,
            from_id=types.PeerUser(self.from_id) if self.from_id is not None else None,
            media=self.media.media() if self.media is not None else None,
            grouped_id=self.grouped_id,
            fwd_from=self.fwd_from,
        )

    @property
    def document(self) -> FakeDocument | None:
        return self.media if isinstance(self.media, FakeDocument) else None


@dataclass
class FakeChannel:
    """A broadcast channel or a supergroup (megagroup)."""

    id: int
    access_hash: int
    title: str
    date: dt.datetime
    username: str | None = None
    megagroup: bool = False
    public: bool = True
    members: set[int] = field(default_factory=set)
    messages: dict[int, FakeMessage] = field(default_factory=dict)
    pts: int = 1
    random_ids: dict[tuple[int, int], int] = field(default_factory=dict)

    def can_read(self, user_id: int | None) -> bool:
        return self.public or (user_id is not None and user_id in self.members)

    def hash_for(self, viewer_id: int | None) -> int:
        """The channel's access hash as one account knows it: on Telegram each account
        (a bot too) gets its own, so a hash learned by another account is refused."""
        if viewer_id is None:
            return self.access_hash
        mixed = (self.access_hash ^ (viewer_id * 0x9E3779B97F4A7C15)) & ((1 << 63) - 1)
        return mixed or 1

    def tl(self, viewer_id: int | None = None) -> types.Channel:
        return types.Channel(
            id=self.id,
            title=self.title,
            photo=types.ChatPhotoEmpty(),
            date=self.date,
            access_hash=self.hash_for(viewer_id),
            username=self.username,
            broadcast=not self.megagroup or None,
            megagroup=self.megagroup or None,
            left=(viewer_id not in self.members) or None,
            participants_count=len(self.members),
        )

    def peer(self) -> types.PeerChannel:
        return types.PeerChannel(self.id)

    @property
    def next_id(self) -> int:
        return max(self.messages, default=0) + 1


@dataclass
class FakeGroup:
    """A basic group: it has no message box of its own; each member's copy of a message
    sits in that member's box (``peer`` the group), under that box's own id."""

    id: int
    title: str
    date: dt.datetime
    members: set[int] = field(default_factory=set)

    def tl(self, viewer_id: int | None = None) -> types.Chat:
        return types.Chat(
            id=self.id,
            title=self.title,
            photo=types.ChatPhotoEmpty(),
            participants_count=len(self.members),
            date=self.date,
            version=1,
            left=(viewer_id not in self.members) or None,
        )

    def peer(self) -> types.PeerChat:
        return types.PeerChat(self.id)


@dataclass
class Box:
    """One account's private messages (ids and pts are per account, as on Telegram)."""

    messages: dict[int, FakeMessage] = field(default_factory=dict)
    pts: int = 1
    random_ids: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def next_id(self) -> int:
        return max(self.messages, default=0) + 1


class World:
    """Everything the fake Telegram knows. Mutate only through these methods (they lock)."""

    def __init__(self, *, dc_id: int = 2, storage_dir: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.dc_id = dc_id
        self.storage_dir = storage_dir
        self.api_id: int | None = None  # set both to make auth.sendCode check them
        self.api_hash: str | None = None
        self.users: dict[int, FakeUser] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.groups: dict[int, FakeGroup] = {}  # basic groups
        self.documents: dict[int, FakeDocument] = {}
        self.photos: dict[int, FakePhoto] = {}
        self.boxes: dict[int, Box] = {}
        self.uploaded: list[FakeDocument] = []  # documents clients uploaded, in order
        self.ignored_thumbs: list[str] = []  # why Telegram dropped an uploaded thumbnail
        self._next_user_id = 1_000_001
        self._next_channel_id = 1_500_000_001
        self._next_group_id = 4_000_001

    # -- building -------------------------------------------------------------------------
    def add_user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        phone: str | None = None,
        password: str | None = None,
        login_code: str = "12345",
        last_name: str | None = None,
        user_id: int | None = None,
    ) -> FakeUser:
        """A user account; ``user_id`` picks its id (e.g. to match the Bot API fake's)."""
        with self.lock:
            if user_id is not None and user_id in self.users:
                raise ValueError(f"user id {user_id} is taken")
            user = FakeUser(
                id=user_id if user_id is not None else self._next_user_id,
                access_hash=_hash(),
                first_name=first_name,
                last_name=last_name,
                username=username,
                phone=phone,
                password=password,
                login_code=login_code,
            )
            if user_id is None:
                self._next_user_id += 1
            self.users[user.id] = user
            return user

    def add_bot(
        self,
        username: str,
        *,
        first_name: str = "Bot",
        token: str | None = None,
        user_id: int | None = None,
    ) -> FakeUser:
        """A bot; its token is ``"<id>:<secret>"`` unless given (then its id is the token's)."""
        with self.lock:
            if user_id is None and token and token.split(":", 1)[0].isdigit():
                user_id = int(token.split(":", 1)[0])
            bot = self.add_user(first_name, username=username, user_id=user_id)
            bot.bot = True
            bot.bot_token = token or f"{bot.id}:{secrets.token_urlsafe(24)}"
            return bot

    def add_channel(
        self,
        title: str,
        *,
        username: str | None = None,
        megagroup: bool = False,
        members: Iterable[FakeUser] = (),
        public: bool | None = None,
    ) -> FakeChannel:
        """A channel; public defaults to "has a username". Private ones need membership."""
        with self.lock:
            channel = FakeChannel(
                id=self._next_channel_id,
                access_hash=_hash(),
                title=title,
                date=_now(),
                username=username,
                megagroup=megagroup,
                public=bool(username) if public is None else public,
                members={m.id for m in members},
            )
            self._next_channel_id += 1
            self.channels[channel.id] = channel
            return channel

    def add_group(self, title: str, *, members: Iterable[FakeUser] = ()) -> FakeGroup:
        """A basic group (Bot API chat id ``-<id>``); only members see its messages."""
        with self.lock:
            group = FakeGroup(
                id=self._next_group_id, title=title, date=_now(), members={m.id for m in members}
            )
            self._next_group_id += 1
            self.groups[group.id] = group
            return group

    def add_document(
        self,
        data: bytes | None = None,
        *,
        path: Path | None = None,
        mime_type: str = "application/octet-stream",
        file_name: str | None = None,
        attributes: Sequence[Any] = (),
        thumb: tuple[int, int, bytes] | None = None,
    ) -> FakeDocument:
        """A document with its bytes in memory (``data``) or in a file (``path``)."""
        if (data is None) == (path is None):
            raise ValueError("give exactly one of data or path")
        attrs = list(attributes)
        if file_name is not None:
            attrs.append(types.DocumentAttributeFilename(file_name))
        with self.lock:
            doc = FakeDocument(
                id=_hash(),
                access_hash=_hash(),
                file_reference=os.urandom(20),
                mime_type=mime_type,
                size=len(data) if data is not None else path.stat().st_size,  # type: ignore[union-attr]
                attributes=attrs,
                date=_now(),
                dc_id=self.dc_id,
                data=data,
                path=path,
                thumb=thumb,
            )
            self.documents[doc.id] = doc
            return doc

    def add_audio(
        self,
        data: bytes | None = None,
        *,
        path: Path | None = None,
        title: str | None = None,
        performer: str | None = None,
        duration: int = 60,
        file_name: str | None = "audio.mp3",
        mime_type: str = "audio/mpeg",
        voice: bool = False,
    ) -> FakeDocument:
        attr = types.DocumentAttributeAudio(
            duration=duration, voice=voice or None, title=title, performer=performer
        )
        return self.add_document(
            data,
            path=path,
            mime_type=mime_type,
            file_name=None if voice else file_name,
            attributes=[attr],
        )

    def add_voice(
        self, data: bytes | None = None, *, path: Path | None = None, duration: int = 5
    ) -> FakeDocument:
        return self.add_audio(data, path=path, duration=duration, voice=True, mime_type="audio/ogg")

    def add_video(
        self,
        data: bytes | None = None,
        *,
        path: Path | None = None,
        duration: float = 10.0,
        w: int = 640,
        h: int = 360,
        supports_streaming: bool = True,
        file_name: str | None = "video.mp4",
        thumb: tuple[int, int, bytes] | None = None,
    ) -> FakeDocument:
        attr = types.DocumentAttributeVideo(
            duration=duration, w=w, h=h, supports_streaming=supports_streaming or None
        )
        return self.add_document(
            data,
            path=path,
            mime_type="video/mp4",
            file_name=file_name,
            attributes=[attr],
            thumb=thumb,
        )

    def add_photo(self, data: bytes, *, w: int = 320, h: int = 240) -> FakePhoto:
        with self.lock:
            photo = FakePhoto(
                id=_hash(),
                access_hash=_hash(),
                file_reference=os.urandom(20),
                date=_now(),
                dc_id=self.dc_id,
                w=w,
                h=h,
                data=data,
            )
            self.photos[photo.id] = photo
            return photo

    def post(
        self,
        channel: FakeChannel,
        text: str = "",
        *,
        media: Media | None = None,
        date: dt.datetime | None = None,
        from_user: FakeUser | None = None,
        random_id: int | None = None,
        grouped_id: int | None = None,
        message_id: int | None = None,
    ) -> FakeMessage:
        """Append a message to a channel (a post) or supergroup (from ``from_user``).
        ``message_id`` picks its id (e.g. the id the Bot API fake gave the same
        message); a channel's ids only grow."""
        with self.lock:
            msg_id = _message_id(channel.next_id, message_id, f" in {channel.title!r}")
            channel.pts += 1
            msg = FakeMessage(
                id=msg_id,
                peer=channel.peer(),
                date=date or _now(),
                text=text,
                media=media,
                from_id=from_user.id if from_user and channel.megagroup else None,
                post=not channel.megagroup,
                pts=channel.pts,
                random_id=random_id,
                author_id=from_user.id if from_user else None,
                grouped_id=grouped_id,
            )
            channel.messages[msg.id] = msg
            if from_user is not None and random_id is not None:
                channel.random_ids[(from_user.id, random_id)] = msg.id
            return msg

    def send_private(
        self,
        sender: FakeUser,
        recipient: FakeUser,
        text: str = "",
        *,
        media: Media | None = None,
        random_id: int | None = None,
        forwarded_from: FakeChannel | FakeUser | None = None,
        forwarded_post: int | None = None,
        recipient_message_id: int | None = None,
    ) -> tuple[FakeMessage, FakeMessage]:
        """Store a private message in both accounts' boxes; returns (sender's, recipient's).

        ``forwarded_from`` (a channel, with the post's id ``forwarded_post``, or a user)
        makes it a forwarded message (``fwd_from``), the same document as the original.
        ``recipient_message_id`` picks the id in the recipient's box (e.g. the id the
        Bot API fake gave the same message); ids in a box only grow."""
        with self.lock:
            now = _now()
            fwd = None
            if isinstance(forwarded_from, FakeChannel):
                fwd = types.MessageFwdHeader(
                    date=now, from_id=forwarded_from.peer(), channel_post=forwarded_post
                )
            elif forwarded_from is not None:
                fwd = types.MessageFwdHeader(date=now, from_id=forwarded_from.peer())
            copies = []
            for owner, other, out in ((sender, recipient, True), (recipient, sender, False)):
                box = self.box(owner.id)
                box.pts += 1
                msg_id = _message_id(box.next_id, None if out else recipient_message_id)
                msg = FakeMessage(
                    id=msg_id,
                    peer=other.peer(),
                    date=now,
                    text=text,
                    media=media,
                    from_id=sender.id,
                    out=out,
                    random_id=random_id if out else None,
                    pts=box.pts,
                    author_id=sender.id,
                    fwd_from=fwd,
                )
                box.messages[msg.id] = msg
                if out and random_id is not None:
                    box.random_ids[(recipient.id, random_id)] = msg.id
                copies.append(msg)
            return copies[0], copies[1]

    def send_to_group(
        self,
        sender: FakeUser,
        group: FakeGroup,
        text: str = "",
        *,
        media: Media | None = None,
        message_ids: dict[int, int] | None = None,
    ) -> dict[int, FakeMessage]:
        """Store a message to a basic group in every member's box (each under that box's
        next id, or the id ``message_ids`` gives for that member, e.g. the bot's Bot API
        message id); returns the copies by member id."""
        with self.lock:
            if sender.id not in group.members:
                raise ValueError(f"{sender.first_name} is not in {group.title!r}")
            now = _now()
            copies: dict[int, FakeMessage] = {}
            for member in sorted(group.members):
                box = self.box(member)
                msg_id = _message_id(box.next_id, (message_ids or {}).get(member))
                box.pts += 1
                msg = FakeMessage(
                    id=msg_id, peer=group.peer(), date=now, text=text, media=media,
                    from_id=sender.id, out=member == sender.id, pts=box.pts,
                    author_id=sender.id,
                )  # fmt: skip
                box.messages[msg.id] = msg
                copies[member] = msg
            return copies

    # -- lookups --------------------------------------------------------------------------
    def box(self, user_id: int) -> Box:
        with self.lock:
            return self.boxes.setdefault(user_id, Box())

    def user_by_username(self, username: str) -> FakeUser | None:
        name = username.lower()
        return next((u for u in self.users.values() if (u.username or "").lower() == name), None)

    def channel_by_username(self, username: str) -> FakeChannel | None:
        name = username.lower()
        return next((c for c in self.channels.values() if (c.username or "").lower() == name), None)

    def user_by_phone(self, phone: str) -> FakeUser | None:
        digits = phone.lstrip("+").replace(" ", "")
        return next(
            (u for u in self.users.values() if u.phone and u.phone.lstrip("+") == digits), None
        )

    def user_by_token(self, token: str) -> FakeUser | None:
        return next((u for u in self.users.values() if u.bot and u.bot_token == token), None)

    def expire_reference(self, media: Media) -> None:
        """Give the document/photo a new file reference; the old one is refused from now on."""
        with self.lock:
            media.file_reference = os.urandom(20)

    def messages_with_document(self, document_id: int) -> list[FakeMessage]:
        with self.lock:
            found = [
                m
                for c in self.channels.values()
                for m in c.messages.values()
                if m.document and m.document.id == document_id
            ]
            found += [
                m
                for b in self.boxes.values()
                for m in b.messages.values()
                if m.document and m.document.id == document_id
            ]
            return found
