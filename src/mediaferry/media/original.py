"""Keep a file as it came (Telegram documents, issue 10): never remuxed or transcoded.

The result is the downloaded file itself, described (kind, duration, size, cover) by
ffprobe. Title and performer come from the plan (the document's audio attributes),
else from the file's own tags, else from the file name. Tags are written only into
an MP3/M4A file that has none (mutagen rewrites the tag block, never the audio).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from mediaferry.errors import MediaError
from mediaferry.media.audio import Tags, read_tags, write_tags
from mediaferry.media.ffmpeg import FFmpegRunner
from mediaferry.media.probe import probe
from mediaferry.media.result import Part, Processed
from mediaferry.media.thumbnail import thumbnail_from_video
from mediaferry.plan import FALLBACK_TITLE, KEEP_ORIGINAL

if TYPE_CHECKING:
    from mediaferry.plan import MediaPlan

__all__ = ["FALLBACK_TITLE", "KEEP_ORIGINAL", "keep_original"]

log = logging.getLogger(__name__)

_TAGGABLE = {".mp3", ".m4a"}


async def _own_tags(path: Path) -> Tags:
    if path.suffix.lower() not in _TAGGABLE:
        return Tags()
    try:
        return await read_tags(path)
    except MediaError:
        return Tags()


async def keep_original(
    src: Path, plan: MediaPlan, work_dir: Path, runner: FFmpegRunner
) -> Processed:
    """Describe ``src`` for delivery and the library without changing its audio/video."""
    size = src.stat().st_size
    if size == 0:
        raise MediaError(f"{src.name} is empty (0 bytes)")
    try:
        info = await probe(src, runner=runner)
    except MediaError:
        info = None
    own = await _own_tags(src)
    title = plan.title or own.title or plan.extra.get(FALLBACK_TITLE) or src.stem
    performer = plan.uploader or own.artist
    if info is None or not (info.has_video or info.has_audio):
        return Processed("document", [Part(src, size)], title, performer, plan.album)
    if info.has_video:
        width, height = info.display_size
        thumb = None
        try:
            thumb = await thumbnail_from_video(info, work_dir / f"{src.stem}.thumb.jpg",
                                               runner=runner)  # fmt: skip
        except MediaError:
            thumb = None  # a missing thumbnail never fails a job
        part = Part(src, size, info.duration, width, height, thumb, info)
        return Processed("video", [part], title, performer, plan.album)
    if src.suffix.lower() in _TAGGABLE and not (own.title or own.artist):
        tags = Tags(title, performer, plan.album)
        try:
            await write_tags(src, tags)
            size = src.stat().st_size
            log.info("tags written into %s (it had none)", src.name)
        except MediaError as exc:
            log.warning("tags not written: %s", exc)
    part = Part(src, size, info.duration, None, None, None, info)
    return Processed("audio", [part], title, performer, plan.album or own.album)
