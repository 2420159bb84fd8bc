"""Telegram over MTProto (DESIGN.md §13): the one package that imports Telethon.

It owns the Telethon clients (the user account and the bot's MTProto session),
translates Telethon's errors into Mediaferry's, and offers plain operations: resolve
a chat, list its media messages, fetch a document to a path (parallel parts, resume,
reference refresh, flood waits), upload a file and send it to a chat.
"""

from __future__ import annotations

from mediaferry.telegram._errors import ChatNotFound, NoMedia, NotLoggedIn
from mediaferry.telegram.links import ChatRef, MessageLink, parse_chat, parse_message_link

__all__ = [
    "ChatNotFound",
    "ChatRef",
    "MessageLink",
    "NoMedia",
    "NotLoggedIn",
    "parse_chat",
    "parse_message_link",
]
