"""VALIDATE: is this file what we promise to deliver?"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from mediaferry.errors import MediaError, SizeLimitExceeded
from mediaferry.files.digest import FileDigest, sha256_path
from mediaferry.media.ffmpeg import FFmpegRunner
from mediaferry.media.probe import ProbeInfo, data_end, probe

__all__ = ["Validated", "duration_tolerance", "sha256_file", "validate_file"]


@dataclass(frozen=True, slots=True)
class Validated:
    """A file that passed validation."""

    path: Path
    size: int
    sha256: str
    duration: float | None
    probe: ProbeInfo | None


async def sha256_file(path: Path) -> str:
    """The file's sha256 (hex), read in a worker thread."""
    return (await asyncio.to_thread(sha256_path, path)).hexdigest()


def duration_tolerance(expected: float, *, seconds: float = 3.0, fraction: float = 0.05) -> float:
    """How far a duration may be off: ``seconds`` or ``fraction`` of it, the larger."""
    return max(seconds, expected * fraction)


def _check_size(path: Path, limit_bytes: int) -> int:
    if not path.is_file():
        raise MediaError(f"the result file is missing: {path.name}")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"the result file is empty: {path.name}")
    if size > limit_bytes:
        raise SizeLimitExceeded(f"{path.name} is {size} bytes, over the limit of {limit_bytes}")
    return size


async def _check_duration(
    info: ProbeInfo, expected: float | None, tolerance: tuple[float, float], runner: FFmpegRunner
) -> None:
    seconds, fraction = tolerance
    claimed = info.duration
    if claimed is None:
        raise MediaError(f"{info.path.name} has no readable duration")
    end = await data_end(info, runner=runner)
    if end is None or claimed - end > duration_tolerance(claimed, seconds=seconds,
                                                         fraction=fraction):  # fmt: skip
        raise MediaError(
            f"{info.path.name} claims {claimed:.1f}s but its data ends at {end or 0:.1f}s "
            "(truncated or corrupt)"
        )
    if expected and abs(claimed - expected) > duration_tolerance(
        expected, seconds=seconds, fraction=fraction
    ):
        raise MediaError(
            f"{info.path.name} lasts {claimed:.1f}s but the source said {expected:.1f}s"
        )


async def validate_file(
    path: Path,
    *,
    limit_bytes: int,
    expected_duration: float | None = None,
    media: bool = True,
    tolerance: tuple[float, float] = (3.0, 0.05),
    runner: FFmpegRunner | None = None,
    digest: FileDigest | None = None,
) -> Validated:
    """Check existence, size, readability and duration; return size and sha256.

    ``media=False`` (documents) skips the ffprobe checks. ``tolerance`` is
    ``(seconds, fraction)``; the larger applies. ``digest`` (computed while the file
    was downloaded) is re-used if it still applies to ``path``, else the file is
    hashed. Failures raise :class:`MediaError` or :class:`SizeLimitExceeded`.
    """
    size = _check_size(path, limit_bytes)
    info = None
    if media:
        info = await probe(path, runner=runner)
        if not (info.has_audio or info.has_video):
            raise MediaError(f"{path.name} has no audio or video stream")
        await _check_duration(info, expected_duration, tolerance, runner or FFmpegRunner())
    if digest is not None and digest.applies_to(path):
        sha256 = digest.sha256
    else:
        sha256 = await sha256_file(path)
    return Validated(path, size, sha256, info.duration if info else None, info)
