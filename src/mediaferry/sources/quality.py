"""Requested quality → yt-dlp format choice, on a yt-dlp info dict.

:func:`normalize_quality` turns what a user asked (``best``, ``720p``, ``4k``,
``audio``, ``audio_128``…) into a :class:`Quality`. :func:`choose_formats` picks the
formats to download, preferring what Telegram plays without re-encoding (H.264 +
AAC in MP4 for video, AAC/M4A then MP3 for audio), estimates the size, and fails
early with FORMAT_NOT_FOUND, PROTECTED_CONTENT or SIZE_LIMIT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from mediaferry.errors import FormatNotFound, JobError, ProtectedContent, SizeLimitExceeded

__all__ = [
    "AUDIO_BITRATES",
    "QUALITY_WORDS",
    "FormatChoice",
    "Quality",
    "available_qualities",
    "choose_formats",
    "estimate_size",
    "normalize_quality",
]

HEIGHTS = (2160, 1440, 1080, 720, 480, 360, 240, 144)
_ALIASES = {"4k": 2160, "uhd": 2160, "2k": 1440, "fhd": 1080, "fullhd": 1080, "hd": 720, "sd": 480}
_AUDIO_RE = re.compile(r"^(?:audio|mp3|m4a|bestaudio)(?:[_-]?(\d{2,3})k?)?$")
_HEIGHT_RE = re.compile(r"^(\d{3,4})p?$")
AUDIO_BITRATES = (320, 256, 192, 128, 96, 64)
#: The canonical words of the one quality vocabulary: what the job service stores and
#: this parser (and so every source) accepts, for video and audio jobs alike.
QUALITY_WORDS: frozenset[str] = frozenset(
    {"best", "worst", "audio", *(f"{h}p" for h in HEIGHTS)}
    | {f"audio_{kbps}" for kbps in AUDIO_BITRATES}
)


def _is_height(q: str) -> bool:
    match = _HEIGHT_RE.match(q)
    return bool(match and int(match.group(1)) in HEIGHTS)


@dataclass(frozen=True, slots=True)
class Quality:
    """A normalised request: ``kind`` plus a ceiling (None = best available)."""

    kind: Literal["video", "audio"]
    height: int | None = None
    abr: int | None = None
    worst: bool = False  # the smallest format instead of the best

    @property
    def label(self) -> str:
        if self.worst:
            return "worst"
        if self.kind == "audio":
            return f"audio_{self.abr}" if self.abr else "audio"
        return f"{self.height}p" if self.height else "best"


def normalize_quality(quality: str | None, job_type: str = "video") -> Quality:
    """``"720p"``, ``"HD"``, ``"audio_128"``… → :class:`Quality`; FormatNotFound if unknown."""
    q = (quality or "best").strip().lower().replace(" ", "")
    audio_match = _AUDIO_RE.match(q)
    if audio_match:
        return Quality("audio", abr=int(audio_match.group(1)) if audio_match.group(1) else None)
    if q in ("worst", "min", "lowest", "smallest"):
        return Quality("audio" if job_type == "audio" else "video", worst=True)
    if job_type == "audio":
        # a picture size means nothing for audio (e.g. a chat's default of 720p)
        if q in ("best", "max", "highest", "") or q in _ALIASES or _is_height(q):
            return Quality("audio")
        raise FormatNotFound(f"unknown audio quality {quality!r}; use audio or audio_128")
    if q in ("best", "max", "highest", ""):
        return Quality("video")
    if q in _ALIASES:
        return Quality("video", height=_ALIASES[q])
    match = _HEIGHT_RE.match(q)
    if match and int(match.group(1)) in HEIGHTS:
        return Quality("video", height=int(match.group(1)))
    choices = ", ".join(f"{h}p" for h in HEIGHTS)
    raise FormatNotFound(
        f"unknown quality {quality!r}; use best, worst, {choices}, audio or audio_128"
    )


@dataclass(frozen=True, slots=True)
class FormatChoice:
    """What to ask yt-dlp for, and what we expect to get."""

    format_spec: str
    size: int | None
    size_is_estimate: bool
    ext: str | None
    height: int | None
    width: int | None
    compatible: bool  # Telegram plays it without re-encoding


def _is_video(f: dict[str, Any]) -> bool:
    return (f.get("vcodec") or "none") != "none" or (
        f.get("vcodec") is None and f.get("height") is not None
    )


def _has_audio(f: dict[str, Any]) -> bool:
    acodec = f.get("acodec")
    if acodec is None:  # unknown: yt-dlp treats unknown progressive formats as muxed
        return f.get("vcodec") is None or f.get("ext") in ("mp4", "webm", "mp3", "m4a")
    return bool(acodec != "none")


def estimate_size(f: dict[str, Any], duration: float | None) -> tuple[int | None, bool]:
    """``(bytes, is_estimate)`` from filesize, filesize_approx or bitrate × duration."""
    if f.get("filesize"):
        return int(f["filesize"]), False
    if f.get("filesize_approx"):
        return int(f["filesize_approx"]), True
    rate = f.get("tbr") or ((f.get("vbr") or 0) + (f.get("abr") or 0)) or None
    if rate and duration:
        return int(float(rate) * 1000 / 8 * float(duration)), True
    return None, True


def _video_compat(f: dict[str, Any]) -> int:
    vcodec = str(f.get("vcodec") or "")
    if vcodec.startswith(("avc1", "h264")) and f.get("ext") in ("mp4", "m4v", None):
        return 2
    return 1 if f.get("ext") == "mp4" else 0


def _audio_compat(f: dict[str, Any]) -> int:
    acodec = str(f.get("acodec") or "")
    if acodec.startswith("mp4a") or f.get("ext") in ("m4a", "aac"):
        return 2
    return 1 if acodec == "mp3" or f.get("ext") == "mp3" else 0


def _rate(f: dict[str, Any]) -> float:
    return float(f.get("tbr") or f.get("vbr") or f.get("abr") or 0)


@dataclass(slots=True)
class _Candidate:
    ids: list[str]
    size: int | None
    estimate: bool
    ext: str | None
    height: int | None
    width: int | None
    compatible: bool
    rank: tuple[float, ...]


def _size_of(parts: list[dict[str, Any]], duration: float | None) -> tuple[int | None, bool]:
    total, estimate = 0, False
    for part in parts:
        size, est = estimate_size(part, duration)
        if size is None:
            return None, True
        total += size
        estimate = estimate or est
    return total, estimate


def _video_candidates(
    formats: list[dict[str, Any]], q: Quality, duration: float | None
) -> list[_Candidate]:
    videos = [f for f in formats if _is_video(f)]
    if q.height:
        videos = [f for f in videos if (f.get("height") or 0) <= q.height]
    audios = [f for f in formats if not _is_video(f) and _has_audio(f)]
    out: list[_Candidate] = []
    for v in videos:
        parts = [v]
        if not _has_audio(v):
            if not audios:
                continue
            want = 2 if _video_compat(v) == 2 else 0
            audios_sorted = sorted(audios, key=lambda a: (_audio_compat(a) == want, _rate(a)))
            parts.append(audios_sorted[-1])
        size, est = _size_of(parts, duration)
        compat = _video_compat(v) == 2 and all(_audio_compat(p) == 2 for p in parts[1:])
        rank = (float(v.get("height") or 0), float(compat), float(_video_compat(v)), _rate(v))
        if q.worst:  # smallest picture and rate, still preferring what Telegram plays
            rank = (-rank[0], rank[1], rank[2], -rank[3])
        out.append(
            _Candidate(
                [str(p["format_id"]) for p in parts],
                size,
                est,
                v.get("ext"),
                v.get("height"),
                v.get("width"),
                compat,
                rank,
            )
        )
    return out


def _audio_candidates(
    formats: list[dict[str, Any]], q: Quality, duration: float | None
) -> list[_Candidate]:
    audios = [f for f in formats if not _is_video(f) and _has_audio(f)]
    if not audios:  # audio will be extracted from the smallest muxed format
        muxed = [f for f in formats if _is_video(f) and _has_audio(f)]
        audios = sorted(muxed, key=_rate)[:1]
    out: list[_Candidate] = []
    for a in audios:
        abr = float(a.get("abr") or a.get("tbr") or 0)
        within = 1.0 if not q.abr or abr <= q.abr * 1.1 else 0.0
        closeness = abr if within else -abr
        size, est = _size_of([a], duration)
        compat = _audio_compat(a) == 2
        rank = (within, closeness, float(_audio_compat(a)))
        if q.worst:
            rank = (float(compat), -abr, float(_audio_compat(a)))
        out.append(
            _Candidate([str(a["format_id"])], size, est, a.get("ext"), None, None, compat, rank)
        )
    return out


def _fallback_spec(q: Quality) -> str:
    if q.worst:
        if q.kind == "audio":
            return "wa[ext=m4a]/wa/w"
        return "wv*[vcodec^=avc1]+wa[ext=m4a]/wv*+wa/w"
    if q.kind == "audio":
        return "ba[ext=m4a]/ba/b"
    h = f"[height<={q.height}]" if q.height else ""
    return f"bv*{h}[vcodec^=avc1]+ba[ext=m4a]/bv*{h}+ba/b{h}"


def choose_formats(info: dict[str, Any], quality: Quality, max_bytes: int) -> FormatChoice:
    """Pick formats from ``info`` (a yt-dlp info dict) for ``quality`` within ``max_bytes``."""
    formats = [f for f in info.get("formats") or [] if f.get("format_id")]
    duration = info.get("duration")
    if not formats:  # a single-format result (e.g. a direct file)
        size, est = estimate_size(info, duration)
        if size is not None and size > max_bytes:
            raise SizeLimitExceeded(_too_big(size, max_bytes))
        return FormatChoice(
            _fallback_spec(quality),
            size,
            est,
            info.get("ext"),
            info.get("height"),
            info.get("width"),
            False,
        )
    clear = [f for f in formats if not f.get("has_drm")]
    if not clear:
        raise ProtectedContent("every format of this media is DRM-protected")
    pick = _video_candidates if quality.kind == "video" else _audio_candidates
    candidates = pick(clear, quality, duration)
    if not candidates:
        raise FormatNotFound(f"no {quality.label} format exists for this media")
    candidates.sort(key=lambda c: c.rank, reverse=True)
    fitting = [c for c in candidates if c.size is None or c.size <= max_bytes]
    if not fitting:
        smallest = min(c.size or 0 for c in candidates)
        raise SizeLimitExceeded(_too_big(smallest, max_bytes))
    best = fitting[0]
    spec = "+".join(best.ids) + "/" + _fallback_spec(quality)
    return FormatChoice(
        spec, best.size, best.estimate, best.ext, best.height, best.width, best.compatible
    )


def _too_big(size: int, limit: int) -> str:
    return (
        f"the smallest fitting format is about {size / 1e6:.0f} MB, "
        f"over the {limit / 1e6:.0f} MB limit"
    )


STANDARD_HEIGHTS = (2160, 1440, 1080, 720, 480, 360, 240, 144)


def available_qualities(info: dict[str, Any], max_bytes: int) -> dict[str, int | None]:
    """The standard video qualities this media really has, each with its estimated
    size (``{"1080p": 123_000_000, "720p": None, ...}``), best first."""
    out: dict[str, int | None] = {}
    if not info.get("formats"):
        return out
    for height in STANDARD_HEIGHTS:
        try:
            choice = choose_formats(info, Quality("video", height=height), max_bytes)
        except JobError:
            continue
        if choice.height is None or choice.height > height:
            continue
        label = f"{choice.height}p"  # what this ceiling really gets
        if label not in out and choice.height in STANDARD_HEIGHTS:
            out[label] = choice.size
    return out
