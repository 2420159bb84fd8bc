"""One filename sanitiser for every name Mediaferry writes."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["sanitize_filename"]

_RESERVED_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
# bidi overrides/isolates and zero-width characters that disguise extensions
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def _trim_bytes(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def sanitize_filename(name: str, *, max_bytes: int = 200, fallback: str = "untitled") -> str:
    """A safe single path component: no separators, ``..``, control, reserved or
    invisible characters, no Windows-reserved names, at most ``max_bytes`` UTF-8
    bytes (keeping the extension), never empty, and idempotent."""
    text = unicodedata.normalize("NFC", str(name))
    text = _INVISIBLE.sub("", text)
    text = _RESERVED_CHARS.sub("_", text)
    text = _SPACES.sub(" ", text).strip()
    text = re.sub(r"\.{2,}", ".", text)
    text = text.strip(" .")
    if not text:
        text = fallback
    if _WINDOWS_RESERVED.match(text):
        text = "_" + text
    stem, dot, ext = text.rpartition(".")
    if dot and stem and 0 < len(ext.encode()) <= 16 and " " not in ext:
        stem = _trim_bytes(stem, max(1, max_bytes - len(ext.encode()) - 1)).rstrip(" .")
        text = f"{stem}.{ext}" if stem else _trim_bytes(text, max_bytes)
    else:
        text = _trim_bytes(text, max_bytes)
    text = text.strip(" .")
    if not text or text in {".", ".."}:
        text = fallback
    if _WINDOWS_RESERVED.match(text):
        text = "_" + text
    return text
