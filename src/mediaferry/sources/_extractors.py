"""yt-dlp's extractor URL patterns, used offline for detection and media ids.

The extractor list (≈1,800 classes, lazily loaded) is built once and cached.
Compiling every pattern would cost ≈0.5 s per process, so each pattern's required
text is read from its source first (:mod:`._literals`, milliseconds) and only the
extractors whose required text is in the URL are asked; the answer is the same as
asking all of them in order. The Generic extractor (which claims every URL) is
left out.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from mediaferry.sources._literals import Need, may_match, required_text

__all__ = ["extractor_for", "extractor_key_for", "extractors", "temp_id_for"]

_LOCK = threading.Lock()
_CACHE: tuple[Any, ...] | None = None
_NEEDS: tuple[tuple[Any, Need | None], ...] | None = None
# Pseudo-extractors that claim URL shapes rather than sites.
_SKIP = frozenset({"Generic"})
# yt-dlp's own ``suitable``: a match of ``_VALID_URL`` (a pattern or several)
_DEFAULT_SUITABLE = frozenset(
    f"{base}.{name}"
    for base in ("LazyLoadExtractor", "InfoExtractor")
    for name in ("suitable", "_match_valid_url")
)


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


def _uses_default_suitable(ie: Any) -> bool:
    return all(
        getattr(getattr(ie, name, None), "__qualname__", None) in _DEFAULT_SUITABLE
        for name in ("suitable", "_match_valid_url")
    )


def _needs() -> tuple[tuple[Any, Need | None], ...]:
    """Each extractor with what a URL must contain for it to match (None: unknown,
    or its own ``suitable`` decides, which then is always asked)."""
    global _NEEDS
    if _NEEDS is None:
        classes = extractors()  # takes the lock itself
        with _LOCK:
            if _NEEDS is None:
                _NEEDS = tuple(
                    (ie, required_text(ie._VALID_URL) if _uses_default_suitable(ie) else None)
                    for ie in classes
                )
    return _NEEDS


def extractor_for(url: str) -> Any | None:
    """The first non-generic yt-dlp extractor class that claims ``url``, offline."""
    if not url.startswith(("http://", "https://")):
        return None
    for ie, need in _needs():
        if not may_match(need, url):
            continue  # its pattern cannot match: no need to compile it
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
