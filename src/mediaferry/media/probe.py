"""What a media file contains, as ffprobe sees it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediaferry.errors import MediaError
from mediaferry.media.ffmpeg import DEFAULT_RUNNER, FFmpegRunner

__all__ = ["AV_DEMUXERS", "AudioStream", "ProbeInfo", "VideoStream", "data_end", "probe"]


@dataclass(frozen=True, slots=True)
class VideoStream:
    """The first real video stream (cover pictures excluded)."""

    index: int
    codec: str
    width: int
    height: int
    fps: float | None
    rotation: int
    pix_fmt: str | None


@dataclass(frozen=True, slots=True)
class AudioStream:
    """The first audio stream."""

    index: int
    codec: str
    channels: int | None
    sample_rate: int | None


@dataclass(frozen=True, slots=True)
class ProbeInfo:
    """Container facts plus the first video and audio stream."""

    path: Path
    format_name: str
    duration: float | None
    size: int
    bit_rate: int | None
    video: VideoStream | None
    audio: AudioStream | None
    cover_index: int | None = None  # an attached picture (album art) stream
    start_time: float = 0.0

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def display_size(self) -> tuple[int | None, int | None]:
        """Width and height as shown to the viewer (rotation applied)."""
        if self.video is None:
            return None, None
        if self.video.rotation % 180:
            return self.video.height, self.video.width
        return self.video.width, self.video.height


def _float(value: object) -> float | None:
    try:
        number = float(str(value))
    except (TypeError, ValueError):
        return None
    return number if number == number and number >= 0 else None  # drop NaN


def _int(value: object) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _fps(rate: object) -> float | None:
    num, _, den = str(rate or "").partition("/")
    top, bottom = _float(num), _float(den or "1")
    if not top or not bottom:
        return None
    return round(top / bottom, 3)


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(abs(_signed(side["rotation"]))) % 360
    return int(abs(_signed((stream.get("tags") or {}).get("rotate")))) % 360


def _signed(value: object) -> float:
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return 0.0


def _video(stream: dict[str, Any]) -> VideoStream:
    return VideoStream(
        index=int(stream["index"]),
        codec=str(stream.get("codec_name") or "unknown"),
        width=_int(stream.get("width")) or 0,
        height=_int(stream.get("height")) or 0,
        fps=_fps(stream.get("avg_frame_rate")) or _fps(stream.get("r_frame_rate")),
        rotation=_rotation(stream),
        pix_fmt=stream.get("pix_fmt"),
    )


def _audio(stream: dict[str, Any]) -> AudioStream:
    return AudioStream(
        index=int(stream["index"]),
        codec=str(stream.get("codec_name") or "unknown"),
        channels=_int(stream.get("channels")),
        sample_rate=_int(stream.get("sample_rate")),
    )


# Demuxers of real audio/video containers and streams (ffprobe's format_name words).
# Anything else counts as no media, whatever streams it reports: ffprobe's bin/tty/
# idf demuxers claim any bytes by file name (random.bin becomes a 1280x20480 "video"
# of codec bintext), image2/*_pipe read pictures. Such files go out as documents.
AV_DEMUXERS = frozenset({
    "mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "avi", "flv", "live_flv",
    "mpegts", "mpegtsraw", "mpeg", "mpegvideo", "m4v", "h264", "hevc", "vvc", "obu", "av1",
    "vc1", "ivf", "ogg", "mp3", "aac", "loas", "latm", "flac", "wav", "w64", "asf", "amr",
    "amrnb", "amrwb", "ac3", "eac3", "dts", "truehd", "mlp", "aiff", "caf", "wv", "ape", "tta",
    "mpc", "mpc8", "au", "voc", "rm", "nut", "mxf", "dv", "gxf", "gif", "hls", "dash", "xwma",
    "dsf", "spdif", "tak", "shn",
})  # fmt: skip
# Codecs that are text art or unidentified, never a moving picture or sound.
_NOT_AV_CODECS = frozenset({"bintext", "ansi", "xbin", "idf", "unknown", "none", ""})
_MAX_SIDE = 16384  # pixels: beyond any real video (bintext reports 1280x20480)
_MAX_DURATION_S = 31 * 86400.0


def _real_stream(stream: dict[str, Any]) -> bool:
    """A decodable audio/video stream with plausible properties."""
    if str(stream.get("codec_name") or "") in _NOT_AV_CODECS:
        return False
    if stream.get("codec_type") == "video":
        width, height = _int(stream.get("width")) or 0, _int(stream.get("height")) or 0
        return 0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE
    return True


def _av_container(fmt: dict[str, Any]) -> bool:
    """A known audio/video demuxer read the file, and its duration is plausible."""
    names = set(str(fmt.get("format_name") or "").split(","))
    duration = _float(fmt.get("duration"))
    plausible = duration is None or 0 < duration <= _MAX_DURATION_S
    return bool(names & AV_DEMUXERS) and plausible


def parse_probe(path: Path, data: dict[str, Any]) -> ProbeInfo:
    """Build a :class:`ProbeInfo` from ``ffprobe -show_format -show_streams`` JSON.

    Only real audio/video counts: streams of an unknown demuxer (see
    :data:`AV_DEMUXERS`) or of a text-art/unknown codec are left out, so such a file
    has neither video nor audio and is delivered as a document.
    """
    fmt = data.get("format") or {}
    video = audio = None
    cover: int | None = None
    durations: list[float] = []
    streams = (data.get("streams") or []) if _av_container(fmt) else []
    for stream in streams:
        if not _real_stream(stream):
            continue
        kind = stream.get("codec_type")
        if kind == "video" and (stream.get("disposition") or {}).get("attached_pic"):
            cover = int(stream["index"]) if cover is None else cover
            continue
        if kind == "video" and video is None:
            video = _video(stream)
        elif kind == "audio" and audio is None:
            audio = _audio(stream)
        else:
            continue
        if (d := _float(stream.get("duration"))) is not None:
            durations.append(d)
    duration = _float(fmt.get("duration"))
    if duration is None and durations:
        duration = max(durations)
    return ProbeInfo(
        path=path,
        format_name=str(fmt.get("format_name") or "unknown"),
        duration=duration,
        size=_int(fmt.get("size")) or path.stat().st_size,
        bit_rate=_int(fmt.get("bit_rate")),
        video=video,
        audio=audio,
        cover_index=cover,
        start_time=_float(fmt.get("start_time")) or 0.0,
    )


async def probe(path: Path, *, runner: FFmpegRunner | None = None) -> ProbeInfo:
    """Probe ``path``. A missing, empty or unreadable file raises :class:`MediaError`."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"not a file: {path.name}")
    if path.stat().st_size == 0:
        raise MediaError(f"the file is empty: {path.name}")
    args = ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    try:
        out = await (runner or DEFAULT_RUNNER).run_ffprobe(args)
    except MediaError as exc:
        raise MediaError(f"not readable as media: {path.name} ({exc.message})") from exc
    try:
        data = json.loads(out or b"{}")
    except ValueError as exc:
        raise MediaError(f"ffprobe gave unreadable output for {path.name}") from exc
    return parse_probe(path, data)


async def data_end(info: ProbeInfo, *, runner: FFmpegRunner | None = None) -> float | None:
    """Where the media data really ends, in seconds from the start.

    Reads the packets of the last few seconds the container claims. A truncated or
    lying file (an index that promises more than the file holds) ends early.
    """
    if info.duration is None:
        return None
    start = max(0.0, info.duration - 5.0)
    args = [
        "-v", "error", "-read_intervals", f"{start:.3f}%",
        "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", str(info.path),
    ]  # fmt: skip
    out = await (runner or DEFAULT_RUNNER).run_ffprobe(args)
    end: float | None = None
    for line in out.decode("ascii", errors="ignore").splitlines():
        pts, _, dur = line.partition(",")
        if (p := _float(pts)) is not None:
            stop = p + (_float(dur.strip(",")) or 0.0)
            end = stop if end is None else max(end, stop)
    return None if end is None else max(0.0, end - info.start_time)
