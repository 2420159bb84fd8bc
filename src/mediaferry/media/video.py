"""Make video Telegram can stream: H.264 + AAC/MP3 in MP4 with ``+faststart``.

Compatible streams are copied bit for bit; only what Telegram cannot play inline
is transcoded (VP9/AV1/HEVC/... to H.264, Opus/Vorbis/... to AAC).
"""

from __future__ import annotations

import os
from pathlib import Path

from mediaferry.errors import MediaError
from mediaferry.files.names import sanitize_filename
from mediaferry.media.ffmpeg import DEFAULT_RUNNER, FFmpegRunner
from mediaferry.media.probe import ProbeInfo

__all__ = ["COPY_AUDIO_CODECS", "make_streamable", "video_is_copyable"]

COPY_AUDIO_CODECS = frozenset({"aac", "mp3"})
_COPY_PIX_FMTS = frozenset({"yuv420p", "yuvj420p", None})


def video_is_copyable(info: ProbeInfo) -> bool:
    """H.264 with 8-bit 4:2:0 pixels plays everywhere Telegram does."""
    return (
        info.video is not None
        and info.video.codec == "h264"
        and info.video.pix_fmt in _COPY_PIX_FMTS
    )


def _video_args(info: ProbeInfo, preset: str, crf: int) -> list[str]:
    assert info.video is not None
    if video_is_copyable(info):
        return ["-map", f"0:{info.video.index}", "-c:v", "copy"]
    return [
        "-map", f"0:{info.video.index}",
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
        "-pix_fmt", "yuv420p", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
    ]  # fmt: skip


def _audio_args(info: ProbeInfo, bitrate: str) -> list[str]:
    if info.audio is None:
        return ["-an"]
    codec = ["-c:a", "copy"] if info.audio.codec in COPY_AUDIO_CODECS else ["-c:a", "aac"]
    if codec[-1] == "aac":
        codec += ["-b:a", bitrate]
    return ["-map", f"0:{info.audio.index}", *codec]


def output_path(src: Path, dest_dir: Path, ext: str) -> Path:
    """``dest_dir/<src stem>.<ext>``, never the source itself.

    The stem is sanitised and at most 200 bytes: a source's name comes from outside (a
    torrent's file list, a server's header) and ``<name>.part`` must still be a name."""
    stem = sanitize_filename(src.stem, max_bytes=200, fallback="media")
    dest = dest_dir / f"{stem}.{ext}"
    if dest.resolve() == src.resolve():
        dest = dest_dir / f"{stem}.out.{ext}"
    return dest


async def make_streamable(
    src: Path,
    dest_dir: Path,
    probe: ProbeInfo,
    *,
    preset: str = "veryfast",
    crf: int = 23,
    audio_bitrate: str = "160k",
    runner: FFmpegRunner | None = None,
) -> Path:
    """Write ``src`` as a streamable MP4 into ``dest_dir`` and return its path.

    Compatible video/audio streams are stream-copied (never re-encoded); the rest
    is transcoded with ``preset``/``crf``. Files with no audio stay silent.
    """
    if probe.video is None:
        raise MediaError(f"no video stream in {src.name}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = output_path(src, dest_dir, "mp4")
    partial = dest.with_name(dest.name + ".part")
    args = [
        "-v", "error", "-i", str(src),
        *_video_args(probe, preset, crf), *_audio_args(probe, audio_bitrate),
        "-sn", "-dn", "-map_metadata", "0", "-map_chapters", "-1",
        "-movflags", "+faststart", "-f", "mp4", str(partial),
    ]  # fmt: skip
    await (runner or DEFAULT_RUNNER).run_ffmpeg(args, output=partial)
    os.replace(partial, dest)
    return dest
