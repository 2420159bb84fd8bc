"""The yt-dlp backend against the local media server: real yt-dlp in a real child."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import psutil
import pytest

from mediaferry.config import Settings
from mediaferry.errors import HttpError, UnsupportedSource
from mediaferry.net.ytdlp_process import run_ytdlp_child
from mediaferry.plan import JobRequest, MediaPlan
from mediaferry.sources.registry import describe, detect_source
from mediaferry.transfer.base import Progress
from mediaferry.transfer.ytdlp import YtdlpTransfer
from tests.support.media_server import MediaServer
from tests.support.netns import own_descendants


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(allow_private_networks=True, data_dir=tmp_path, ytdlp_kill_grace_s=1)


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return float(json.loads(out)["format"]["duration"])


def ytdlp_children() -> list[psutil.Process]:
    out = []
    for child in own_descendants():
        try:
            if any("ytdlp_child" in part for part in child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            continue
    return out


async def download(url: str, settings: Settings, dest: Path) -> tuple[Path, list[Progress]]:
    request = JobRequest(job_id=1, url=url, job_type="video", quality="best")
    plan = await describe(request, detect_source(url, settings), settings)
    if plan.protocol != "ytdlp":  # a direct file: make yt-dlp fetch it anyway
        plan = MediaPlan(url=plan.url, protocol="ytdlp", size=plan.size)
    seen: list[Progress] = []
    result = await YtdlpTransfer(settings).fetch(plan, dest, seen.append)
    assert result.path.parent == dest and result.size == result.path.stat().st_size
    return result.path, seen


async def test_downloads_a_local_mp4(
    media_server: MediaServer, settings: Settings, tmp_path: Path
) -> None:
    path, seen = await download(media_server.media_url("h264_aac.mp4"), settings, tmp_path / "a")
    assert path.suffix == ".mp4" and ffprobe_duration(path) == pytest.approx(5, abs=0.3)
    assert seen[-1].bytes_done == path.stat().st_size
    assert [p.name for p in path.parent.iterdir()] == [path.name]


async def test_downloads_an_hls_playlist(
    media_server: MediaServer, settings: Settings, tmp_path: Path
) -> None:
    url = media_server.media_url("hls/index.m3u8")
    path, _ = await download(url, settings, tmp_path / "h")
    assert ffprobe_duration(path) == pytest.approx(8, abs=0.5)
    segments = [
        r
        for r in media_server.requests()
        if r.path.startswith("/media/hls/") and r.path.endswith(".ts")
    ]
    assert len(segments) >= 8
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no fragments left


async def test_downloads_the_video_of_a_page(
    media_server: MediaServer, settings: Settings, tmp_path: Path
) -> None:
    url = media_server.url("/pages/hls.html")  # static <video><source .m3u8>: needs yt-dlp
    path, _ = await download(url, settings, tmp_path / "p")
    assert ffprobe_duration(path) == pytest.approx(8, abs=0.5)


async def test_generic_page_extraction_by_ytdlp(
    media_server: MediaServer, settings: Settings, tmp_path: Path
) -> None:
    final = await run_ytdlp_child(
        {
            "mode": "download",
            "url": media_server.url("/pages/video.html"),
            "opts": {"paths": {"home": str(tmp_path)}},
            "allow_private": True,
        }
    )
    assert Path(final["path"]).is_file()


async def test_http_errors_are_classified(
    media_server: MediaServer, settings: Settings, tmp_path: Path
) -> None:
    plan = MediaPlan(url=media_server.url("/status/404"), protocol="ytdlp")
    with pytest.raises(HttpError) as info:
        await YtdlpTransfer(settings).fetch(plan, tmp_path / "e", lambda p: None)
    assert info.value.status == 404 and not info.value.is_retryable


async def test_child_refuses_private_addresses_by_itself(
    media_server: MediaServer, tmp_path: Path
) -> None:
    # the parent's check_url is bypassed on purpose: the child's own guard must refuse
    request = {
        "mode": "extract",
        "url": media_server.media_url("h264_aac.mp4"),
        "opts": {},
        "allow_private": False,
    }
    with pytest.raises(UnsupportedSource, match="private"):
        await run_ytdlp_child(request)
    refused = MediaPlan(url=media_server.media_url("h264_aac.mp4"), protocol="ytdlp")
    with pytest.raises(UnsupportedSource):
        await YtdlpTransfer(Settings(data_dir=tmp_path)).fetch(
            refused, tmp_path / "r", lambda p: None
        )


async def test_cancel_kills_the_child_and_removes_partial_files(
    media_server: MediaServer, settings: Settings, tmp_path: Path
) -> None:
    dest = tmp_path / "c"
    dest.mkdir()
    (dest / "keep.txt").write_text("from an earlier stage")
    plan = MediaPlan(url=media_server.url("/slow/long.mp4?rate=20000"), protocol="ytdlp")
    started = asyncio.Event()

    def on_progress(p: Progress) -> None:
        if p.bytes_done > 0:
            started.set()

    task = asyncio.create_task(YtdlpTransfer(settings).fetch(plan, dest, on_progress))
    await asyncio.wait_for(started.wait(), 20)
    assert ytdlp_children(), "the download should run in a child process"
    assert any(p.name.endswith(".part") for p in dest.iterdir())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert ytdlp_children() == []
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
