"""Offline parsing of what users type for a Telegram chat or message (no Telethon here).

Chats: ``@name``, ``name``, ``t.me/name``, ``https://t.me/name``, ``-100<id>``, a bare
id, ``t.me/c/<internal id>``. Messages: ``https://t.me/<name>/<id>``,
``https://t.me/c/<internal id>/<id>``, ``https://t.me/s/<name>/<id>``, with an optional
``?single`` (only that item of an album).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from mediaferry.errors import UrlRejected

__all__ = [
    "KINDS",
    "ChatRef",
    "Kind",
    "MessageLink",
    "message_url",
    "parse_chat",
    "parse_message_link",
]

# what a chat's media can be asked for by (``audio`` = music, not voice notes)
Kind = Literal["audio", "voice", "video", "document", "all"]
KINDS: tuple[str, ...] = ("audio", "video", "voice", "document", "all")

_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,31}$")
_HOSTS = {"t.me", "www.t.me", "telegram.me", "www.telegram.me", "telegram.dog"}
_CHANNEL_PREFIX = -1_000_000_000_000


@dataclass(frozen=True, slots=True)
class ChatRef:
    """A chat as typed: by username, by channel id, or by another peer id."""

    username: str | None = None
    channel_id: int | None = None  # the bare channel id (t.me/c/<id>, -100<id>)
    peer_id: int | None = None  # a bare id that could be a user, group or channel

    def __str__(self) -> str:
        if self.username:
            return f"@{self.username}"
        if self.channel_id is not None:
            return f"-100{self.channel_id}"
        return str(self.peer_id)


@dataclass(frozen=True, slots=True)
class MessageLink:
    chat: ChatRef
    message_id: int
    single: bool = False


def _username(name: str, original: str) -> ChatRef:
    if not _USERNAME.match(name):
        raise UrlRejected(f"not a Telegram chat: {original[:80]!r}")
    return ChatRef(username=name.lower())


def _split_link(text: str) -> tuple[list[str], dict[str, list[str]]] | None:
    raw = text.strip()
    if not re.match(r"^(?:https?://)?(?:www\.)?(?:t|telegram)\.(?:me|dog)/", raw, re.I):
        return None
    if not raw.lower().startswith(("http://", "https://")):
        raw = "https://" + raw
    parts = urlsplit(raw)
    if (parts.hostname or "").lower() not in _HOSTS:
        return None
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[0].lower() == "s":  # the web preview: t.me/s/<name>/<id>
        segments = segments[1:]
    return segments, parse_qs(parts.query, keep_blank_values=True)


def parse_chat(text: str) -> ChatRef:
    """A chat reference from what a user typed; :class:`UrlRejected` (one line) if none."""
    value = (text or "").strip()
    if not value:
        raise UrlRejected("no chat given; use @name, t.me/name or a numeric id")
    split = _split_link(value)
    if split is not None:
        segments, _ = split
        if len(segments) >= 2 and segments[0].lower() == "c" and segments[1].isdigit():
            return ChatRef(channel_id=int(segments[1]))
        if segments and not segments[0].isdigit():
            return _username(segments[0], value)
        raise UrlRejected(f"not a Telegram chat link: {value[:80]!r}")
    if value.startswith("@"):
        return _username(value[1:], value)
    if re.fullmatch(r"-?\d{1,20}", value):
        number = int(value)
        if value.startswith("-100") and number < _CHANNEL_PREFIX:
            return ChatRef(channel_id=-number + _CHANNEL_PREFIX)
        if number < 0:
            return ChatRef(peer_id=number)
        return ChatRef(peer_id=number)
    return _username(value, value)


def parse_message_link(url: str) -> MessageLink:
    """``t.me/<name>/<id>``, ``t.me/c/<internal id>/<id>`` (+ ``?single``), else
    :class:`UrlRejected` naming the problem in one line."""
    split = _split_link(url)
    if split is None:
        raise UrlRejected(f"not a t.me link: {url[:80]!r}")
    segments, query = split
    single = "single" in query
    if len(segments) >= 3 and segments[0].lower() == "c":
        chat_part, msg_part = segments[1], segments[-1]
        if not (chat_part.isdigit() and msg_part.isdigit()):
            raise UrlRejected(f"not a Telegram message link: {url[:80]!r}")
        return MessageLink(ChatRef(channel_id=int(chat_part)), int(msg_part), single)
    if len(segments) >= 2 and segments[-1].isdigit() and not segments[0].isdigit():
        chat = _username(segments[0], url)
        message_id = int(segments[-1])
        if message_id <= 0:
            raise UrlRejected(f"not a Telegram message link: {url[:80]!r}")
        return MessageLink(chat, message_id, single)
    raise UrlRejected(f"a t.me link needs a message id, like https://t.me/name/123: {url[:80]!r}")


def message_url(chat: ChatRef, message_id: int, *, single: bool = False) -> str:
    """The canonical link of a message: by username when there is one."""
    tail = "?single" if single else ""
    if chat.username:
        return f"https://t.me/{chat.username}/{message_id}{tail}"
    if chat.channel_id is not None:
        return f"https://t.me/c/{chat.channel_id}/{message_id}{tail}"
    raise UrlRejected("this chat has no public link (neither a username nor a channel)")
