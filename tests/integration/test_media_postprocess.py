"""The one entry point the job pipeline calls: postprocess() then validate()."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mutagen.id3 import ID3
from mutagen.mp4 import MP4

from mediaferry.config import Settings
from mediaferry.errors import MediaError, SizeLimitExceeded
from mediaferry.media.postprocess import postprocess, validate
from mediaferry.plan import MediaPlan

FF = ["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-y"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
SINE = ["-f", "lavfi", "-i", "sine=frequency=440:duration=12"]

FIXTURES: dict[str, list[str]] = {
    "clip.mp4": ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=3",
                 "-f", "lavfi", "-i", "sine=duration=3", *X264, "-c:a", "aac", "-shortest"],
    "clip.webm": ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2",
                  "-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libvpx-vp9", "-deadline",
                  "realtime", "-cpu-used", "8", "-c:a", "libopus", "-shortest"],
    "lecture.opus": ["-f", "lavfi", "-i", "sine=frequency=330:duration=3", "-c:a", "libopus"],
    "noisy.mp4": ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=12", *SINE,
                  "-vf", "noise=alls=30:allf=t", *X264, "-g", "25", "-c:a", "aac", "-shortest"],
    "long.mp3": ["-f", "lavfi", "-i", "anoisesrc=d=40", *SINE, "-filter_complex", "amix=inputs=2",
                 "-c:a", "libmp3lame", "-b:a", "320k"],
    "thumb.png": ["-f", "lavfi", "-i", "testsrc=size=640x360:rate=1:duration=1", "-frames:v", "1"],
}  # fmt: skip


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pp")
    procs = [
        subprocess.Popen([*FF, *args, str(directory / name)], stderr=subprocess.PIPE)
        for name, args in FIXTURES.items()
    ]
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err
    (directory / "notes.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 10)
    (directory / "broken.mp4").write_bytes(bytes(range(256)) * 100)
    (directory / "empty.webm").write_bytes(b"")
    return {p.name: p for p in directory.iterdir()}


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, video_preset="ultrafast", **overrides)  # type: ignore[arg-type]


def image_size(path: Path) -> str:
    return subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0",
         str(path)], capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


PLAN = MediaPlan(
    url="https://example.org/v",
    title="My Talk",
    uploader="Speaker",
    album="Season 1",
    upload_date="20240131",
    duration=3.0,
)


async def test_video_job_gives_streamable_mp4_ready_for_send_video(
    media: dict[str, Path], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    done = await postprocess(
        media["clip.webm"], job_type="video", plan=PLAN, work_dir=tmp_path / "w", settings=settings
    )
    assert done.kind == "video" and done.title == "My Talk" and done.performer == "Speaker"
    [part] = done.parts
    assert part.path.suffix == ".mp4" and part.probe is not None
    assert part.probe.video is not None and part.probe.video.codec == "h264"
    assert (part.width, part.height) == (160, 120) and part.duration == pytest.approx(2, abs=0.15)
    assert part.thumbnail is not None and part.thumbnail.read_bytes()[:2] == b"\xff\xd8"
    [checked] = await validate(done, expected_duration=2.0, settings=settings)
    assert len(checked.sha256) == 64 and checked.size == part.size


async def test_video_job_uses_the_source_thumbnail(media: dict[str, Path], tmp_path: Path) -> None:
    done = await postprocess(
        media["clip.mp4"], job_type="video", plan=PLAN, work_dir=tmp_path,
        settings=settings_for(tmp_path), thumbnail_file=media["thumb.png"],
    )  # fmt: skip
    thumb = done.parts[0].thumbnail
    assert thumb is not None
    assert image_size(thumb) == "320,180"


async def test_audio_job_gives_tagged_m4a_with_cover(
    media: dict[str, Path], tmp_path: Path
) -> None:
    extra = {"thumbnail_file": str(media["thumb.png"])}
    plan = MediaPlan(
        url="u", title="Lesson 1", uploader="Teacher", album="Course",
        upload_date="20230102", extra=extra,
    )  # fmt: skip
    done = await postprocess(
        media["lecture.opus"], job_type="audio", plan=plan, work_dir=tmp_path,
        settings=settings_for(tmp_path),
    )  # fmt: skip
    assert (done.kind, done.title, done.performer, done.album) == (
        "audio",
        "Lesson 1",
        "Teacher",
        "Course",
    )
    [part] = done.parts
    assert part.path.suffix == ".m4a" and part.duration == pytest.approx(3, abs=0.1)
    tags = MP4(part.path).tags
    assert tags is not None and tags["\xa9nam"] == ["Lesson 1"] and tags["\xa9ART"] == ["Teacher"]
    assert tags["\xa9day"] == ["2023-01-02"] and tags["\xa9alb"] == ["Course"]
    assert part.thumbnail is not None and bytes(tags["covr"][0]) == part.thumbnail.read_bytes()


async def test_audio_job_from_video_as_mp3_takes_a_frame_as_cover(
    media: dict[str, Path], tmp_path: Path
) -> None:
    done = await postprocess(
        media["clip.mp4"], job_type="audio", plan=PLAN, work_dir=tmp_path,
        settings=settings_for(tmp_path, audio_format="mp3"),
    )  # fmt: skip
    [part] = done.parts
    assert part.path.suffix == ".mp3" and part.probe is not None and not part.probe.has_video
    id3 = ID3(part.path)
    assert str(id3["TIT2"]) == "My Talk" and str(id3["TPE1"]) == "Speaker"
    assert id3.getall("APIC")[0].data[:2] == b"\xff\xd8"


async def test_oversize_video_is_split_into_numbered_playable_parts(
    media: dict[str, Path], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, telegram_upload_limit_mb=1)
    src = media["noisy.mp4"]
    assert src.stat().st_size > 2 * 2**20
    plan = MediaPlan(url="u", title="Long", duration=12.0)
    done = await postprocess(src, job_type="video", plan=plan, work_dir=tmp_path, settings=settings)
    assert done.kind == "video" and len(done.parts) >= 3
    assert [p.path for p in done.parts] == sorted(p.path for p in done.parts)
    assert len({p.thumbnail for p in done.parts}) == len(done.parts)
    for part in done.parts:
        assert part.size <= 2**20 and part.thumbnail is not None and part.thumbnail.exists()
        assert part.width == 160 and part.duration
    assert done.duration == pytest.approx(12.0, abs=0.5)
    checked = await validate(done, expected_duration=12.0, settings=settings)
    assert len({c.sha256 for c in checked}) == len(done.parts)


async def test_oversize_audio_is_split_and_every_part_tagged(
    media: dict[str, Path], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, telegram_upload_limit_mb=1, audio_format="mp3")
    done = await postprocess(
        media["long.mp3"], job_type="audio", plan=PLAN, work_dir=tmp_path, settings=settings
    )
    assert len(done.parts) >= 2
    titles = [str(ID3(p.path)["TIT2"]) for p in done.parts]
    assert titles[0] == f"My Talk (1/{len(titles)})"
    assert all(p.size <= 2**20 for p in done.parts)
    assert done.duration == pytest.approx(40.0, abs=0.5)


async def test_oversize_with_policy_fail_is_size_limit(
    media: dict[str, Path], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, telegram_upload_limit_mb=1, oversize_policy="fail")
    with pytest.raises(SizeLimitExceeded, match="over the 1 MB limit"):
        await postprocess(
            media["noisy.mp4"], job_type="video", plan=PLAN, work_dir=tmp_path, settings=settings
        )


async def test_not_media_passes_through_as_a_document(
    media: dict[str, Path], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    plan = MediaPlan(url="u", title="Notes")
    done = await postprocess(
        media["notes.pdf"], job_type="video", plan=plan, work_dir=tmp_path, settings=settings
    )
    assert done.kind == "document" and done.parts[0].path == media["notes.pdf"]
    [checked] = await validate(done, expected_duration=None, settings=settings)
    assert checked.probe is None and checked.size == media["notes.pdf"].stat().st_size


async def test_broken_or_empty_media_is_a_clear_error(
    media: dict[str, Path], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    with pytest.raises(MediaError, match=r"not readable as media: broken\.mp4"):
        await postprocess(
            media["broken.mp4"], job_type="video", plan=PLAN, work_dir=tmp_path, settings=settings
        )
    with pytest.raises(MediaError, match="empty"):
        await postprocess(
            media["empty.webm"], job_type="audio", plan=PLAN, work_dir=tmp_path, settings=settings
        )


async def test_validate_catches_a_result_shorter_than_the_source(
    media: dict[str, Path], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    done = await postprocess(
        media["clip.mp4"], job_type="video", plan=PLAN, work_dir=tmp_path, settings=settings
    )
    with pytest.raises(MediaError, match=r"the source said 600\.0s"):
        await validate(done, expected_duration=600.0, settings=settings)
