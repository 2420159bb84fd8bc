"""Checks text the way the Bot API does for ``parse_mode`` (HTML, MarkdownV2).

``visible_text(text, parse_mode)`` returns what the user would see, or raises
``MarkupError`` with Telegram's "can't parse entities" wording. Deliberately strict
so that unescaped titles fail in tests exactly as they would against Telegram.
"""

from __future__ import annotations

import html
import re

__all__ = ["MarkupError", "utf16_len", "visible_text"]

_HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "span", "tg-spoiler", "tg-emoji", "blockquote",
}  # fmt: skip
_HTML_ENTITIES = {"lt", "gt", "amp", "quot"}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)>")
_ENTITY = re.compile(r"&(#?[a-zA-Z0-9]+);")
_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")


class MarkupError(ValueError):
    """The text does not parse in the given parse_mode."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


def _html_visible(text: str) -> str:
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "<":
            m = _TAG.match(text, i)
            if not m:
                raise MarkupError(f"Can't parse entities: unsupported start tag at byte offset {i}")
            closing, name = m.group(1) == "/", m.group(2).lower()
            if name not in _HTML_TAGS:
                raise MarkupError(f'Can\'t parse entities: unsupported start tag "{name}"')
            if closing:
                if not stack or stack[-1] != name:
                    raise MarkupError(
                        f"Can't parse entities: unmatched end tag at byte offset {i}, "
                        f'expected "</{stack[-1] if stack else ""}>", found "</{name}>"'
                    )
                stack.pop()
            else:
                stack.append(name)
            i = m.end()
        elif c == "&":
            m = _ENTITY.match(text, i)
            if m and (m.group(1).lower() in _HTML_ENTITIES or m.group(1).startswith("#")):
                out.append(html.unescape(m.group(0)))
                i = m.end()
            elif m:
                raise MarkupError(
                    f'Can\'t parse entities: unsupported HTML entity "&{m.group(1)};"'
                )
            else:
                out.append(c)
                i += 1
        elif c == ">":
            out.append(c)
            i += 1
        else:
            out.append(c)
            i += 1
    if stack:
        raise MarkupError(
            f"Can't parse entities: can't find end tag corresponding to \"{stack[-1]}\""
        )
    return "".join(out)


def _mdv2_visible(text: str) -> str:
    out: list[str] = []
    open_marks: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            raise MarkupError("Can't parse entities: character '\\' must be escaped")
        if text.startswith("||", i) or text.startswith("__", i):
            mark = text[i : i + 2]
        elif c in "*_~":
            mark = c
        elif c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise MarkupError("Can't parse entities: can't find end of Code entity")
            out.append(text[i + 1 : end].replace("\\`", "`").replace("\\\\", "\\"))
            i = end + 1
            continue
        elif c == "[":
            m = re.match(r"\[((?:\\.|[^\]\\])*)\]\(((?:\\.|[^)\\])*)\)", text[i:])
            if not m:
                raise MarkupError(
                    "Can't parse entities: character '[' is reserved and must be "
                    "escaped with the preceding '\\'"
                )
            out.append(_mdv2_visible(m.group(1)))
            i += m.end()
            continue
        elif c in _MDV2_RESERVED:
            raise MarkupError(
                f"Can't parse entities: character '{c}' is reserved and must be "
                "escaped with the preceding '\\'"
            )
        else:
            out.append(c)
            i += 1
            continue
        if open_marks and open_marks[-1] == mark:
            open_marks.pop()
        else:
            open_marks.append(mark)
        i += len(mark)
    if open_marks:
        raise MarkupError(
            f"Can't parse entities: can't find end of the entity starting with '{open_marks[-1]}'"
        )
    return "".join(out)


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text a user sees for ``text`` sent with ``parse_mode``."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _html_visible(text)
    if mode == "markdownv2":
        return _mdv2_visible(text)
    if mode == "markdown":
        return re.sub(r"[*_`]", "", text)
    return text
