"""yt-dlp's extractor URL patterns, used offline for detection and media ids.

The extractor list (≈1,800 classes, lazily loaded) is built once and cached; the
first match compiles the patterns (≈0.4 s once per process), later matches take a
few milliseconds. The Generic extractor (which claims every URL) is left out.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

__all__ = ["extractor_for", "extractor_key_for", "extractors", "temp_id_for"]

_LOCK = threading.Lock()
_CACHE: tuple[Any, ...] | None = None
# Pseudo-extractors that claim URL shapes rather than sites.
_SKIP = frozenset({"Generic"})


def extractors() -> tuple[Any, ...]:
    """yt-dlp's extractor classes (cached), the Generic extractor excluded."""
    global _CACHE
    if _CACHE is None:
        with _LOCK:
            if _CACHE is None:
                from yt_dlp.extractor import gen_extractor_classes

                _CACHE = tuple(ie for ie in gen_extractor_classes() if ie.ie_key() not in _SKIP)
    return _CACHE


@lru_cache(maxsize=4096)
def extractor_key_for(url: str) -> str | None:
    """The key (e.g. ``"Youtube"``) of the first extractor that claims ``url``."""
    ie = extractor_for(url)
    return str(ie.ie_key()) if ie is not None else None


def extractor_for(url: str) -> Any | None:
    """The first non-generic yt-dlp extractor class that claims ``url``, offline."""
    if not url.startswith(("http://", "https://")):
        return None
    for ie in extractors():
        try:
            if ie.suitable(url):
                return ie
        except Exception:
            continue
    return None


def temp_id_for(url: str) -> tuple[str, str] | None:
    """``(extractor key, media id)`` from the URL alone, or None."""
    ie = extractor_for(url)
    if ie is None:
        return None
    try:
        media_id = ie.get_temp_id(url)
    except Exception:
        return None
    if not media_id:
        return None
    return str(ie.ie_key()), str(media_id)
