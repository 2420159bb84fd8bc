"""Split a file that is over the upload limit into playable parts, on keyframes.

ffmpeg's segment muxer cuts with stream copy at the first keyframe after each
target time. Bitrate varies, so parts are checked afterwards and the split is
redone with more, shorter parts until every part fits.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

from mediaferry.errors import MediaError, SizeLimitExceeded
from mediaferry.media.ffmpeg import DEFAULT_RUNNER, FFmpegRunner
from mediaferry.media.probe import ProbeInfo

__all__ = ["split_file"]

_HEADROOM = 0.92  # aim below the limit: container overhead and uneven bitrate
_MAX_ROUNDS = 6
_SEGMENT_FORMATS = {".mp4": "mp4", ".m4a": "mp4", ".m4v": "mp4", ".mov": "mp4", ".mp3": "mp3"}


def _parts(dest_dir: Path, stem: str, ext: str) -> list[Path]:
    return sorted(dest_dir.glob(f"{stem}.part-[0-9][0-9][0-9]{ext}"))


def _clear(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def _segment(
    info: ProbeInfo, dest_dir: Path, seconds: float, runner: FFmpegRunner
) -> list[Path]:
    src = info.path
    ext = src.suffix.lower()
    pattern = dest_dir / f"{src.stem}.part-%03d{ext}"
    options = ["-segment_format_options", "movflags=+faststart"]
    args = [
        "-v", "error", "-i", str(src), "-map", "0", "-c", "copy",
        "-f", "segment", "-segment_time", f"{seconds:.3f}", "-reset_timestamps", "1",
        "-segment_start_number", "1", "-segment_format", _SEGMENT_FORMATS.get(ext, "mp4"),
        *(options if _SEGMENT_FORMATS.get(ext, "mp4") == "mp4" else []), str(pattern),
    ]  # fmt: skip
    try:
        await runner.run_ffmpeg(args)
    except BaseException:
        _clear(_parts(dest_dir, src.stem, ext))
        raise
    return _parts(dest_dir, src.stem, ext)


async def split_file(
    info: ProbeInfo,
    dest_dir: Path,
    *,
    limit_bytes: int,
    runner: FFmpegRunner | None = None,
) -> list[Path]:
    """Split ``info.path`` into parts of at most ``limit_bytes`` each, in order.

    Raises :class:`SizeLimitExceeded` when keyframes are too sparse to get there.
    """
    run = runner or DEFAULT_RUNNER
    if not info.duration:
        raise MediaError(f"cannot split {info.path.name}: its duration is unknown")
    dest_dir.mkdir(parents=True, exist_ok=True)
    _clear(_parts(dest_dir, info.path.stem, info.path.suffix.lower()))
    count = max(2, math.ceil(info.size / (limit_bytes * _HEADROOM)))
    for _ in range(_MAX_ROUNDS):
        parts = await _segment(info, dest_dir, info.duration / count, run)
        biggest = max((p.stat().st_size for p in parts), default=0)
        if parts and biggest <= limit_bytes:
            return parts
        _clear(parts)
        count = max(count + 1, math.ceil(count * biggest / (limit_bytes * _HEADROOM)))
        if info.duration / count < 0.5:
            break
    raise SizeLimitExceeded(
        f"{info.path.name} cannot be split into parts of at most {limit_bytes} bytes"
    )
