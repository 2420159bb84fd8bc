"""Several media files from one download (media/collection.py): one part each, in
natural order; what is not sent is kept as an extra, never dropped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mediaferry.config import Settings
from mediaferry.media.collection import postprocess_download
from mediaferry.plan import MediaPlan

FF = ["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-y"]


def video(path: Path) -> Path:
    subprocess.run(
        [*FF, "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2", "-f", "lavfi",
         "-i", "sine=duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
         "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def mp3(path: Path) -> Path:
    subprocess.run(
        [*FF, "-f", "lavfi", "-i", "sine=duration=2", "-c:a", "libmp3lame", str(path)],
        check=True,
    )  # fmt: skip
    return path


def settings_for(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, video_preset="ultrafast")  # type: ignore[arg-type]


async def test_a_season_of_videos_is_a_group_in_natural_order(tmp_path: Path) -> None:
    src = tmp_path / "Season 1"
    src.mkdir()
    files = [
        video(src / "Episode 10.mp4"),
        video(src / "Episode 2.mp4"),
        mp3(src / "theme.mp3"),
        src / "notes.txt",
    ]
    files[3].write_text("notes")
    plan = MediaPlan(url="magnet:?xt=urn:btih:" + "a" * 40, protocol="torrent", title="Season 1")
    done = await postprocess_download(
        files[0], tuple(files[1:]), job_type="video", plan=plan, work_dir=tmp_path / "w",
        settings=settings_for(tmp_path),
    )  # fmt: skip
    assert done.kind == "video" and done.collection and done.title == "Season 1"
    assert [p.title for p in done.parts] == ["Episode 2", "Episode 10"]
    assert all(p.path.suffix == ".mp4" and p.probe is not None for p in done.parts)
    # a song among videos cannot join a video group: kept and listed, not dropped
    assert sorted(e.name for e in done.extras) == ["notes.txt", "theme.mp3"]


async def test_audio_files_are_an_album_and_a_single_file_stays_single(tmp_path: Path) -> None:
    tracks = [mp3(tmp_path / f"{n} - part.mp3") for n in (3, 1, 2)]
    plan = MediaPlan(url="http://127.0.0.1:9/a.torrent", protocol="torrent", title="Album")
    done = await postprocess_download(
        tracks[0], tuple(tracks[1:]), job_type="video", plan=plan, work_dir=tmp_path / "w",
        settings=settings_for(tmp_path),
    )  # fmt: skip
    assert done.kind == "audio" and done.collection and done.extras == []
    assert [p.title for p in done.parts] == ["1 - part", "2 - part", "3 - part"]
    single = await postprocess_download(
        tracks[0], (), job_type="audio", plan=MediaPlan(url="http://127.0.0.1:9/3.mp3"),
        work_dir=tmp_path / "s", settings=settings_for(tmp_path),
    )  # fmt: skip
    assert not single.collection and len(single.parts) == 1 and single.extras == []
