"""The caption under delivered media: title and source link, escaped, bounded.

Sent with ``parse_mode=HTML``; anything from outside (titles, URLs) is escaped so a
title like ``<b>&`` can never break a send, and clipped to Telegram's limit.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["MAX_CAPTION", "PARSE_MODE", "caption", "plain_caption"]

PARSE_MODE = "HTML"
MAX_CAPTION = 1024


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown(url: str) -> str:
    """The source link, or nothing for a file sent to the bot (``tg://bot/…`` names a
    message of the chat itself, not a link to show)."""
    return "" if url.startswith("tg://") else url


def _also(names: Sequence[str], limit: int) -> str:
    """``Also: a.nfo, cover.jpg`` within ``limit`` characters (``… and N more``)."""
    shown: list[str] = []
    for i, name in enumerate(names):
        rest = len(names) - i
        candidate = ", ".join([*shown, _clip(name, 80)])
        tail = f" … and {rest - 1} more" if rest > 1 else ""
        if len("Also: " + candidate + tail) > limit:
            return "Also: " + ", ".join(shown) + f" … and {rest} more"
        shown.append(_clip(name, 80))
    return "Also: " + ", ".join(shown)


def caption(
    title: str | None,
    url: str,
    part: tuple[int, int] | None = None,
    also: Sequence[str] = (),
) -> str:
    """Title and source link, escaped, within Telegram's caption limit. ``also`` names
    the files of the download that are not sent as media (kept in the archive)."""
    suffix = f" (part {part[0]}/{part[1]})" if part else ""
    link = _esc(_clip(_shown(url), 300))
    extra = f"{_esc(_also(also, 300))}\n" if also else ""
    room = MAX_CAPTION - len(link) - len(suffix) - len(extra) - 10
    head = f"<b>{_esc(_clip(title, max(room, 20)))}</b>{_esc(suffix)}\n" if title else ""
    return f"{head}{extra}{link}".rstrip("\n")


def plain_caption(title: str | None, url: str) -> str:
    """Title and source link as plain text (MTProto sends carry no HTML parse mode)."""
    link = _clip(_shown(url), 300)
    room = MAX_CAPTION - len(link) - 10
    return f"{_clip(title, max(room, 20))}\n{link}".rstrip("\n") if title else link
