"""Thumbnails and covers Telegram accepts: JPEG, ≤ 320 px on the long side, < 200 kB."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mediaferry.errors import MediaError
from mediaferry.media.ffmpeg import DEFAULT_RUNNER, FFmpegRunner
from mediaferry.media.probe import ProbeInfo

__all__ = ["MAX_THUMB_BYTES", "MAX_THUMB_SIDE", "thumbnail_from_image", "thumbnail_from_video"]

MAX_THUMB_SIDE = 320
MAX_THUMB_BYTES = 200 * 1000
_SCALE = (
    f"scale='min({MAX_THUMB_SIDE},iw)':'min({MAX_THUMB_SIDE},ih)'"
    ":force_original_aspect_ratio=decrease,format=yuvj420p"
)
_QUALITIES = (4, 10, 20, 31)  # mjpeg qscale: lower is better; retried if too big


async def _encode(input_args: list[str], dest: Path, runner: FFmpegRunner) -> Path | None:
    """Encode one frame at falling quality until it is small enough."""
    partial = dest.with_name(dest.name + ".part")
    for quality in _QUALITIES:
        args = [
            "-v", "error", *input_args, "-frames:v", "1", "-vf", _SCALE,
            "-q:v", str(quality), "-f", "image2", "-c:v", "mjpeg", "-update", "1", str(partial),
        ]  # fmt: skip
        await runner.run_ffmpeg(args, output=partial)
        if not partial.exists() or partial.stat().st_size == 0:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            return None
        if partial.stat().st_size < MAX_THUMB_BYTES:
            os.replace(partial, dest)
            return dest
    partial.unlink()
    return None


async def thumbnail_from_image(
    image: Path, dest: Path, *, runner: FFmpegRunner | None = None
) -> Path:
    """Scale and re-encode a source thumbnail/cover image (JPEG, PNG, WebP...)."""
    result = await _encode(["-i", str(image)], dest, runner or DEFAULT_RUNNER)
    if result is None:
        raise MediaError(f"could not make a thumbnail from {image.name}")
    return result


async def thumbnail_from_video(
    info: ProbeInfo,
    dest: Path,
    *,
    position: float = 0.1,
    runner: FFmpegRunner | None = None,
) -> Path:
    """A frame ``position`` (fraction) into the video, or the embedded cover picture."""
    run = runner or DEFAULT_RUNNER
    src = str(info.path)
    if info.video is None:
        if info.cover_index is None:
            raise MediaError(f"no picture to make a thumbnail from in {info.path.name}")
        attempts = [["-i", src, "-map", f"0:{info.cover_index}"]]
    else:
        at = (info.duration or 0.0) * position
        stream = ["-map", f"0:{info.video.index}"]
        attempts = [["-ss", f"{at:.3f}", "-i", src, *stream], ["-i", src, *stream]]
    for input_args in attempts:
        if (result := await _encode(input_args, dest, run)) is not None:
            return result
    raise MediaError(f"could not make a thumbnail from {info.path.name}")
