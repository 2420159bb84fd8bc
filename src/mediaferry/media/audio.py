# mutagen ships no annotations for its constructors and frame methods.
# mypy: disable-error-code="no-untyped-call"
"""Audio for ``sendAudio``: M4A (AAC) or MP3, tagged with mutagen.

Audio Telegram already plays (an MP3, or AAC in M4A) is stream-copied into its own
container whatever ``AUDIO_FORMAT`` says; only audio that must be converted anyway
becomes ``AUDIO_FORMAT`` (copied when the codec already matches it).
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mutagen import MutagenError
from mutagen.id3 import APIC, ID3, TALB, TDRC, TIT2, TPE1, TRCK, ID3NoHeaderError
from mutagen.mp4 import MP4, MP4Cover

from mediaferry.errors import MediaError
from mediaferry.media.ffmpeg import DEFAULT_RUNNER, FFmpegRunner
from mediaferry.media.probe import ProbeInfo
from mediaferry.media.video import output_path

__all__ = [
    "AudioFormat",
    "Tags",
    "extract_audio",
    "normalise_date",
    "read_tags",
    "target_format",
    "write_tags",
]

AudioFormat = Literal["m4a", "mp3"]

_CODEC_ARGS: dict[str, tuple[str, list[str], list[str]]] = {
    # format: (codec that is copied, encoder args, muxer args)
    "m4a": ("aac", ["-c:a", "aac", "-b:a", "192k"], ["-movflags", "+faststart", "-f", "ipod"]),
    "mp3": ("mp3", ["-c:a", "libmp3lame", "-q:a", "2"], ["-f", "mp3"]),
}


@dataclass(frozen=True, slots=True)
class Tags:
    """What is written into an audio file."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    date: str | None = None
    cover: Path | None = None  # a JPEG
    track: str | None = None  # "3"


def target_format(probe: ProbeInfo, preferred: AudioFormat) -> AudioFormat:
    """The format a result gets: an audio-only MP3 or AAC file keeps its codec (stream
    copy, no generation loss); everything else becomes ``preferred``."""
    if probe.video is None and probe.audio is not None:
        if probe.audio.codec == "mp3":
            return "mp3"
        if probe.audio.codec == "aac":
            return "m4a"
    return preferred


def normalise_date(value: str | None) -> str | None:
    """``20240131`` → ``2024-01-31``; anything else is kept as given."""
    if value and re.fullmatch(r"\d{8}", value):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or None


async def extract_audio(
    src: Path,
    dest_dir: Path,
    probe: ProbeInfo,
    *,
    fmt: AudioFormat = "m4a",
    runner: FFmpegRunner | None = None,
) -> Path:
    """The first audio stream of ``src`` as ``fmt`` in ``dest_dir`` (copied if possible)."""
    if probe.audio is None:
        raise MediaError(f"no audio stream in {src.name}")
    copy_codec, encode, mux = _CODEC_ARGS[fmt]
    codec = ["-c:a", "copy"] if probe.audio.codec == copy_codec else encode
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = output_path(src, dest_dir, fmt)
    partial = dest.with_name(dest.name + ".part")
    args = [
        "-v", "error", "-i", str(src), "-map", f"0:{probe.audio.index}", "-vn", "-sn", "-dn",
        *codec, "-map_metadata", "-1", *mux, str(partial),
    ]  # fmt: skip
    await (runner or DEFAULT_RUNNER).run_ffmpeg(args, output=partial)
    os.replace(partial, dest)
    return dest


def _write_mp4(path: Path, tags: Tags) -> None:
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    assert audio.tags is not None
    for key, value in (("\xa9nam", tags.title), ("\xa9ART", tags.artist),
                       ("\xa9alb", tags.album), ("\xa9day", tags.date)):  # fmt: skip
        if value:
            audio.tags[key] = [value]
    if tags.track and tags.track.isdigit():
        audio.tags["trkn"] = [(int(tags.track), 0)]
    if tags.cover is not None:
        audio.tags["covr"] = [MP4Cover(tags.cover.read_bytes(), imageformat=MP4Cover.FORMAT_JPEG)]
    audio.save()


def _write_mp3(path: Path, tags: Tags) -> None:
    try:
        id3 = ID3(path)
    except ID3NoHeaderError:
        id3 = ID3()
    for frame, value in ((TIT2, tags.title), (TPE1, tags.artist),
                         (TALB, tags.album), (TDRC, tags.date), (TRCK, tags.track)):  # fmt: skip
        if value:
            id3.add(frame(encoding=3, text=[value]))
    if tags.cover is not None:
        id3.delall("APIC")
        id3.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="Cover",
                     data=tags.cover.read_bytes()))  # fmt: skip
    id3.save(path, v2_version=3)


def _write(path: Path, tags: Tags) -> None:
    try:
        if path.suffix.lower() == ".mp3":
            _write_mp3(path, tags)
        else:
            _write_mp4(path, tags)
    except (MutagenError, OSError) as exc:
        raise MediaError(f"could not write tags to {path.name}: {exc}") from exc


async def write_tags(path: Path, tags: Tags) -> None:
    """Write title, artist, album, date and cover (JPEG) into an M4A or MP3 file."""
    await asyncio.to_thread(_write, path, tags)


def _read(path: Path) -> Tags:
    if path.suffix.lower() == ".mp3":
        id3 = ID3(path)

        def text(key: str) -> str | None:
            frame = id3.get(key)
            return str(frame.text[0]) if frame and frame.text else None

        return Tags(text("TIT2"), text("TPE1"), text("TALB"), text("TDRC"))
    mp4: Any = MP4(path).tags or {}

    def first(key: str) -> str | None:
        values = mp4.get(key)
        return str(values[0]) if values else None

    return Tags(first("\xa9nam"), first("\xa9ART"), first("\xa9alb"), first("\xa9day"))


async def read_tags(path: Path) -> Tags:
    """The text tags of an M4A or MP3 file (cover not returned)."""
    try:
        return await asyncio.to_thread(_read, path)
    except (MutagenError, OSError) as exc:
        raise MediaError(f"could not read tags of {path.name}: {exc}") from exc
