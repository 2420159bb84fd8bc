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
    text = _sanitize_once(name, max_bytes, fallback)
    # trimming can expose a new edge (a space before the dot...): settle it
    for _ in range(8):
        again = _sanitize_once(text, max_bytes, fallback)
        if again == text:
            break
        text = again
    return text


def _sanitize_once(name: str, max_bytes: int, fallback: str) -> str:
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
    ext_bytes = len(ext.encode())
    # keep the extension only when at least one byte of stem still fits before it
    if dot and stem and 0 < ext_bytes <= 16 and ext_bytes + 2 <= max_bytes and " " not in ext:
        stem = _trim_bytes(stem, max_bytes - ext_bytes - 1).rstrip(" .")
        text = f"{stem}.{ext}" if stem else _trim_bytes(text, max_bytes)
    else:
        text = _trim_bytes(text, max_bytes)
    text = text.strip(" .")
    if not text or text in {".", ".."}:
        text = _trim_bytes(fallback, max_bytes) or "_"
    if _WINDOWS_RESERVED.match(text):
        # the prefix may push the name over the budget: trim again
        text = _trim_bytes("_" + text, max_bytes).rstrip(" .")
    return text
