"""Several media files from one download (a multi-file torrent): each its own part.

A torrent of an album (five MP3s, a cover, an .nfo) or of a season of videos is not one
file. Each media file is post-processed on its own (its own tags, stream copy, its own
title) and becomes one part of a *collection* result, in path order, so the deliverers
send an album of audio or a group of videos. Files that are not media, and media of the
other kind (a video among songs), are kept as ``extras``: listed in the caption,
archived beside the parts, never silently dropped. A picture among the files (``cover``
or ``folder`` first) is every audio part's cover.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Literal

from mediaferry.config import Settings
from mediaferry.errors import MediaError
from mediaferry.media.ffmpeg import FFmpegRunner
from mediaferry.media.postprocess import MEDIA_EXTENSIONS, postprocess
from mediaferry.media.probe import probe
from mediaferry.media.result import Part, Processed
from mediaferry.plan import MediaPlan

__all__ = [
    "PICTURE_EXTENSIONS",
    "is_collection",
    "media_files",
    "postprocess_collection",
    "postprocess_download",
]

PICTURE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp"})
_AUDIO_ONLY = frozenset(
    {".mp3", ".m4a", ".aac", ".opus", ".ogg", ".oga", ".flac", ".wav", ".wma", ".mka", ".amr"}
)
_DIGITS = re.compile(r"(\d+)")


def _natural(path: Path) -> tuple[object, ...]:
    """``2.mp3`` before ``10.mp3``; then by the path as written."""
    key = _DIGITS.split(str(path).casefold())
    return tuple((0, int(k)) if k.isdigit() else (1, k) for k in key)


def media_files(files: list[Path]) -> list[Path]:
    """The media files among ``files`` (by extension), in natural path order."""
    return sorted((f for f in files if f.suffix.lower() in MEDIA_EXTENSIONS), key=_natural)


def is_collection(files: list[Path]) -> bool:
    """More than one media file: each becomes its own delivery."""
    return len(media_files(files)) > 1


def _cover(files: list[Path]) -> Path | None:
    pictures = sorted((f for f in files if f.suffix.lower() in PICTURE_EXTENSIONS), key=_natural)
    for picture in pictures:
        if picture.stem.lower() in ("cover", "folder", "front", "album"):
            return picture
    return pictures[0] if pictures else None


async def postprocess_collection(
    files: list[Path],
    *,
    job_type: Literal["video", "audio"],
    plan: MediaPlan,
    work_dir: Path,
    settings: Settings,
    runner: FFmpegRunner | None = None,
) -> Processed:
    """One part per media file of ``files`` (in order); the rest are ``extras``."""
    media = media_files(files)
    audio_only = job_type == "audio" or all(f.suffix.lower() in _AUDIO_ONLY for f in media)
    kind: Literal["video", "audio"] = "audio" if audio_only else "video"
    if kind == "video":  # a group of videos: any pure audio file is kept as an extra
        media = [f for f in media if f.suffix.lower() not in _AUDIO_ONLY]
    if not media:
        raise MediaError("the download holds no media file")
    cover = _cover(files)
    parts: list[Part] = []
    performers: list[str] = []
    for number, src in enumerate(media, start=1):
        # the plan describes the whole download: its title is the folder's, not a track's
        own = replace(plan, title=None, duration=None, extra={})
        done = await postprocess(
            src, job_type=kind, plan=own, work_dir=work_dir / f"{number:03d}",
            settings=settings, thumbnail_file=cover, runner=runner,
        )  # fmt: skip
        total = len(done.parts)
        for index, part in enumerate(done.parts, start=1):
            part.title = done.title if total == 1 else f"{done.title} ({index}/{total})"
            part.performer = done.performer
            if part.probe is None and done.kind != "document":
                part.probe = await probe(part.path, runner=runner)
            parts.append(part)
        if done.performer:
            performers.append(done.performer)
    used = set(media)
    extras = sorted((f for f in files if f not in used and f.is_file()), key=_natural)
    performer = performers[0] if performers and len(set(performers)) == 1 else None
    return Processed(
        kind,
        parts,
        plan.title or (parts[0].title if parts else None),
        performer,
        plan.album or plan.title,
        extras=extras,
        collection=True,
    )


async def postprocess_download(
    path: Path,
    extra_files: tuple[Path, ...] | list[Path],
    *,
    job_type: Literal["video", "audio"],
    plan: MediaPlan,
    work_dir: Path,
    settings: Settings,
    runner: FFmpegRunner | None = None,
) -> Processed:
    """POSTPROCESS of what a transfer wrote: one file (plus perhaps its thumbnail), or
    a collection when it wrote several media files."""
    files = [path, *extra_files]
    if is_collection(files):
        return await postprocess_collection(
            files, job_type=job_type, plan=plan, work_dir=work_dir, settings=settings,
            runner=runner,
        )  # fmt: skip
    thumb = next((f for f in extra_files if f.suffix.lower() in PICTURE_EXTENSIONS), None)
    done = await postprocess(
        path, job_type=job_type, plan=plan, work_dir=work_dir, settings=settings,
        thumbnail_file=thumb, runner=runner,
    )  # fmt: skip
    if plan.protocol == "torrent":  # the torrent's other files: listed and archived too
        done.extras = [f for f in extra_files if f.is_file()]
    return done
