"""Small media files made with the real ffmpeg, once per test session.

``generate_media(dir)`` is a plain function (usable from ``bench/`` scripts); the
``media_dir`` fixture copies them, once per session, from a folder under the system's
temp dir that the first session on the machine made with it (named by a hash of the
ffmpeg commands and ffmpeg's version, so a change makes a new one). Files made (keys of
the returned dict are the file names relative to ``dir``):

- ``h264_aac.mp4``   5 s, 320x240 testsrc + 440 Hz sine, H.264/AAC, moov at the end
- ``vp9_opus.webm``  3 s, VP9/Opus
- ``noaudio.mp4``    3 s, H.264 only
- ``audio.mp3``      5 s, MP3 with no tags at all
- ``audio.m4a``      5 s, AAC in MP4
- ``audio.opus``     3 s, Opus in Ogg
- ``long.mp4``       30 s, 160x120, low bitrate, a keyframe every 2 s (for split tests)
- ``cover.jpg``      320x320 JPEG
- ``corrupt.mp4``    random bytes with an .mp4 name
- ``empty.mp4``      0 bytes
- ``hls/index.m3u8`` HLS VOD rendition, 1 s segments (8 of them), H.264/AAC
- ``links.txt``      an example list of links (placeholder host, see ``links_txt``)

Large files are never made by default: use ``make_sparse_file`` in benchmarks.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

__all__ = [
    "MEDIA_FILES",
    "ffprobe_json",
    "generate_media",
    "make_sparse_file",
    "media_dir",
]

_FFMPEG = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def _lavfi_video(size: str, seconds: float, rate: int = 25) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]


def _lavfi_audio(seconds: float, freq: int = 440) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate=48000:duration={seconds}"]


def _commands(d: Path) -> dict[str, list[str]]:
    """ffmpeg argument lists (without the common prefix) per output file."""
    no_meta = ["-map_metadata", "-1", "-fflags", "+bitexact"]
    return {
        "h264_aac.mp4": [
            *_lavfi_video("320x240", 5),
            *_lavfi_audio(5),
            *_X264,
            "-g", "25",
            "-c:a", "aac", "-b:a", "64k",
            "-shortest",
            str(d / "h264_aac.mp4"),
        ],
        "vp9_opus.webm": [
            *_lavfi_video("320x240", 3),
            *_lavfi_audio(3),
            "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k",
            "-c:a", "libopus", "-b:a", "48k",
            "-shortest",
            str(d / "vp9_opus.webm"),
        ],
        "noaudio.mp4": [
            *_lavfi_video("320x240", 3),
            *_X264,
            "-an",
            str(d / "noaudio.mp4"),
        ],
        "audio.mp3": [
            *_lavfi_audio(5, 660),
            "-c:a", "libmp3lame", "-b:a", "64k",
            *no_meta,
            "-id3v2_version", "0", "-write_id3v1", "0", "-write_xing", "0",
            str(d / "audio.mp3"),
        ],
        "audio.m4a": [
            *_lavfi_audio(5, 550),
            "-c:a", "aac", "-b:a", "64k",
            *no_meta,
            str(d / "audio.m4a"),
        ],
        "audio.opus": [
            *_lavfi_audio(3, 330),
            "-c:a", "libopus", "-b:a", "32k",
            *no_meta,
            str(d / "audio.opus"),
        ],
        "long.mp4": [
            *_lavfi_video("160x120", 30),
            *_lavfi_audio(30),
            *_X264,
            "-b:v", "100k", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "32k",
            "-shortest",
            str(d / "long.mp4"),
        ],
        "cover.jpg": [
            "-f", "lavfi", "-i", "testsrc=size=320x320:rate=1:duration=1",
            "-frames:v", "1", "-q:v", "4",
            str(d / "cover.jpg"),
        ],
        "hls/index.m3u8": [
            *_lavfi_video("320x240", 8),
            *_lavfi_audio(8),
            *_X264,
            "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "64k",
            "-shortest",
            "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
            "-hls_playlist_type", "vod",
            "-hls_segment_filename", str(d / "hls" / "seg%03d.ts"),
            str(d / "hls" / "index.m3u8"),
        ],
    }  # fmt: skip


#: Every file ``generate_media`` makes, relative to its directory.
MEDIA_FILES: tuple[str, ...] = (
    *_commands(Path(".")).keys(),
    "corrupt.mp4",
    "empty.mp4",
    "links.txt",
)

_LINKS_TXT = """\
# links to download, one per line
http://127.0.0.1:1/media/h264_aac.mp4
http://127.0.0.1:1/media/audio.mp3

not a link
http://127.0.0.1:1/media/h264_aac.mp4
"""


def _run_ffmpeg(args: Sequence[str]) -> None:
    proc = subprocess.run([*_FFMPEG, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {proc.stderr.strip()}")


def generate_media(directory: Path) -> dict[str, Path]:
    """Make every test media file in ``directory`` (reused if already complete).

    Returns a mapping from file name (e.g. ``"hls/index.m3u8"``) to its path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hls").mkdir(exist_ok=True)
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is not installed")
    paths = {name: directory / name for name in MEDIA_FILES}
    stamp = directory / ".complete"
    if stamp.exists() and all(p.exists() for p in paths.values()):
        return paths

    commands = _commands(directory)
    # Longest jobs first so that the pool finishes as early as possible.
    order = sorted(commands, key=lambda n: n not in ("long.mp4", "hls/index.m3u8"))
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for future in [pool.submit(_run_ffmpeg, commands[name]) for name in order]:
            future.result()

    rnd = random.Random(1234)
    paths["corrupt.mp4"].write_bytes(rnd.randbytes(64 * 1024))
    paths["empty.mp4"].write_bytes(b"")
    paths["links.txt"].write_text(_LINKS_TXT)
    stamp.write_text("ok\n")
    return paths


def make_sparse_file(path: Path, size: int) -> Path:
    """Create a sparse file of ``size`` bytes (instant, takes no disk space)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)
    return path


def ffprobe_json(path: Path) -> dict[str, object]:
    """``ffprobe -show_format -show_streams`` of ``path`` as a dict (raises on failure)."""
    import json

    proc = subprocess.run(
        [
            "ffprobe", "-v", "error", "-print_format", "json",
            "-show_format", "-show_streams", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data: dict[str, object] = json.loads(proc.stdout)
    return data


def _cache_folder() -> Path:
    version = subprocess.run(
        ["ffmpeg", "-version"], capture_output=True, text=True, check=False
    ).stdout.split("\n", 1)[0]
    spec = repr((_commands(Path("@")), MEDIA_FILES, _LINKS_TXT, version))
    key = hashlib.sha256(spec.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mediaferry-test-media-{key}"


def copy_cached_media(directory: Path) -> None:
    """Every file of ``MEDIA_FILES`` into ``directory``: copies of the machine's cached
    set, which the first caller makes (in a folder of its own, then renamed into place,
    so concurrent sessions never see half of it)."""
    cache = _cache_folder()
    if not (cache / ".complete").exists():
        fresh = Path(tempfile.mkdtemp(prefix=f"{cache.name}.", dir=cache.parent))
        try:
            generate_media(fresh)
            try:
                fresh.rename(cache)
            except OSError:  # another session put its set there first
                if not (cache / ".complete").exists():
                    shutil.copytree(fresh, directory, dirs_exist_ok=True)
                    return
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(cache, directory, dirs_exist_ok=True)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory holding every file of ``MEDIA_FILES``, a fresh copy per session."""
    directory = tmp_path_factory.mktemp("media")
    copy_cached_media(directory)
    return directory
