"""The media building blocks against the real ffmpeg/ffprobe/mutagen."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from mutagen.id3 import ID3
from mutagen.mp4 import MP4

from mediaferry.errors import MediaError, SizeLimitExceeded
from mediaferry.media.audio import Tags, extract_audio, read_tags, write_tags
from mediaferry.media.ffmpeg import FFmpegRunner
from mediaferry.media.probe import data_end, probe
from mediaferry.media.split import split_file
from mediaferry.media.thumbnail import thumbnail_from_image, thumbnail_from_video
from mediaferry.media.validate import validate_file
from mediaferry.media.video import make_streamable
from tests.support.netns import own_descendants

FF = ["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-y"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def _video(size: str, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration={seconds}"]


def _sine(seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]


FIXTURES: dict[str, list[str]] = {
    "h264_aac.mp4": [*_video("160x120", 4), *_sine(4), *X264, "-g", "25",
                     "-c:a", "aac", "-b:a", "48k", "-shortest"],
    "vp9_opus.webm": [*_video("160x120", 2), *_sine(2), "-c:v", "libvpx-vp9", "-deadline",
                      "realtime", "-cpu-used", "8", "-c:a", "libopus", "-b:a", "32k", "-shortest"],
    "noaudio.mkv": [*_video("160x120", 2), "-c:v", "libvpx-vp9", "-deadline", "realtime",
                    "-cpu-used", "8"],
    "tone.mp3": [*_sine(3), "-c:a", "libmp3lame", "-b:a", "64k"],
    "tone.m4a": [*_sine(3), "-c:a", "aac", "-b:a", "64k"],
    "noisy.mp4": [*_video("160x120", 12), *_sine(12), "-vf", "noise=alls=30:allf=t", *X264,
                  "-g", "25", "-c:a", "aac", "-b:a", "48k", "-shortest"],
    "big.png": ["-f", "lavfi", "-i", "testsrc=size=1280x720:rate=1:duration=1", "-frames:v", "1"],
}  # fmt: skip


def make_fixtures(directory: Path) -> dict[str, Path]:
    """Generate every file in ``FIXTURES`` (in parallel) plus corrupt/empty files."""
    procs = [
        subprocess.Popen([*FF, *args, str(directory / name)], stderr=subprocess.PIPE)
        for name, args in FIXTURES.items()
    ]
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err
    (directory / "corrupt.mp4").write_bytes(bytes(range(256)) * 200)
    (directory / "empty.mp4").write_bytes(b"")
    return {p.name: p for p in directory.iterdir()}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_fixtures(tmp_path_factory.mktemp("media"))


def packet_hashes(path: Path, selector: str) -> list[str]:
    """MD5 of every packet of the selected streams, without re-encoding."""
    out = subprocess.run(
        [*FF, "-i", str(path), "-map", selector, "-c", "copy", "-f", "framemd5", "-"],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if not line.startswith("#")]


def decodes_cleanly(path: Path) -> bool:
    proc = subprocess.run([*FF, "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
    return proc.returncode == 0 and not proc.stderr.strip()


# probe --------------------------------------------------------------------


async def test_probe_reads_container_and_streams(media: dict[str, Path]) -> None:
    info = await probe(media["h264_aac.mp4"])
    assert "mp4" in info.format_name
    assert info.duration == pytest.approx(4.0, abs=0.1)
    assert info.size == media["h264_aac.mp4"].stat().st_size
    assert info.video is not None and info.video.codec == "h264"
    assert (info.video.width, info.video.height, info.video.fps) == (160, 120, 25.0)
    assert info.audio is not None and info.audio.codec == "aac" and info.audio.channels == 1
    assert info.has_video and info.has_audio and info.bit_rate


async def test_probe_audio_only(media: dict[str, Path]) -> None:
    info = await probe(media["tone.mp3"])
    assert not info.has_video and info.audio is not None and info.audio.codec == "mp3"


async def test_probe_corrupt_file_is_a_clear_media_error(media: dict[str, Path]) -> None:
    with pytest.raises(MediaError, match=r"not readable as media: corrupt\.mp4 .*ffprobe"):
        await probe(media["corrupt.mp4"])


async def test_probe_zero_byte_and_missing_files(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="empty"):
        await probe(media["empty.mp4"])
    with pytest.raises(MediaError, match="not a file"):
        await probe(tmp_path / "nope.mp4")


# video --------------------------------------------------------------------


async def test_compatible_mp4_is_copied_not_reencoded(
    media: dict[str, Path], tmp_path: Path
) -> None:
    src = media["h264_aac.mp4"]
    out = await make_streamable(src, tmp_path, await probe(src))
    assert packet_hashes(out, "0:v") == packet_hashes(src, "0:v")
    assert packet_hashes(out, "0:a") == packet_hashes(src, "0:a")
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "faststart: index before the data"
    assert not list(tmp_path.glob("*.part"))


async def test_vp9_opus_webm_is_transcoded_and_plays(
    media: dict[str, Path], tmp_path: Path
) -> None:
    src = media["vp9_opus.webm"]
    out = await make_streamable(src, tmp_path, await probe(src), preset="ultrafast")
    info = await probe(out)
    assert out.suffix == ".mp4" and info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.pix_fmt, info.audio.codec) == ("h264", "yuv420p", "aac")
    assert info.duration == pytest.approx(2.0, abs=0.15)
    assert decodes_cleanly(out)


async def test_video_without_audio_stays_silent(media: dict[str, Path], tmp_path: Path) -> None:
    src = media["noaudio.mkv"]
    out = await make_streamable(src, tmp_path, await probe(src), preset="ultrafast")
    info = await probe(out)
    assert info.video is not None and info.video.codec == "h264" and not info.has_audio
    assert decodes_cleanly(out)


# thumbnails ---------------------------------------------------------------


def _jpeg_size(path: Path) -> tuple[int, int]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
         "-of", "csv=p=0", str(path)],
        capture_output=True, check=True, text=True,
    ).stdout.strip()  # fmt: skip
    codec, width, height = out.split(",")
    assert codec == "mjpeg"
    return int(width), int(height)


async def test_thumbnail_from_frame_and_from_image(media: dict[str, Path], tmp_path: Path) -> None:
    frame = await thumbnail_from_video(await probe(media["h264_aac.mp4"]), tmp_path / "a.jpg")
    assert _jpeg_size(frame) == (160, 120)
    big = await thumbnail_from_image(media["big.png"], tmp_path / "b.jpg")
    assert _jpeg_size(big) == (320, 180)
    for jpeg in (frame, big):
        assert jpeg.read_bytes()[:2] == b"\xff\xd8" and jpeg.stat().st_size < 200_000


# audio --------------------------------------------------------------------


async def test_m4a_from_opus_transcoded_and_tagged_with_cover(
    media: dict[str, Path], tmp_path: Path
) -> None:
    src = media["vp9_opus.webm"]
    out = await extract_audio(src, tmp_path, await probe(src), fmt="m4a")
    cover = await thumbnail_from_image(media["big.png"], tmp_path / "cover.jpg")
    await write_tags(out, Tags("Tafsir – Part 1", "Sheikh ☪", "Series", "2024-01-31", cover))
    info = await probe(out)
    assert not info.has_video and info.audio is not None and info.audio.codec == "aac"
    tags = MP4(out).tags
    assert tags is not None
    assert tags["\xa9nam"] == ["Tafsir – Part 1"] and tags["\xa9ART"] == ["Sheikh ☪"]
    assert tags["\xa9alb"] == ["Series"] and tags["\xa9day"] == ["2024-01-31"]
    assert bytes(tags["covr"][0]) == cover.read_bytes()
    assert (await read_tags(out)).title == "Tafsir – Part 1"


async def test_mp3_source_is_copied_for_mp3_and_gets_id3_tags(
    media: dict[str, Path], tmp_path: Path
) -> None:
    src = media["tone.mp3"]
    out = await extract_audio(src, tmp_path, await probe(src), fmt="mp3")
    assert packet_hashes(out, "0:a") == packet_hashes(src, "0:a")
    cover = await thumbnail_from_image(media["big.png"], tmp_path / "cover.jpg")
    await write_tags(out, Tags("Title", "Artist", "Album", "2023", cover))
    id3 = ID3(out)
    assert str(id3["TIT2"]) == "Title" and str(id3["TPE1"]) == "Artist"
    assert str(id3["TALB"]) == "Album" and str(id3["TDRC"]) == "2023"
    apic = id3.getall("APIC")[0]
    assert apic.mime == "image/jpeg" and apic.data == cover.read_bytes()
    assert (await probe(out)).duration == pytest.approx(3.0, abs=0.15)


async def test_aac_source_is_copied_for_m4a(media: dict[str, Path], tmp_path: Path) -> None:
    src = media["tone.m4a"]
    out = await extract_audio(src, tmp_path, await probe(src), fmt="m4a")
    assert out != src and packet_hashes(out, "0:a") == packet_hashes(src, "0:a")


# split --------------------------------------------------------------------


async def test_split_into_playable_parts_that_add_up(
    media: dict[str, Path], tmp_path: Path
) -> None:
    whole = await probe(media["noisy.mp4"])
    limit = whole.size // 3
    parts = await split_file(whole, tmp_path, limit_bytes=limit)
    assert len(parts) >= 3
    assert parts == sorted(parts) and [p.name[-7:-4] for p in parts][:2] == ["001", "002"]
    durations = []
    for part in parts:
        assert part.stat().st_size <= limit
        info = await probe(part)
        assert info.has_video and info.has_audio and decodes_cleanly(part)
        assert info.duration is not None
        durations.append(info.duration)
    assert sum(durations) == pytest.approx(whole.duration, abs=0.5)


async def test_split_refuses_when_keyframes_are_too_sparse(
    media: dict[str, Path], tmp_path: Path
) -> None:
    whole = await probe(media["h264_aac.mp4"])  # a keyframe per second
    with pytest.raises(SizeLimitExceeded):
        await split_file(whole, tmp_path, limit_bytes=whole.size // 40)
    assert not list(tmp_path.glob("*.part-*"))


# validate -----------------------------------------------------------------


async def test_validate_returns_size_and_sha256(media: dict[str, Path]) -> None:
    src = media["h264_aac.mp4"]
    result = await validate_file(src, limit_bytes=10**9, expected_duration=4.2)
    assert result.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert result.size == src.stat().st_size and result.duration == pytest.approx(4.0, abs=0.1)


async def test_validate_catches_a_truncated_file_that_lies_about_its_duration(
    media: dict[str, Path], tmp_path: Path
) -> None:
    streamable = await make_streamable(
        media["noisy.mp4"], tmp_path, await probe(media["noisy.mp4"])
    )
    lying = tmp_path / "lying.mp4"
    lying.write_bytes(streamable.read_bytes()[: streamable.stat().st_size // 3])
    info = await probe(lying)  # the index still promises the whole duration
    assert info.duration == pytest.approx(12.0, abs=0.1)
    assert (await data_end(info) or 0) < 6
    with pytest.raises(MediaError, match=r"claims 12\.0s but its data ends"):
        await validate_file(lying, limit_bytes=10**9)


async def test_validate_refuses_wrong_duration_size_and_empty(media: dict[str, Path]) -> None:
    src = media["h264_aac.mp4"]
    with pytest.raises(MediaError, match=r"lasts 4\.0s but the source said 60\.0s"):
        await validate_file(src, limit_bytes=10**9, expected_duration=60)
    with pytest.raises(SizeLimitExceeded):
        await validate_file(src, limit_bytes=1000)
    with pytest.raises(MediaError, match="empty"):
        await validate_file(media["empty.mp4"], limit_bytes=10**9)
    with pytest.raises(MediaError, match="not readable"):
        await validate_file(media["corrupt.mp4"], limit_bytes=10**9)


# runner -------------------------------------------------------------------


async def test_cancel_kills_ffmpeg_and_removes_partial_output(tmp_path: Path) -> None:
    out = tmp_path / "slow.mp4"
    args = [*_video("640x480", 600), "-c:v", "libx264", "-preset", "veryslow", str(out)]
    task = asyncio.create_task(FFmpegRunner(grace_s=1.0).run_ffmpeg(args, output=out))
    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    children = own_descendants()
    assert any("ffmpeg" in c.name() for c in children)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 3
    assert not out.exists()
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


async def test_failures_carry_the_stderr_tail(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"ffmpeg failed \(exit \d+\): .*nonexistent"):
        await FFmpegRunner().run_ffmpeg(["-i", str(tmp_path / "nonexistent.mp4"), "x.mp4"])
    with pytest.raises(MediaError, match="could not be started"):
        await FFmpegRunner(ffprobe=str(tmp_path / "no-ffprobe")).run_ffprobe(["-version"])
