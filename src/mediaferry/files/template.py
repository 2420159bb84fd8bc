"""Archive file-name templates (``tg archive --template``), checked and rendered safely.

A template is a relative path with ``{variable}`` fields, e.g. the default
``{chat}/{performer} - {title}.{ext}``. ``/`` separates folders; every rendered
folder and file name goes through :func:`sanitize_filename`, so a value can never add
a folder or climb out (``..``) of ``ARCHIVE_ROOT``. Variables: see :data:`VARIABLES`.
"""

from __future__ import annotations

import string
from pathlib import PurePosixPath

from mediaferry.errors import UrlRejected
from mediaferry.files.names import sanitize_filename

__all__ = ["DEFAULT_TEMPLATE", "VARIABLES", "check_template", "render_template"]

DEFAULT_TEMPLATE = "{chat}/{performer} - {title}.{ext}"
VARIABLES: dict[str, str] = {
    "chat": "the chat's title (or @username)",
    "chat_id": "the chat's numeric id",
    "username": "the chat's @username without @ (empty if none)",
    "performer": "the performer (audio attributes, the file's tags; 'Unknown' if none)",
    "title": "the title (audio attributes, tags, file name or caption)",
    "album": "the album, if the file's tags name one",
    "ext": "the file's extension",
    "message_id": "the message id",
    "date": "the message date, YYYY-MM-DD",
    "year": "the message year",
    "month": "the message month, 01-12",
    "document_id": "Telegram's document id",
}
_MAX_DEPTH = 6


def check_template(template: str) -> str:
    """``template`` if it is a safe relative path with known variables, else
    :class:`UrlRejected` with a one-line reason."""
    text = (template or "").strip()
    if not text:
        raise UrlRejected("the template is empty")
    if text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":"):
        raise UrlRejected("the template must be a relative path (no leading / or drive)")
    if "\\" in text or "\x00" in text:
        raise UrlRejected("the template may not contain backslashes or NUL")
    segments = text.split("/")
    if any(seg.strip() in ("", ".", "..") for seg in segments):
        raise UrlRejected("the template may not contain empty, '.' or '..' path segments")
    if len(segments) > _MAX_DEPTH:
        raise UrlRejected(f"the template may have at most {_MAX_DEPTH} path segments")
    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text)]
    except ValueError as exc:
        raise UrlRejected(f"the template is malformed: {exc}") from None
    fields = [f for f, _, _ in parsed if f is not None]
    for name, spec, conversion in parsed:
        if name is not None and (spec or conversion):
            raise UrlRejected(
                f"the template field {{{name}}} may not carry a format spec or conversion"
            )
    for name in fields:
        if name not in VARIABLES:
            known = ", ".join(VARIABLES)
            raise UrlRejected(f"unknown template variable {{{name}}}; use: {known}")
    if not fields:
        raise UrlRejected("the template uses no variable; every file would get the same name")
    return text


def render_template(template: str, values: dict[str, str]) -> PurePosixPath:
    """The relative path for ``values``: every segment sanitised on its own."""
    text = check_template(template)
    full = {k: str(values.get(k) or "") for k in VARIABLES}
    parts: list[str] = []
    for segment in text.split("/"):
        rendered = segment.format(**full).strip()
        parts.append(sanitize_filename(rendered or "untitled", max_bytes=200))
    return PurePosixPath(*parts)
