"""YouTube readiness: yt-dlp, as Mediaferry configures it, has a JS runtime, the EJS
solver and impersonation, solves a JS challenge through the configured runtime, and
gets MEDIAFERRY_YTDLP_EXTRACTOR_ARGS. Real yt-dlp in the real child, real deno;
offline (the player script is built locally, extraction hits the local media server).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from mediaferry.app import Services
from mediaferry.config import Settings
from mediaferry.jobs.ytdlp_health import ytdlp_report
from mediaferry.logging import JsonFormatter
from mediaferry.net.ytdlp_env import base_opts, js_runtimes
from mediaferry.plan import JobRequest, MediaPlan
from mediaferry.sources._ytdlp import extract_info, extract_opts
from mediaferry.transfer.ytdlp import download_opts
from mediaferry.web.health import check_health
from tests.support.media_server import MediaServer


def deno_of_this_environment() -> str:
    import deno

    return str(deno.find_deno_bin())


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # the runtime must be found without the venv's bin on PATH (a service's PATH)
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    assert shutil.which("deno") is None
    return Settings(allow_private_networks=True, data_dir=tmp_path)


async def test_ytdlp_reports_deno_and_ejs_available_and_solves_a_challenge(
    settings: Settings,
) -> None:
    report = await ytdlp_report(settings, selftest=True, fresh=True)
    assert report.installed and report.ready, report.as_dict()
    assert report.js_runtime is not None and report.js_runtime.startswith("deno ")
    assert report.js_runtime_path == deno_of_this_environment()
    # yt-dlp's own provider list, as its verbose output prints it
    providers = [p.strip() for p in report.challenge_providers.split(",")]
    assert "deno" in providers, report.challenge_providers
    assert report.ejs_version and report.ejs_available
    # a player script's signature and "n" steps, solved by the EJS solver in deno
    assert report.selftest_ok is True and report.selftest is not None
    assert report.selftest.startswith("solved in"), report.selftest
    assert report.impersonation is not None and report.impersonation.startswith("curl_cffi")
    assert report.warnings == []


async def test_impersonation_is_available_with_private_networks_off(settings: Settings) -> None:
    # production settings: the probe child gets the jobs' network set-up (the guarding
    # proxy as yt-dlp's proxy, the getaddrinfo guard) and curl_cffi stays registered
    strict = settings.model_copy(update={"allow_private_networks": False})
    report = await ytdlp_report(strict, fresh=True)
    assert report.impersonation is not None, report.as_dict()
    assert report.impersonation.startswith("curl_cffi ")
    assert report.impersonation.endswith("targets, through the URL guard)")
    assert "impersonation" not in " ".join(report.warnings)
    # with private networks allowed there is no proxy, and impersonation all the same
    loose = await ytdlp_report(settings, fresh=True)
    assert loose.impersonation is not None and "URL guard" not in loose.impersonation


async def test_without_a_runtime_the_report_says_what_breaks(settings: Settings) -> None:
    settings = settings.model_copy(update={"ytdlp_js_runtime": "none"})
    report = await ytdlp_report(settings, selftest=True, fresh=True)
    assert report.installed and not report.ready
    assert report.js_runtime is None and report.selftest_ok is False
    assert any("no JavaScript runtime" in w for w in report.warnings), report.warnings


def test_every_child_gets_the_runtime_path_and_the_extractor_args(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"ytdlp_extractor_args": {"youtube": {"player_client": ["web"]}}}
    )
    expected = {"deno": {"path": deno_of_this_environment()}}
    assert js_runtimes(settings) == expected
    request = JobRequest(job_id=1, url="https://example.org/v", job_type="video", quality="best")
    plan = MediaPlan(url="https://example.org/v", protocol="ytdlp")
    for opts in (
        extract_opts(settings, request),
        download_opts(plan, Path(settings.data_dir), settings),
        base_opts(settings),
    ):
        assert opts["js_runtimes"] == expected
        assert opts["extractor_args"] == {"youtube": {"player_client": ["web"]}}


def test_a_runtime_can_be_named_with_its_path(settings: Settings) -> None:
    node = settings.model_copy(update={"ytdlp_js_runtime": "node:/opt/node/bin/node"})
    assert js_runtimes(node) == {"node": {"path": "/opt/node/bin/node"}}
    assert js_runtimes(settings.model_copy(update={"ytdlp_js_runtime": "none"})) == {}


async def test_extractor_args_reach_the_extractor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, media_server: MediaServer
) -> None:
    """``generic:is_live=true`` makes yt-dlp's generic extractor call an HLS stream
    live without asking the server: the setting reached the extractor in the child."""
    url = media_server.media_url("hls/index.m3u8")
    request = JobRequest(job_id=1, url=url, job_type="video", quality="best")
    plain = await extract_info(url, Settings(allow_private_networks=True), request)
    assert plain.get("live_status") != "is_live"
    monkeypatch.setenv("MEDIAFERRY_YTDLP_EXTRACTOR_ARGS", "generic:is_live=true")
    configured = Settings(allow_private_networks=True, data_dir=tmp_path)
    info = await extract_info(url, configured, request)
    assert info.get("live_status") == "is_live"
    assert os.environ["MEDIAFERRY_YTDLP_EXTRACTOR_ARGS"]  # read from the environment


async def test_health_reports_ytdlp_readiness(services: Services) -> None:
    report = await check_health(services)
    ytdlp = report["ytdlp"]
    if ytdlp.get("pending"):  # a slow machine: the probe answers the next call
        await ytdlp_report(services.settings)
        ytdlp = (await check_health(services))["ytdlp"]
    assert ytdlp["ok"] is True and ytdlp["js_runtime"].startswith("deno ")
    assert ytdlp["ejs"] and ytdlp["impersonation"].startswith("curl_cffi")
    assert isinstance(ytdlp["age_days"], int) and ytdlp["version"]
    assert report["warnings"] == ytdlp["warnings"]
    assert "/" not in json.dumps(ytdlp)  # no paths on the unauthenticated page


async def test_po_tokens_are_kept_out_of_logs(tmp_path: Path) -> None:
    token = "SECRETPOTOKEN1234567890"
    settings = Settings(
        data_dir=tmp_path,
        ytdlp_extractor_args=f"youtube:player_client=web;po_token=web.gvs+{token}",  # type: ignore[arg-type]
    )
    services = await Services.create(settings, start_bus=False)
    try:
        record = logging.LogRecord("t", logging.INFO, "", 0, "fetching ...&pot=%s", (token,), None)
        assert token not in JsonFormatter().format(record)
    finally:
        await services.close()
