"""Big direct files: HTTP first, aria2c for the rest when one connection is slow.

Real aria2c daemon, the real HTTP backend, and the local media server's per-connection
throttle (``/slow/...?rate=``), as many real servers cap each connection.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mediaferry.config import Settings
from mediaferry.errors import NetworkError
from mediaferry.plan import MediaPlan
from mediaferry.transfer.base import Progress
from mediaferry.transfer.bigfile import BigFileTransfer
from mediaferry.transfer.http import HandOff
from mediaferry.transfer.registry import TransferRegistry
from tests.support.media_server import MediaServer, sha256_of

module_loop = pytest.mark.asyncio(loop_scope="module")

SIZE = 5 << 20  # five aria2c pieces of 1 MiB
RATE = 1_000_000  # bytes/s per connection


@pytest.fixture(scope="module")
def blob(media_dir: Path) -> Path:
    path = media_dir / "bigfile-handoff.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        allow_private_networks=True,
        data_dir=tmp_path_factory.mktemp("bigfile"),
        aria2_min_size_mb=1,
        aria2_handoff_below_mb_s=2.5,  # one connection here carries 1 MB/s
        aria2_handoff_after_s=2.5,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def registry(settings: Settings) -> AsyncIterator[TransferRegistry]:
    registry = TransferRegistry(settings)
    yield registry
    await registry.close()


def big_plan(url: str) -> MediaPlan:
    return MediaPlan(url=url, protocol="http", size=SIZE, ext="bin")


@module_loop
async def test_a_slow_connection_hands_the_rest_to_aria2c_which_goes_on_from_it(
    registry: TransferRegistry, media_server: MediaServer, blob: Path, tmp_path: Path
) -> None:
    url = media_server.url(f"/slow/{blob.name}?rate={RATE}&t=handoff")
    plan = big_plan(url)
    transfer = registry.for_plan(plan)
    assert transfer.name == "http+aria2"
    seen: list[Progress] = []
    result = await transfer.fetch(plan, tmp_path, seen.append)
    assert result.downloader == "aria2"
    assert result.path == tmp_path / blob.name  # the server's name, as over HTTP
    assert sha256_of(result.path) == sha256_of(blob)
    assert sorted(p.name for p in tmp_path.iterdir()) == [blob.name]  # no .part, no .aria2
    # aria2c went on from the bytes HTTP had written (2.5 MB after 2.5 s at 1 MB/s, so
    # from the piece at 2 MiB): no report goes back, as a fresh download's would
    over = next(i for i, p in enumerate(seen) if p.bytes_done >= 2 << 20)
    assert all(p.bytes_done >= 2 << 20 for p in seen[over:])
    gets = media_server.requests(f"/slow/{blob.name}", method="GET")
    gets = [r for r in gets if r.query.get("t") == "handoff"]
    assert gets[0].range is None  # HTTP from byte 0
    starts = [int(r.range.split("=")[1].split("-")[0]) for r in gets[1:] if r.range]
    assert starts and min(starts) >= 2 << 20  # aria2c, in parallel ranges after it


@module_loop
async def test_a_fast_connection_stays_on_http_to_the_end(
    registry: TransferRegistry, media_server: MediaServer, blob: Path, tmp_path: Path
) -> None:
    plan = big_plan(media_server.media_url(blob.name))
    result = await registry.for_plan(plan).fetch(plan, tmp_path, lambda p: None)
    assert result.downloader == "http"
    assert result.digest is not None and result.digest.sha256 == sha256_of(blob)
    assert [p.name for p in tmp_path.iterdir()] == [blob.name]


@module_loop
async def test_a_handed_over_download_that_failed_goes_back_to_aria2c(
    registry: TransferRegistry, media_server: MediaServer, blob: Path, tmp_path: Path
) -> None:
    """aria2c writes pieces out of order: an HTTP resume from the partial file's size
    would keep holes. The retry finds aria2c's control file and goes on in aria2c."""
    url = media_server.url(f"/slow/{blob.name}?rate={RATE // 4}&t=retry")
    plan = big_plan(url)
    transfer = registry.for_plan(plan)
    assert isinstance(transfer, BigFileTransfer)
    seen: list[Progress] = []
    task = asyncio.create_task(transfer.fetch(plan, tmp_path, seen.append))
    deadline = time.monotonic() + 20
    while not (tmp_path / "download.part.aria2").exists():  # handed over
        assert time.monotonic() < deadline and not task.done()
        await asyncio.sleep(0.05)
    pid = transfer.aria2.daemon.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(NetworkError):
        await asyncio.wait_for(task, 10)
    assert (tmp_path / "download.part.aria2").exists()
    before = len(media_server.requests(f"/media/{blob.name}"))
    result = await transfer.fetch(
        big_plan(media_server.media_url(blob.name)), tmp_path, seen.append
    )
    assert result.downloader == "aria2"
    assert sha256_of(result.path) == sha256_of(blob)
    assert len(media_server.requests(f"/media/{blob.name}")) > before


@module_loop
async def test_big_files_go_to_aria2c_at_once_when_the_hand_off_is_off(
    settings: Settings, media_server: MediaServer, blob: Path, tmp_path: Path
) -> None:
    registry = TransferRegistry(settings.model_copy(update={"aria2_handoff_after_s": 0}))
    try:
        plan = big_plan(media_server.media_url(blob.name))
        result = await registry.for_plan(plan).fetch(plan, tmp_path, lambda p: None)
        assert result.downloader == "aria2" and sha256_of(result.path) == sha256_of(blob)
    finally:
        await registry.close()


def report(done: int, speed: float | None, total: int | None = 100_000_000) -> Progress:
    return Progress(bytes_done=done, bytes_total=total, speed=speed)


def test_hand_off_waits_its_time_and_needs_a_slow_link_with_enough_left() -> None:
    rule = HandOff(below=10e6, after=3)
    now = time.monotonic()
    assert rule.due(now - 3.1, report(5_000_000, 2e6))
    assert not rule.due(now - 1, report(2_000_000, 2e6))  # too early to judge
    assert not rule.due(now - 3.1, report(50_000_000, 20e6))  # fast enough
    assert not rule.due(now - 3.1, report(99_000_000, 2e6))  # under 3 s left at this rate
    assert not rule.due(now - 3.1, report(5_000_000, None))  # no speed measured yet
    assert not rule.due(now - 3.1, report(5_000_000, 2e6, total=None))  # length unknown
