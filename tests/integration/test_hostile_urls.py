"""The hostile-link corpus through the real pipeline: every link is refused at intake
with a clear reason, or runs and fails with a Mediaferry error type. None ends as
UNKNOWN, none crashes the worker.

Runs under ``unshare --net`` (only loopback), with ALLOW_PRIVATE_NETWORKS off, so a
refusal that failed could not reach any network.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from mediaferry.app import Services
from mediaferry.errors import ErrorType, JobError, UrlRejected
from mediaferry.jobs.states import JobStatus
from mediaferry.net.page import fetch_page
from mediaferry.plan import MediaPlan
from mediaferry.sources.direct import probe_media
from mediaferry.transfer.http import HttpTransfer
from tests.support.db_fixtures import make_settings
from tests.support.hostile_urls import HOSTILE_URLS
from tests.support.netns import in_netns

pytestmark = pytest.mark.netns

_ENDED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


async def test_hostile_links_never_end_as_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert in_netns()
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'mf.db'}",
        allow_private_networks=False,
        max_attempts=1,
        max_parallel_jobs=4,
        http_connect_timeout_s=3,
        browser_timeout_s=5,
        torrent_timeout_s=3,
        log_level="INFO",
    )
    services = await Services.create(settings)
    refused: dict[str, str] = {}
    created: dict[int, str] = {}
    try:
        for url in HOSTILE_URLS:
            try:
                result = await services.jobs.create(url, enforce_limits=False)
            except UrlRejected as exc:
                assert exc.message and "\n" not in exc.message, url
                refused[url] = exc.message
            else:
                created[result.job.id] = url
        assert len(refused) > len(HOSTILE_URLS) * 3 // 4  # most never become a job
        workers = services.worker_pool(concurrency=4)
        await workers.start()
        try:
            deadline = time.monotonic() + 240
            while True:
                jobs = [await services.jobs.get(i) for i in created]
                if all(j.status in _ENDED for j in jobs):
                    break
                assert time.monotonic() < deadline, [
                    (j.id, j.url, j.status, j.stage) for j in jobs if j.status not in _ENDED
                ]
                await asyncio.sleep(0.2)
        finally:
            await workers.stop()
    finally:
        await services.close()
    unknown = [(created[j.id], j.error_message) for j in jobs if j.error_type == ErrorType.UNKNOWN]
    assert unknown == []
    assert all(j.status == JobStatus.FAILED and j.error_type for j in jobs)
    crashed = [r for r in caplog.records if r.getMessage() == "job crashed"]
    assert crashed == [], [r.exc_text for r in crashed]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]


# hosts that intake refuses, handed straight to the clients below it: the boundary
# must still answer with a Mediaferry error, never httpx's InvalidURL or a UnicodeError
_PAST_INTAKE = [
    "http://425.510.425.510/",
    "http://ⓔⓧⓐⓜⓟⓛⓔ.ⓒⓞⓜ/a.mp4",
    "http://xn--zz.com/a.mp4",
    "http://exa\u200dmple.com/a.mp4",
    "http://" + "a" * 64 + ".com/a.mp4",
    "http://[v1.x]/a.mp4",
    "http://example.com/a.mp4?\ud800",
]


@pytest.mark.parametrize("url", _PAST_INTAKE)
async def test_clients_translate_what_intake_would_refuse(tmp_path: Path, url: str) -> None:
    assert in_netns()
    settings = make_settings(tmp_path, "sqlite+aiosqlite://", allow_private_networks=False)
    with pytest.raises(JobError):
        await probe_media(url, settings)
    with pytest.raises(JobError):
        await fetch_page(url, settings)
    transfer = HttpTransfer(settings)
    try:
        with pytest.raises(JobError):
            await transfer.fetch(MediaPlan(url=url), tmp_path / "dl", lambda p: None)
    finally:
        await transfer.close()
