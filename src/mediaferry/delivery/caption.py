"""The caption under delivered media: title and source link, escaped, bounded.

Sent with ``parse_mode=HTML``; anything from outside (titles, URLs) is escaped so a
title like ``<b>&`` can never break a send, and clipped to Telegram's limit.
"""

from __future__ import annotations

import html

__all__ = ["MAX_CAPTION", "PARSE_MODE", "caption"]

PARSE_MODE = "HTML"
MAX_CAPTION = 1024


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def caption(title: str | None, url: str, part: tuple[int, int] | None = None) -> str:
    """Title and source link, escaped, within Telegram's caption limit."""
    suffix = f" (part {part[0]}/{part[1]})" if part else ""
    link = _esc(_clip(url, 300))
    room = MAX_CAPTION - len(link) - len(suffix) - 10
    head = f"<b>{_esc(_clip(title, max(room, 20)))}</b>{_esc(suffix)}\n" if title else ""
    return f"{head}{link}"
