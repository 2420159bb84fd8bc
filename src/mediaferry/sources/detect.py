"""Which source handles a link, and its media id: offline, in milliseconds.

The one place detection is decided. The source classes (:mod:`.registry`) and the
job service both ask here, and nothing here imports a source, the HTTP client or
yt-dlp: sites yt-dlp knows are matched with the cached table of its URL patterns
(:mod:`._extractors`), so ``mediaferry add`` creates a job without loading the
download engine.

Order matters: specific sites first, then files by extension, then any site a yt-dlp
extractor claims; an http(s) link nobody claims falls back to BROWSER (which probes,
parses and finally loads the page). Non-web schemes are UNSUPPORTED.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from mediaferry.net.torrent import magnet_info
from mediaferry.plan import SourceType
from mediaferry.sources._extractors import extractor_key_for, temp_id_for
from mediaferry.sources._html import MEDIA_EXTS

__all__ = [
    "FALLBACK",
    "ORDER",
    "DetectSettings",
    "claims",
    "detect",
    "detect_source",
    "host_in",
    "media_id_for",
]


class DetectSettings(Protocol):
    """What detection reads of the settings."""

    @property
    def islamic_domains(self) -> list[str]: ...
    @property
    def browser_domains(self) -> list[str]: ...
    @property
    def data_dir(self) -> Path: ...


S = SourceType
ORDER: tuple[SourceType, ...] = (
    S.UNSUPPORTED,
    S.TELEGRAM,
    S.TORRENT,
    S.ISLAMIC,
    S.BROWSER,  # configured domains only; as the fallback see FALLBACK
    S.YOUTUBE,
    S.FACEBOOK,
    S.ARCHIVE_ORG,
    S.DIRECT,
    S.YTDLP,
)
FALLBACK = S.BROWSER

TELEGRAM_LINK = re.compile(
    r"^https?://(?:www\.)?(?:t|telegram)\.(?:me|dog)/(?:s/|c/)?"
    r"(?P<chat>[\w+-]+)(?:/(?P<msg>\d+))?",
    re.IGNORECASE,
)
TORRENT_LINK = re.compile(r"^magnet:\?|^https?://[^?#]+\.torrent(?:[?#].*)?$", re.IGNORECASE)
DIRECT_LINK = re.compile(
    rf"^https?://[^?#]+\.(?:{'|'.join(sorted(MEDIA_EXTS))})(?:[?#].*)?$", re.IGNORECASE
)
# sites with a source of their own: a yt-dlp extractor family, or these hosts
SITE_LINKS: dict[SourceType, tuple[tuple[str, ...], re.Pattern[str]]] = {
    S.YOUTUBE: (
        ("Youtube",),
        re.compile(
            r"^https?://(?:[\w-]+\.)?(?:youtube\.com|youtu\.be|youtube-nocookie\.com)/", re.I
        ),
    ),
    S.FACEBOOK: (
        ("Facebook",),
        re.compile(r"^https?://(?:[\w-]+\.)?(?:facebook\.com|fb\.watch|fb\.com)/", re.I),
    ),
    S.ARCHIVE_ORG: (
        ("ArchiveOrg",),
        re.compile(r"^https?://(?:www\.)?archive\.org/(?:details|embed)/", re.I),
    ),
}
# extractor families that have their own source: YTDLP must not claim them
OWN_FAMILIES = ("Youtube", "Facebook", "ArchiveOrg", "Telegram")
_WEB = ("http://", "https://")
_SINGLE = re.compile(r"[?&]single(?:[=&]|$)")
_NUMBER = re.compile(r"(\d{3,})")


def host_in(url: str, domains: list[str]) -> bool:
    """Is ``url``'s host one of ``domains`` or a subdomain of one?"""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    return any(host == d or host.endswith("." + d) for d in domains)


def _cache(settings: DetectSettings) -> Path:
    return Path(settings.data_dir) / "cache"


def _site(source_type: SourceType) -> Callable[[str, DetectSettings], bool]:
    prefixes, pattern = SITE_LINKS[source_type]

    def claims_site(url: str, settings: DetectSettings) -> bool:
        key = extractor_key_for(url, _cache(settings))
        return (key is not None and key.startswith(prefixes)) or bool(pattern.search(url))

    return claims_site


def _ytdlp(url: str, settings: DetectSettings) -> bool:
    key = extractor_key_for(url, _cache(settings))
    return key is not None and not key.startswith(OWN_FAMILIES)


_CLAIMS: dict[SourceType, Callable[[str, DetectSettings], bool]] = {
    S.UNSUPPORTED: lambda url, _: not url.lower().startswith((*_WEB, "magnet:")),
    S.TELEGRAM: lambda url, _: bool(TELEGRAM_LINK.search(url)),
    S.TORRENT: lambda url, _: bool(TORRENT_LINK.search(url)),
    S.ISLAMIC: lambda url, s: url.lower().startswith(_WEB) and host_in(url, s.islamic_domains),
    S.BROWSER: lambda url, s: url.lower().startswith(_WEB) and host_in(url, s.browser_domains),
    S.YOUTUBE: _site(S.YOUTUBE),
    S.FACEBOOK: _site(S.FACEBOOK),
    S.ARCHIVE_ORG: _site(S.ARCHIVE_ORG),
    S.DIRECT: lambda url, _: bool(DIRECT_LINK.search(url)),
    S.YTDLP: _ytdlp,
}


def claims(source_type: SourceType, url: str, settings: DetectSettings) -> bool:
    """Does the source ``source_type`` claim ``url`` (its own test, out of order)?"""
    return _CLAIMS[source_type](url, settings)


def detect_source(url: str, settings: DetectSettings) -> SourceType:
    """Which source handles ``url``: the first of :data:`ORDER` that claims it."""
    url = url.strip()
    for source_type in ORDER:
        if _CLAIMS[source_type](url, settings):
            return source_type
    return FALLBACK


def _media_id(url: str, source_type: SourceType, settings: DetectSettings) -> str | None:
    if source_type == S.TELEGRAM:
        match = TELEGRAM_LINK.search(url)
        if match and match.group("msg"):
            # one item of an album (?single) is not the album its message stands for
            single = "?single" if _SINGLE.search(url) else ""
            return f"{match.group('chat').lower()}/{match.group('msg')}{single}"
        return None
    if source_type == S.TORRENT:
        return magnet_info(url).info_hash if url.lower().startswith("magnet:") else None
    if source_type == S.ISLAMIC:
        match = _NUMBER.search(urlsplit(url).path)
        return match.group(1) if match else None
    if source_type in SITE_LINKS:
        found = temp_id_for(url, _cache(settings))
        return found[1] if found else None
    if source_type == S.YTDLP:
        # ids are only unique per site: prefix the extractor key
        found = temp_id_for(url, _cache(settings))
        return f"{found[0]}:{found[1]}" if found else None
    return None


def media_id_for(url: str, source_type: SourceType | str, settings: DetectSettings) -> str | None:
    """A stable media id for de-duplication (offline), or None."""
    try:
        return _media_id(url.strip(), SourceType(source_type), settings)
    except Exception:  # an id is an optimisation; never fail a job over it
        return None


def detect(url: str, settings: DetectSettings) -> tuple[SourceType, str | None]:
    """``(source type, media id or None)`` of ``url``: what a new job records."""
    source_type = detect_source(url, settings)
    return source_type, media_id_for(url, source_type, settings)
