"""yt-dlp freshness: `mediaferry update` and the auto-update, against a throwaway venv
and wheels built in the test (a local package folder; a closed loopback port as the
unreachable index). The project's own .venv is never touched. The venv runs the real
yt-dlp code under test version numbers, so jobs really run before and after.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediaferry.config import Settings
from mediaferry.errors import UpdateFailed
from mediaferry.jobs.ytdlp_health import ytdlp_report
from mediaferry.jobs.ytdlp_refresh import auto_update_loop, state_path
from mediaferry.net.ytdlp_env import env_lock
from mediaferry.net.ytdlp_process import run_ytdlp_child
from mediaferry.net.ytdlp_update import installed_version, update_ytdlp
from mediaferry.plan import MediaPlan
from mediaferry.transfer.ytdlp import YtdlpTransfer
from tests.support.media_server import MediaServer
from tests.support.wheels import build_ytdlp_wheel, isolated_pip_env, venv_with_ytdlp

OLD, NEW = "2025.1.1", "2099.1.1"


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wheels")
    build_ytdlp_wheel(root / "old", OLD)
    build_ytdlp_wheel(root / "new", NEW)
    return {"old": root / "old", "new": root / "new"}


@pytest.fixture
def pip_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """pip inside `update` sees only what the test points it at."""
    env = isolated_pip_env()
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("PIP_"):
            monkeypatch.setenv(key, value)
    yield env


def old_env(root: Path, wheelhouse: dict[str, Path] | None = None) -> str:
    """A throwaway environment with yt-dlp OLD installed (as pip installs it)."""
    python = venv_with_ytdlp(root, OLD)
    assert not python.startswith(sys.prefix)
    return python


@pytest.fixture
def venv(tmp_path: Path, wheelhouse: dict[str, Path], pip_env: dict[str, str]) -> str:
    """An environment of its own, for a test that upgrades it."""
    return old_env(tmp_path / "venv", wheelhouse)


@pytest.fixture(scope="module")
def shared_venv(tmp_path_factory: pytest.TempPathFactory, wheelhouse: dict[str, Path]) -> str:
    """One environment for the tests whose update must change nothing."""
    return old_env(tmp_path_factory.mktemp("shared") / "venv", wheelhouse)


@pytest.fixture
def kept_venv(shared_venv: str, pip_env: dict[str, str]) -> Iterator[str]:
    yield shared_venv
    assert asyncio.run(installed_version(shared_venv)) == OLD


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_for(python: str, tmp_path: Path, **update: str) -> Settings:
    return Settings(
        allow_private_networks=True,
        data_dir=tmp_path / "data",
        ytdlp_python=python,
        ytdlp_kill_grace_s=1,
        **update,  # type: ignore[arg-type]
    )


async def download_version(settings: Settings, url: str, dest: Path) -> tuple[str, Path]:
    """Download ``url`` as a yt-dlp job; return the yt-dlp version that ran it."""
    seen: list[str] = []
    request = {
        "mode": "download",
        "url": url,
        "opts": {"outtmpl": {"default": "%(id)s.%(ext)s"}, "paths": {"home": str(dest)}},
        "allow_private": True,
    }
    final = await run_ytdlp_child(
        request,
        lambda e: seen.append(str(e["version"])) if e.get("event") == "ready" else None,
        python=settings.ytdlp_python,
    )
    return seen[0], Path(final["path"])


async def test_update_then_the_next_job_uses_the_new_version(
    venv: str, wheelhouse: dict[str, Path], tmp_path: Path, media_server: MediaServer
) -> None:
    url = media_server.media_url("h264_aac.mp4")
    settings = settings_for(
        venv, tmp_path, update_index_url="none", update_find_links=str(wheelhouse["new"])
    )
    version, first = await download_version(settings, url, tmp_path / "one")
    assert version == OLD and first.stat().st_size > 0
    assert (await ytdlp_report(settings)).version == OLD

    result = await update_ytdlp(settings)
    assert (result.old, result.new, result.changed) == (OLD, NEW, True)
    assert result.describe() == f"yt-dlp {OLD} → {NEW}"
    # same process, no restart: the next job's child imports the new version
    version, second = await download_version(settings, url, tmp_path / "two")
    assert version == NEW and second.read_bytes() == first.read_bytes()
    # a download through the transfer backend runs in the upgraded environment too
    plan = MediaPlan(url=url, protocol="ytdlp")
    fetched = await YtdlpTransfer(settings).fetch(plan, tmp_path / "three", lambda p: None)
    assert fetched.path.read_bytes() == first.read_bytes()
    assert (await ytdlp_report(settings)).version == NEW  # no stale cached report

    again = await update_ytdlp(settings)
    assert not again.changed and again.describe() == f"yt-dlp {NEW} is up to date"


async def test_unreachable_index_keeps_the_old_version_working(
    kept_venv: str, tmp_path: Path, media_server: MediaServer
) -> None:
    index = f"http://127.0.0.1:{closed_port()}/simple"
    settings = settings_for(kept_venv, tmp_path, update_index_url=index)
    with pytest.raises(UpdateFailed) as err:
        await update_ytdlp(settings)
    message = err.value.message
    assert message == (
        f"update failed: the package index could not be reached ({index}); yt-dlp {OLD} kept"
    )
    assert await installed_version(kept_venv) == OLD
    version, path = await download_version(
        settings, media_server.media_url("h264_aac.mp4"), tmp_path / "after"
    )
    assert version == OLD and path.stat().st_size > 0


async def test_no_such_package_in_the_folder(kept_venv: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    settings = settings_for(
        kept_venv, tmp_path, update_index_url="none", update_find_links=str(empty)
    )
    with pytest.raises(UpdateFailed, match=rf"no yt-dlp found at {empty}; yt-dlp {OLD} kept"):
        await update_ytdlp(settings)


async def test_update_waits_for_a_starting_job_and_jobs_wait_for_an_update(
    kept_venv: str, wheelhouse: dict[str, Path], tmp_path: Path, media_server: MediaServer
) -> None:
    settings = settings_for(
        kept_venv, tmp_path, update_index_url="none", update_find_links=str(wheelhouse["new"])
    )
    # a yt-dlp child that is starting holds the lock shared: the upgrade does not begin
    async with env_lock(kept_venv, exclusive=False):
        with pytest.raises(UpdateFailed, match="busy"):
            await update_ytdlp(settings, lock_timeout=0.3)
    assert await installed_version(kept_venv) == OLD
    # while an upgrade holds it, a job's child does not start
    url = media_server.media_url("h264_aac.mp4")
    async with env_lock(kept_venv, exclusive=True):
        job = asyncio.create_task(download_version(settings, url, tmp_path / "held"))
        done, _ = await asyncio.wait({job}, timeout=1.0)
        assert not done, "a yt-dlp child started during an upgrade"
    version, _path = await job
    assert version == OLD


async def test_auto_update_runs_logs_and_remembers(
    venv: str,
    wheelhouse: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(
        venv,
        tmp_path,
        update_index_url="none",
        update_find_links=str(wheelhouse["new"]),
        ytdlp_auto_update="daily",
    )
    caplog.set_level(logging.INFO, logger="mediaferry.jobs.ytdlp_refresh")
    loop = asyncio.create_task(auto_update_loop(settings, first_delay_s=0))
    try:
        async with asyncio.timeout(120):
            while not state_path(settings).exists():
                await asyncio.sleep(0.1)
    finally:
        loop.cancel()
    state = json.loads(state_path(settings).read_text())
    assert state["result"] == f"yt-dlp {OLD} → {NEW}"
    assert await installed_version(venv) == NEW
    assert any(f"yt-dlp {OLD} → {NEW}" in r.getMessage() for r in caplog.records)


async def test_auto_update_off_does_nothing(tmp_path: Path) -> None:
    settings = settings_for(str(tmp_path / "no-such-env/bin/python"), tmp_path)
    assert settings.ytdlp_auto_update == "off"  # tests/conftest.py
    await asyncio.wait_for(auto_update_loop(settings, first_delay_s=0), 1)
    assert not state_path(settings).exists()


async def test_index_credentials_stay_out_of_the_message(kept_venv: str, tmp_path: Path) -> None:
    index = f"http://mirror-user:s3cr3t-token@127.0.0.1:{closed_port()}/simple"
    settings = settings_for(kept_venv, tmp_path, update_index_url=index)
    with pytest.raises(UpdateFailed) as err:
        await update_ytdlp(settings)
    assert "s3cr3t-token" not in err.value.message and "mirror-user" not in err.value.message
    assert "could not be reached (http://***@127.0.0.1:" in err.value.message
