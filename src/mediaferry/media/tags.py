# mutagen ships no annotations for its constructors.
# mypy: disable-error-code="no-untyped-call"
"""A media file's own tags, read with mutagen, and the rule that picks what is kept.

:func:`read_file_tags` reads title, artist, album, date and track number from ID3
(v2, or v1 when that is all there is), MP4/M4A atoms and Vorbis comments (FLAC, Ogg,
Opus). Every value is cleaned by :func:`clean_tag`: tags are outside input, so control
and invisible characters go and the length is bounded (a 1 MB title becomes 256
characters). A file whose tags cannot be read simply has none.

:func:`choose_tags` decides per field: site metadata (yt-dlp, a lecture page) wins
where present, then the file's own tags, then a guess from the file name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import mutagen

__all__ = [
    "MAX_TAG_CHARS",
    "Chosen",
    "FileTags",
    "choose_tags",
    "clean_tag",
    "is_name_guess",
    "read_file_tags",
    "url_file_name",
]

MAX_TAG_CHARS = 256
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"\s+")
_NAME_NOISE = re.compile(r"[\s_.\-+]+")


def clean_tag(value: object, limit: int = MAX_TAG_CHARS) -> str | None:
    """Printable text of at most ``limit`` characters, or None when nothing is left."""
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if len(text) > limit * 4:
        text = text[: limit * 4]  # never walk a megabyte of tag character by character
    text = _INVISIBLE.sub("", text)
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


@dataclass(frozen=True, slots=True)
class FileTags:
    """What a file says about itself (all cleaned; None when absent)."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    date: str | None = None
    track: str | None = None


def _first(tags: Any, key: str) -> str | None:
    try:
        values = tags.get(key)
    except (KeyError, ValueError):
        return None
    if not values:
        return None
    return clean_tag(values[0] if isinstance(values, list) else values)


def _track(value: str | None) -> str | None:
    """``"3/12"`` or ``"03"`` → ``"3"``; anything that is not a number is dropped."""
    match = re.match(r"\s*0*(\d{1,4})", value or "")
    return match.group(1) if match else None


def read_file_tags(path: Path) -> FileTags:
    """The text tags of ``path`` (blocking; run it in a thread). Never raises."""
    try:
        audio = mutagen.File(path, easy=True)
    except Exception:  # broken or hostile files make mutagen raise many types
        return FileTags()
    tags = getattr(audio, "tags", None)
    if not tags:
        return FileTags()
    return FileTags(
        title=_first(tags, "title"),
        artist=_first(tags, "artist") or _first(tags, "albumartist"),
        album=_first(tags, "album"),
        date=clean_tag(_first(tags, "date"), 32),
        track=_track(_first(tags, "tracknumber")),
    )


def _name_key(text: str) -> str:
    return _NAME_NOISE.sub(" ", text).strip().casefold()


def is_name_guess(title: str | None, *names: str) -> bool:
    """True when ``title`` is only a file name (or absent): a guess, not metadata."""
    if not title:
        return True
    key = _name_key(title)
    return any(key in (_name_key(n), _name_key(PurePosixPath(n).stem)) for n in names if n)


def url_file_name(url: str) -> str:
    """The last path segment of ``url``, unquoted (``""`` when there is none)."""
    try:
        return unquote(PurePosixPath(urlsplit(url).path).name)
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class Chosen:
    """The values a result is delivered, tagged and archived with."""

    title: str
    performer: str | None
    album: str | None
    date: str | None
    track: str | None


def choose_tags(
    *,
    site_title: str | None,
    site_performer: str | None,
    site_album: str | None,
    site_date: str | None,
    file: FileTags,
    file_names: tuple[str, ...],
    fallback: str,
) -> Chosen:
    """Site metadata wins where present, then the file's own tags, then the file name.

    A site title that is only a file name (a direct link's, a torrent's) counts as a
    guess, so the file's own title beats it.
    """
    site = clean_tag(site_title)
    title = (
        (site if not is_name_guess(site, *file_names) else None)
        or file.title
        or site
        or clean_tag(fallback)
        or "untitled"
    )
    return Chosen(
        title=title,
        performer=clean_tag(site_performer) or file.artist,
        album=clean_tag(site_album) or file.album,
        date=clean_tag(site_date, 32) or file.date,
        track=file.track,
    )
