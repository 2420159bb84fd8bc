"""The aria2c backend: a real supervised daemon against the local media server."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mediaferry.config import Settings
from mediaferry.errors import HttpError, NetworkError, StageTimeout, UnsupportedSource
from mediaferry.plan import JobRequest, MediaPlan
from mediaferry.sources.torrent import TorrentSource
from mediaferry.transfer.aria2 import Aria2Transfer
from mediaferry.transfer.base import Progress
from tests.support.media_server import MediaServer, sha256_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        allow_private_networks=True,
        data_dir=tmp_path_factory.mktemp("aria2data"),
        torrent_timeout_s=1.5,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def aria2(settings: Settings) -> AsyncIterator[Aria2Transfer]:
    transfer = Aria2Transfer(settings)
    yield transfer
    await transfer.close()
    assert not transfer.daemon.alive


def nothing(progress: Progress) -> None:
    pass


async def wait_for_bytes(seen: list[Progress], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not any(p.bytes_done > 0 for p in seen):
        assert loop.time() < deadline, "no progress"
        await asyncio.sleep(0.05)


async def test_direct_file(
    aria2: Aria2Transfer, media_server: MediaServer, media_dir: Path, tmp_path: Path
) -> None:
    seen: list[Progress] = []
    plan = MediaPlan(url=media_server.media_url("h264_aac.mp4"), protocol="aria2")
    result = await aria2.fetch(plan, tmp_path, seen.append)
    assert result.downloader == "aria2" and result.path.parent == tmp_path
    assert sha256_of(result.path) == sha256_of(media_dir / "h264_aac.mp4")
    assert seen[-1].bytes_done == seen[-1].bytes_total == result.size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h264_aac.mp4"]


async def test_torrent_with_a_local_web_seed(
    aria2: Aria2Transfer,
    media_server: MediaServer,
    media_dir: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    url = media_server.url("/torrent/audio.m4a.torrent")
    request = JobRequest(job_id=1, url=url, job_type="audio", quality="audio")
    plan = await TorrentSource(settings).describe(request)
    assert plan.protocol == "torrent" and plan.title == "audio.m4a"
    assert plan.size == (media_dir / "audio.m4a").stat().st_size
    result = await aria2.fetch(plan, tmp_path, nothing)
    assert sha256_of(result.path) == sha256_of(media_dir / "audio.m4a")
    assert [p.name for p in tmp_path.iterdir()] == ["audio.m4a"]


@pytest.mark.netns  # private addresses: where only loopback exists
async def test_torrent_with_private_web_seed_is_refused(
    media_server: MediaServer, tmp_path: Path
) -> None:
    strict = Settings(data_dir=tmp_path, allow_private_networks=False)
    source = TorrentSource(strict)
    torrent = media_server.torrent_bytes("audio.mp3", seed="http://10.0.0.5/audio.mp3")
    from mediaferry.net.torrent import check_torrent_urls, parse_torrent

    with pytest.raises(UnsupportedSource, match="private"):
        check_torrent_urls(parse_torrent(torrent), allow_private=False)
    magnet = "magnet:?xt=urn:btih:" + "a" * 40 + "&ws=http%3A%2F%2F192.168.1.2%2Ff.mp3"
    with pytest.raises(UnsupportedSource, match="private"):
        await source.describe(JobRequest(job_id=1, url=magnet, job_type="audio", quality="audio"))


async def test_magnet_without_peers_times_out_clearly(aria2: Aria2Transfer, tmp_path: Path) -> None:
    plan = MediaPlan(url="magnet:?xt=urn:btih:" + "c" * 40 + "&dn=nobody", protocol="torrent")
    with pytest.raises(StageTimeout, match="no peers"):
        await aria2.fetch(plan, tmp_path, nothing)
    assert list(tmp_path.iterdir()) == []
    assert await aria2.daemon.call("aria2.tellActive", ["gid"]) == []


async def test_not_found_is_a_final_http_error(
    aria2: Aria2Transfer, media_server: MediaServer, tmp_path: Path
) -> None:
    plan = MediaPlan(url=media_server.media_url("missing.mp4"), protocol="aria2")
    with pytest.raises(HttpError) as info:
        await aria2.fetch(plan, tmp_path, nothing)
    assert info.value.status == 404 and not info.value.is_retryable


async def test_cancel_removes_the_file_and_control_file(
    aria2: Aria2Transfer, media_server: MediaServer, tmp_path: Path
) -> None:
    seen: list[Progress] = []
    plan = MediaPlan(url=media_server.url("/slow/long.mp4?rate=40000"), protocol="aria2")
    task = asyncio.create_task(aria2.fetch(plan, tmp_path, seen.append))
    await wait_for_bytes(seen)
    assert any(p.suffix == ".aria2" for p in tmp_path.iterdir())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(tmp_path.iterdir()) == []
    assert await aria2.daemon.call("aria2.tellActive", ["gid"]) == []


async def test_daemon_death_is_retryable_and_the_daemon_restarts(
    aria2: Aria2Transfer, media_server: MediaServer, media_dir: Path, tmp_path: Path
) -> None:
    await aria2.daemon.ensure()
    old_pid, old_generation = aria2.daemon.pid, aria2.daemon.generation
    assert old_pid is not None
    seen: list[Progress] = []
    plan = MediaPlan(url=media_server.url("/slow/long.mp4?rate=40000"), protocol="aria2")
    task = asyncio.create_task(aria2.fetch(plan, tmp_path / "first", seen.append))
    await wait_for_bytes(seen)
    os.kill(old_pid, signal.SIGKILL)
    with pytest.raises(NetworkError) as info:
        await asyncio.wait_for(task, 10)
    assert info.value.is_retryable
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not (aria2.daemon.alive and aria2.daemon.generation > old_generation):
        assert loop.time() < deadline, "the daemon was not restarted"
        await asyncio.sleep(0.05)
    assert aria2.daemon.pid != old_pid
    # the job engine's retry: the same plan now completes
    result = await aria2.fetch(
        MediaPlan(url=media_server.media_url("long.mp4"), protocol="aria2"),
        tmp_path / "first",
        nothing,
    )
    assert sha256_of(result.path) == sha256_of(media_dir / "long.mp4")
