"""POSTPROCESS and VALIDATE: from "a file is on disk" to "a file Telegram plays".

The job pipeline calls :func:`postprocess` then :func:`validate`; nothing else in
``media/`` needs to be known above this module.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Literal

from mediaferry.config import Settings
from mediaferry.errors import MediaError, SizeLimitExceeded
from mediaferry.files.digest import FileDigest
from mediaferry.media.audio import (
    Tags,
    extract_audio,
    normalise_date,
    target_format,
    write_tags,
)
from mediaferry.media.ffmpeg import FFmpegRunner
from mediaferry.media.original import KEEP_ORIGINAL, keep_original
from mediaferry.media.probe import ProbeInfo, probe
from mediaferry.media.result import Part, Processed
from mediaferry.media.split import split_file
from mediaferry.media.tags import Chosen, choose_tags, clean_tag, read_file_tags, url_file_name
from mediaferry.media.thumbnail import thumbnail_from_image, thumbnail_from_video
from mediaferry.media.validate import Validated, validate_file
from mediaferry.media.video import make_streamable
from mediaferry.plan import MediaPlan

__all__ = ["postprocess", "runner_for", "validate"]

# Names that promise media: if ffprobe cannot read one, that is an error, not a document.
_VIDEO_EXTS = ".mp4 .m4v .mkv .webm .mov .avi .flv .ts .m2ts .3gp .wmv .mpg .mpeg .ogv"
_AUDIO_EXTS = ".mp3 .m4a .aac .opus .ogg .oga .flac .wav .wma .mka .amr"
MEDIA_EXTENSIONS = frozenset(f"{_VIDEO_EXTS} {_AUDIO_EXTS}".split(" "))


def runner_for(settings: Settings) -> FFmpegRunner:
    """The ffmpeg runner with the configured binary paths."""
    return FFmpegRunner(ffmpeg=settings.ffmpeg_path, ffprobe=settings.ffprobe_path)


def _limit(settings: Settings) -> int:
    return min(settings.upload_limit_bytes, settings.max_file_size_bytes)


def _looks_like_media(src: Path, plan: MediaPlan) -> bool:
    mime = (plan.mime or "").lower()
    return src.suffix.lower() in MEDIA_EXTENSIONS or mime.startswith(("video/", "audio/"))


def _source_thumbnail(plan: MediaPlan, thumbnail_file: Path | None) -> Path | None:
    candidate = thumbnail_file or plan.extra.get("thumbnail_file")
    if candidate and Path(candidate).is_file() and Path(candidate).stat().st_size > 0:
        return Path(candidate)
    return None


async def postprocess(
    src: Path,
    *,
    job_type: Literal["video", "audio"],
    plan: MediaPlan,
    work_dir: Path,
    settings: Settings,
    thumbnail_file: Path | None = None,
    runner: FFmpegRunner | None = None,
) -> Processed:
    """Turn a downloaded file into what Telegram plays.

    Video jobs become streamable MP4 (split or refused when over the upload limit,
    per ``oversize_policy``); audio jobs become tagged M4A/MP3 with a cover; files
    that are not media pass through as documents. ``thumbnail_file`` (or
    ``plan.extra["thumbnail_file"]``) is a downloaded source thumbnail, if any.
    """
    run = runner or runner_for(settings)
    src = Path(src)
    work_dir.mkdir(parents=True, exist_ok=True)
    if plan.extra.get(KEEP_ORIGINAL):  # files that are final as they came (Telegram)
        return await keep_original(src, plan, work_dir, run)
    try:
        info = await probe(src, runner=run)
    except MediaError:
        if src.is_file() and src.stat().st_size > 0 and not _looks_like_media(src, plan):
            return _document(src, plan)
        raise
    if not (info.has_video or info.has_audio):
        return _document(src, plan)
    thumb = _source_thumbnail(plan, thumbnail_file)
    if job_type == "video" and info.has_video:
        return await _video_job(info, plan, work_dir, settings, thumb, run)
    return await _audio_job(info, plan, work_dir, settings, thumb, run)


def _document(src: Path, plan: MediaPlan) -> Processed:
    part = Part(path=src, size=src.stat().st_size)
    title = clean_tag(plan.title) or clean_tag(src.stem) or "untitled"
    return Processed(kind="document", parts=[part], title=title)


async def _video_part(
    path: Path, work_dir: Path, run: FFmpegRunner, thumb: Path | None = None
) -> Part:
    info = await probe(path, runner=run)
    dest = work_dir / f"{path.stem}.thumb.jpg"
    try:
        if thumb is not None:
            cover = await thumbnail_from_image(thumb, dest, runner=run)
        else:
            cover = await thumbnail_from_video(info, dest, runner=run)
    except MediaError:
        cover = None  # a missing thumbnail never fails a job
    width, height = info.display_size
    return Part(path, info.size, info.duration, width, height, cover, info)


async def _fit(
    info: ProbeInfo, work_dir: Path, settings: Settings, run: FFmpegRunner
) -> list[Path]:
    """The file itself if it fits, else its parts (policy ``split``) or SIZE_LIMIT."""
    limit = _limit(settings)
    if info.size <= limit:
        return [info.path]
    if settings.oversize_policy != "split":
        raise SizeLimitExceeded(
            f"the result is {info.size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB limit"
        )
    parts = await split_file(info, work_dir / "parts", limit_bytes=limit, runner=run)
    with contextlib.suppress(FileNotFoundError):
        info.path.unlink()  # the parts replace it; keep the temp dir small
    return parts


async def _video_job(
    info: ProbeInfo,
    plan: MediaPlan,
    work_dir: Path,
    settings: Settings,
    thumb: Path | None,
    run: FFmpegRunner,
) -> Processed:
    out = await make_streamable(
        info.path, work_dir / "out", info,
        preset=settings.video_preset, crf=settings.video_crf, runner=run,
    )  # fmt: skip
    out_info = await probe(out, runner=run)
    files = await _fit(out_info, work_dir, settings, run)
    single = len(files) == 1
    parts = [await _video_part(p, work_dir, run, thumb if single else None) for p in files]
    chosen = await _chosen_tags(info, plan)
    return Processed("video", parts, chosen.title, chosen.performer, chosen.album)


async def _cover(
    info: ProbeInfo, work_dir: Path, thumb: Path | None, run: FFmpegRunner
) -> Path | None:
    dest = work_dir / "cover.jpg"
    try:
        if thumb is not None:
            return await thumbnail_from_image(thumb, dest, runner=run)
        if info.has_video or info.cover_index is not None:
            return await thumbnail_from_video(info, dest, runner=run)
    except MediaError:
        return None
    return None


async def _audio_job(
    info: ProbeInfo,
    plan: MediaPlan,
    work_dir: Path,
    settings: Settings,
    thumb: Path | None,
    run: FFmpegRunner,
) -> Processed:
    if not info.has_audio:
        raise MediaError(f"{info.path.name} has no audio to extract")
    chosen = await _chosen_tags(info, plan)
    fmt = target_format(info, settings.audio_format)
    out = await extract_audio(info.path, work_dir / "out", info, fmt=fmt, runner=run)
    cover = await _cover(info, work_dir, thumb, run)
    title = chosen.title
    tags = Tags(title, chosen.performer, chosen.album, chosen.date, cover, chosen.track)
    files = await _fit(await probe(out, runner=run), work_dir, settings, run)
    parts: list[Part] = []
    for number, path in enumerate(files, start=1):
        name = title if len(files) == 1 else f"{title} ({number}/{len(files)})"
        await write_tags(path, replace(tags, title=name))
        part_info = await probe(path, runner=run)
        parts.append(Part(path, part_info.size, part_info.duration, None, None, cover, part_info))
    return Processed("audio", parts, title, chosen.performer, chosen.album)


async def _chosen_tags(info: ProbeInfo, plan: MediaPlan) -> Chosen:
    """Site metadata, else the file's own tags, else its name (see media/tags.py)."""
    own = await asyncio.to_thread(read_file_tags, info.path)
    return choose_tags(
        site_title=plan.title,
        site_performer=plan.uploader,
        site_album=plan.album,
        site_date=normalise_date(plan.upload_date),
        file=own,
        file_names=(info.path.name, url_file_name(plan.url)),
        fallback=info.path.stem,
    )


async def validate(
    processed: Processed,
    *,
    expected_duration: float | None,
    settings: Settings,
    runner: FFmpegRunner | None = None,
    digest: FileDigest | None = None,
) -> list[Validated]:
    """VALIDATE every part; the parts' total duration must match the source's.

    Returns one :class:`Validated` (size, sha256, duration) per part, in order.
    ``digest`` is the downloaded file's, re-used for a part that is still that file.
    """
    run = runner or runner_for(settings)
    tolerance = (settings.duration_tolerance_s, settings.duration_tolerance_pct / 100)
    is_media = processed.kind != "document"
    results = [
        await validate_file(
            part.path,
            limit_bytes=_limit(settings),
            media=is_media,
            tolerance=tolerance,
            runner=run,
            digest=digest,
        )
        for part in processed.parts
    ]
    if not results:
        raise MediaError("post-processing produced no file")
    if is_media and expected_duration:
        total = sum(r.duration or 0.0 for r in results)
        allowed = max(tolerance[0], expected_duration * tolerance[1])
        if abs(total - expected_duration) > allowed:
            raise MediaError(
                f"the result lasts {total:.1f}s but the source said {expected_duration:.1f}s"
            )
    return results
