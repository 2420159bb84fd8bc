"""`mediaferry update` and `mediaferry doctor` about yt-dlp, run as an operator would,
against a throwaway environment and wheels built in the test (never the project's
.venv, never the network); bad settings refused with one line."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import (
    cli_env,
    job_json,
    mf,
    running_owners,
    spawn_worker,
    wait_job,
    workers,
)
from tests.integration.test_ytdlp_update import NEW, OLD, closed_port, old_env
from tests.support.media_server import MediaServer
from tests.support.wheels import build_ytdlp_wheel, isolated_pip_env

__all__ = ["workers"]  # the fixture, shared with test_cli


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-wheels")
    build_ytdlp_wheel(root / "old", OLD)
    build_ytdlp_wheel(root / "new", NEW)
    return {"old": root / "old", "new": root / "new"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    base = {k: v for k, v in cli_env(tmp_path / "data").items() if not k.startswith("PIP_")}
    yield {**base, **{k: v for k, v in isolated_pip_env().items() if k.startswith("PIP_")}}


def test_update_from_a_local_folder_prints_old_to_new(
    env: dict[str, str], wheels: dict[str, Path], tmp_path: Path, media_server: MediaServer
) -> None:
    python = old_env(tmp_path / "venv", wheels)
    env.update(
        MEDIAFERRY_YTDLP_PYTHON=python,
        MEDIAFERRY_UPDATE_INDEX_URL="none",
        MEDIAFERRY_UPDATE_FIND_LINKS=str(wheels["new"]),
    )
    # doctor first: the old yt-dlp is flagged, with the fix
    doctor = mf({**env, "COLUMNS": "200"}, "doctor")
    line = next(ln for ln in doctor.stdout.splitlines() if "│ yt-dlp" in ln)
    assert "warn" in line and OLD in line and "(over 60)" in line and "mediaferry update" in line
    out = mf(env, "update", timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"yt-dlp {OLD} → {NEW}"
    again = mf(env, "update", timeout=300)
    assert again.returncode == 0 and again.stdout.strip() == f"yt-dlp {NEW} is up to date"
    # remembered like a background update: the schedule counts from this one
    state = json.loads((Path(env["MEDIAFERRY_DATA_DIR"]) / "ytdlp-update.json").read_text())
    assert state["result"] == f"yt-dlp {NEW} is up to date" and state["last_attempt"] > 0
    version = subprocess.run(
        [python, "-c", "import yt_dlp.version as v; print(v.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == NEW


def test_update_with_the_index_unreachable_is_one_line_and_keeps_yt_dlp(
    env: dict[str, str], wheels: dict[str, Path], tmp_path: Path
) -> None:
    python = old_env(tmp_path / "venv", wheels)
    index = f"http://127.0.0.1:{closed_port()}/simple"
    env.update(MEDIAFERRY_YTDLP_PYTHON=python, MEDIAFERRY_UPDATE_INDEX_URL=index)
    out = mf(env, "update", timeout=300)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f"error: update failed: the package index could not be reached ({index}); yt-dlp {OLD} kept"
    )
    assert out.stdout == ""
    # the kept version still runs: doctor's probe child imports and reports it
    doctor = mf({**env, "COLUMNS": "200"}, "doctor")
    line = next(ln for ln in doctor.stdout.splitlines() if "│ yt-dlp" in ln)
    assert f"{OLD}, " in line and "days old" in line


def test_doctor_reports_youtube_readiness(env: dict[str, str]) -> None:
    env = {**env, "PATH": "/usr/local/bin:/usr/bin:/bin", "COLUMNS": "200"}
    out = mf(env, "doctor")
    assert out.returncode == 0, out.stdout
    rows = {ln.split("│")[1].strip(): ln for ln in out.stdout.splitlines() if ln.count("│") > 3}
    assert "deno" in rows["JS runtime"] and " ok " in rows["JS runtime"]
    assert "yt-dlp-ejs" in rows["EJS solver"] and " ok " in rows["EJS solver"]
    assert "solved in" in rows["JS challenge"]
    assert "curl_cffi" in rows["impersonation"]
    assert "days old" in rows["yt-dlp"]


def test_doctor_says_impersonation_works_with_private_networks_off(env: dict[str, str]) -> None:
    # the production default: yt-dlp's child connects through the guarding proxy
    env = {**env, "MEDIAFERRY_ALLOW_PRIVATE_NETWORKS": "false", "COLUMNS": "200"}
    out = mf(env, "doctor")
    rows = {ln.split("│")[1].strip(): ln for ln in out.stdout.splitlines() if ln.count("│") > 3}
    assert "curl_cffi" in rows["impersonation"], out.stdout
    assert "through the URL guard" in rows["impersonation"], out.stdout


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("MEDIAFERRY_YTDLP_EXTRACTOR_ARGS", "youtube", "entry 1 has no ':'"),
        ("MEDIAFERRY_YTDLP_EXTRACTOR_ARGS", '{"youtube": ', "not valid JSON"),
        ("MEDIAFERRY_YTDLP_AUTO_UPDATE", "hourly", "must be off, daily or weekly"),
    ],
)
@pytest.mark.parametrize("command", ["run", "update"])
def test_bad_settings_stop_with_one_line(
    env: dict[str, str], name: str, value: str, says: str, command: str
) -> None:
    out = mf({**env, name: value}, command, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: invalid setting {name}:")
    assert says in lines[0]
    assert not os.path.exists(env["MEDIAFERRY_DATA_DIR"])  # nothing was started or made


def test_a_running_worker_uses_the_updated_yt_dlp_for_its_next_job(
    env: dict[str, str],
    wheels: dict[str, Path],
    tmp_path: Path,
    media_server: MediaServer,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    python = old_env(tmp_path / "venv", wheels)
    env.update(
        MEDIAFERRY_YTDLP_PYTHON=python,
        MEDIAFERRY_UPDATE_INDEX_URL="none",
        MEDIAFERRY_UPDATE_FIND_LINKS=str(wheels["new"]),
    )
    worker = spawn_worker(env, tmp_path / "worker.log")
    workers.append(worker)

    def run_job(n: int) -> dict[str, Any]:
        url = media_server.url(f"/pages/hls.html?n={n}")  # a page only yt-dlp reads
        out = mf(env, "add", "--json", url)
        assert out.returncode == 0, out.stderr
        job = wait_job(env, json.loads(out.stdout)["jobs"][0]["id"], "COMPLETED", "FAILED")
        assert job["status"] == "COMPLETED", job
        return job

    first = run_job(1)
    out = mf(env, "update", timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == f"yt-dlp {OLD} → {NEW}", out.stderr
    second = run_job(2)
    assert worker.poll() is None  # the same worker process, never restarted
    owners = running_owners(env, [first["id"], second["id"]])
    assert len({took[0] for took in owners.values()}) == 1, owners
    versions = [
        next(
            e["data"]["version"]
            for e in job_json(env, job["id"])["events"]
            if e["type"] == "DOWNLOADED"
        )
        for job in (first, second)
    ]
    assert versions == [f"yt-dlp {OLD}", f"yt-dlp {NEW}"]
