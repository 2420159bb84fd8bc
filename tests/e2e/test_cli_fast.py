"""A fast CLI (issue 12, step 5): light commands import only what they need, and the
fast paths answer exactly what the full commands answer.

No timing is asserted here (bench/cli.py measures); these tests look at which modules
a real ``mediaferry`` process imported (``-X importtime``) and compare outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from mediaferry._quick_settings import QuickSettings, quick_settings
from mediaferry.cli._fast import database_url_from_env
from mediaferry.cli.app import app
from mediaferry.cli.main import COMMANDS, HELP
from mediaferry.config import Settings, load_settings
from mediaferry.db.engine import Database
from mediaferry.jobs.service import JobService, detector_for, job_to_dict
from mediaferry.jobs.states import JobStatus
from mediaferry.jobs.transition import transition
from tests.support.media_server import MediaServer

PY = sys.executable
MF = str(Path(PY).with_name("mediaferry"))
# what no read-only command may load: the web, the bot, the browser, the engine's heavy
# libraries, the ORM and the settings machinery
HEAVY = {
    "typer", "click", "rich", "pydantic", "pydantic_settings", "sqlalchemy", "alembic",
    "httpx", "yt_dlp", "fastapi", "starlette", "uvicorn", "telegram", "playwright",
    "mutagen", "asyncpg", "aiosqlite", "asyncio",
}  # fmt: skip
# ``add`` creates a job: the quick settings, plain SQL on SQLite, offline detection
# with the cached table of yt-dlp's URL patterns. No ORM, no pydantic, no yt-dlp.
NEVER_FOR_ADD = {
    "typer", "click", "rich", "fastapi", "starlette", "uvicorn", "telegram", "playwright",
    "pydantic", "pydantic_settings", "sqlalchemy", "alembic", "aiosqlite", "asyncpg",
    "httpx", "yt_dlp", "mutagen", "telethon",
    "mediaferry.config", "mediaferry.db.models", "mediaferry.jobs.service",
    "mediaferry.sources.registry", "mediaferry.net.http",
    "mediaferry.media.postprocess", "mediaferry.media.ffmpeg",
    "mediaferry.media.probe", "mediaferry.media.audio",
    "mediaferry.app", "mediaferry.jobs.worker", "mediaferry.jobs.pipeline",
    "mediaferry.transfer.registry", "mediaferry.web.server", "mediaferry.delivery",
    "mediaferry.cli._render", "mediaferry.cli.app",
}  # fmt: skip


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MEDIAFERRY_")}
    env.update(MEDIAFERRY_DATA_DIR=str(data_dir), MEDIAFERRY_ALLOW_PRIVATE_NETWORKS="true")
    env.update(extra)
    return env


def imported(env: dict[str, str], cwd: Path, *args: str) -> tuple[set[str], str, int]:
    """The modules a real ``mediaferry ARGS`` process imported, its stdout and exit code."""
    proc = subprocess.run(
        [PY, "-X", "importtime", "-m", "mediaferry", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return names, proc.stdout, proc.returncode


def tops(names: set[str]) -> set[str]:
    return names | {n.split(".", 1)[0] for n in names}


@pytest.fixture
async def seeded(tmp_path: Path) -> tuple[dict[str, str], Settings]:
    """A database at head with a few jobs in different states (one with events and a
    performer), made through the job service."""
    env = env_for(tmp_path / "data")
    settings = load_settings(data_dir=tmp_path / "data", allow_private_networks=True)
    db = Database(settings.database_url)
    await db.upgrade()
    svc = JobService(db, settings)
    try:
        for n in range(4):
            await svc.create(f"http://127.0.0.1:9/media/{n}.mp3", user_id=n)
        await svc.cancel(2)
        async with db.tx() as tx:
            await transition(tx, 3, JobStatus.PENDING, JobStatus.QUEUED)
        meta = {"processed": {"kind": "audio", "performer": "Reciter ☪", "parts": []}}
        async with db.tx() as tx:
            await tx.one("UPDATE jobs SET meta = :m, title = :t WHERE id = 1 RETURNING id",
                         {"m": meta, "t": "Titel <b>&"})  # fmt: skip
    finally:
        await db.close()
    return env, settings


async def full(settings: Settings, fn: str, *args: Any) -> Any:
    db = Database(settings.database_url)
    try:
        svc = JobService(db, settings)
        if fn == "list":
            return [job_to_dict(j) for j in await svc.list(**args[0])]
        job = await svc.get(args[0])
        return job_to_dict(job, await svc.events(args[0]))
    finally:
        await db.close()


def as_json(data: Any) -> Any:
    return json.loads(json.dumps(data, ensure_ascii=False, default=str))


async def test_read_only_commands_import_nothing_heavy(
    seeded: tuple[dict[str, str], Settings], tmp_path: Path
) -> None:
    env, _ = seeded
    for args in (["--help"], ["jobs", "--json"], ["job", "1", "--json"], ["version"]):
        names, out, code = imported(env, tmp_path, *args)
        assert code == 0, out
        assert not tops(names) & HEAVY, (args, sorted(tops(names) & HEAVY))


async def test_add_imports_no_interface_or_engine_it_does_not_use(
    seeded: tuple[dict[str, str], Settings], tmp_path: Path
) -> None:
    env, _ = seeded
    # the first detection of a web link builds the table of yt-dlp's URL patterns
    # (importing yt-dlp once) and keeps it in DATA_DIR/cache; later ones read it
    names, out, code = imported(env, tmp_path, "add", "http://127.0.0.1:9/first.mp4", "--json")
    assert code == 0 and "yt_dlp" in tops(names), out
    for url in ("http://127.0.0.1:9/new.mp4", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"):
        names, out, code = imported(env, tmp_path, "add", url, "--json")
        assert code == 0, out
        assert json.loads(out)["jobs"][0]["status"] == "PENDING"
        assert not tops(names) & NEVER_FOR_ADD, sorted(tops(names) & NEVER_FOR_ADD)
    assert json.loads(out)["jobs"][0]["media_id"] == "dQw4w9WgXcQ"
    # a link recognised before any yt-dlp site: no extractor table
    magnet = "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=Lectures"
    names, out, code = imported(env, tmp_path, "add", magnet, "--json")
    assert code == 0 and json.loads(out)["jobs"][0]["source_type"] == "TORRENT", out
    assert "yt_dlp" not in tops(names)


# ``add --wait`` runs the engine in the process: what a web file's job never needs
NEVER_FOR_A_WEB_FILE = {
    "telethon", "telegram", "fastapi", "starlette", "uvicorn", "playwright", "yt_dlp",
    "alembic", "mediaferry.jobs.tg_archive", "mediaferry.telegram.chats",
    "mediaferry.web", "mediaferry.bot",
}  # fmt: skip


async def test_add_wait_of_a_web_file_loads_no_telegram_web_or_browser(
    media_server: MediaServer, tmp_path: Path
) -> None:
    env = env_for(tmp_path / "data")
    # the first run builds the cached table of yt-dlp's URL patterns; later runs read it
    _, out, code = imported(env, tmp_path, "add", media_server.url("/media/audio.mp3"), "--json")
    assert code == 0, out
    url = media_server.url("/media/h264_aac.mp4")
    names, out, code = imported(env, tmp_path, "add", "--wait", "--json", url)
    assert code == 0 and json.loads(out)["jobs"][0]["status"] == "COMPLETED", out
    assert "mediaferry.jobs.pipeline" in names  # the engine really ran here
    assert not tops(names) & NEVER_FOR_A_WEB_FILE, sorted(tops(names) & NEVER_FOR_A_WEB_FILE)


async def test_fast_json_is_what_the_job_service_says(
    seeded: tuple[dict[str, str], Settings], tmp_path: Path
) -> None:
    env, settings = seeded
    cases = [
        (["jobs", "--json"], "list", {}),
        (["jobs", "--json", "--status", "cancelled"], "list", {"status": "cancelled"}),
        (["jobs", "--limit=2", "--json"], "list", {"limit": 2}),
        (["job", "1", "--json"], "get", 1),
        (["job", "2", "--json"], "get", 2),
    ]
    for args, fn, arg in cases:
        names, out, code = imported(env, tmp_path, *args)
        assert code == 0 and "sqlalchemy" not in names, args  # really the fast path
        assert json.loads(out) == as_json(await full(settings, fn, arg)), args
    first = json.loads(imported(env, tmp_path, "job", "1", "--json")[1])
    assert (first["title"], first["performer"]) == ("Titel <b>&", "Reciter ☪")


async def test_the_light_add_writes_the_job_the_job_service_writes(
    seeded: tuple[dict[str, str], Settings], tmp_path: Path
) -> None:
    env, settings = seeded
    url = "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=3"
    names, out, code = imported(env, tmp_path, "add", url, "--audio", "--priority", "5", "--json")
    assert code == 0 and "sqlalchemy" not in names, out  # the light path
    printed = json.loads(out)["jobs"][0]
    expected = as_json(await full(settings, "get", printed["id"]))
    del expected["events"]
    assert printed == expected
    assert (printed["source_type"], printed["media_id"], printed["quality"]) == (
        "YOUTUBE",
        "dQw4w9WgXcQ",
        "audio",
    )
    # the job service (the bot's, the REST API's) finds the same job: one dedup key
    db = Database(settings.database_url)
    try:
        svc = JobService(db, settings, detector=detector_for(settings))
        again = await svc.create("https://youtu.be/dQw4w9WgXcQ", job_type="audio")
    finally:
        await db.close()
    assert (again.created, again.job.id) == (False, printed["id"])
    # and the light add finds the job service's
    names, out, code = imported(env, tmp_path, "add", "https://youtu.be/dQw4w9WgXcQ",
                                "--audio", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["jobs"][0]["id"] == printed["id"], out


def test_what_the_fast_path_cannot_answer_the_full_command_does(
    seeded: tuple[dict[str, str], Settings], tmp_path: Path
) -> None:
    env, _ = seeded
    for args, code, text in (
        (["jobs", "--json", "--status", "nonsense"], 2, "unknown status"),
        (["job", "424242", "--json"], 2, "no job #424242"),
        (["job", "x1", "--json"], 2, "not a job id"),
        (["add", "--audio", "--video", "http://127.0.0.1:9/a.mp4"], 2, "not both"),
        (["add", "ftp://example.org/a.mp4", "--json"], 2, "refused"),
    ):
        proc = subprocess.run([MF, *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        assert text in (proc.stderr + proc.stdout), (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_a_database_still_to_be_made_takes_the_full_path(tmp_path: Path) -> None:
    env = env_for(tmp_path / "fresh")
    proc = subprocess.run([MF, "jobs", "--json"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
    assert (tmp_path / "fresh" / "mediaferry.db").is_file()  # made and migrated


def test_help_lists_every_command_of_the_typer_app() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.main.TyperGroup)
    typer_commands = [
        (name, (cmd.help or "").strip().splitlines()[0]) for name, cmd in group.commands.items()
    ]
    assert sorted(typer_commands) == sorted(COMMANDS)
    for name, _ in COMMANDS:
        assert f"  {name} " in HELP


@pytest.mark.parametrize(
    ("environ", "dotenv"),
    [
        ({}, None),
        ({"MEDIAFERRY_DATA_DIR": "somewhere"}, None),
        ({"mediaferry_data_dir": "lower/case"}, None),
        ({"MEDIAFERRY_DATABASE_URL": "sqlite+aiosqlite:////tmp/x/y.db"}, None),
        ({"MEDIAFERRY_DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1/db"}, None),
        ({}, "MEDIAFERRY_DATA_DIR=from-dotenv\n# a comment\nOTHER=1\n"),
        ({"MEDIAFERRY_DATA_DIR": "env-wins"}, "MEDIAFERRY_DATA_DIR='dotenv-loses'\n"),
        ({}, 'export MEDIAFERRY_DATA_DIR="quoted dir"\n'),
    ],
)
def test_the_database_is_found_where_the_settings_look(
    environ: dict[str, str],
    dotenv: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.upper().startswith("MEDIAFERRY_")]:
        monkeypatch.delenv(key)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    assert database_url_from_env(dict(os.environ), tmp_path) == Settings().database_url


def test_a_dotenv_the_light_reader_does_not_understand_is_left_to_pydantic(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text('MEDIAFERRY_DATA_DIR="multi\nline"\n')
    assert database_url_from_env({}, tmp_path) is None
    (tmp_path / ".env").write_text("MEDIAFERRY_DATA_DIR=${HOME}/x\n")
    assert database_url_from_env({}, tmp_path) is None


@pytest.mark.parametrize(
    ("environ", "dotenv"),
    [
        ({}, None),
        ({"MEDIAFERRY_ALLOW_PRIVATE_NETWORKS": "Yes", "MEDIAFERRY_MAX_ATTEMPTS": "7"}, None),
        (
            {
                "mediaferry_islamic_domains": " A.example ,b.example,,",
                "MEDIAFERRY_LOG_LEVEL": "DEBUG",
            },
            None,
        ),
        (
            {"MEDIAFERRY_BROWSER_DOMAINS": "x.org", "MEDIAFERRY_MAX_URL_LENGTH": "64"},
            "MEDIAFERRY_MAX_QUEUE_LENGTH=5\nMEDIAFERRY_LOG_FORMAT=console\n",
        ),
        ({"MEDIAFERRY_MAX_JOBS_PER_USER_HOUR": "3"}, "MEDIAFERRY_MAX_ACTIVE_PER_USER='2'\n"),
        ({"MEDIAFERRY_DATA_DIR": "~/mf", "MEDIAFERRY_MAX_JOBS_PER_CHAT_HOUR": "9"}, None),
    ],
)
def test_the_quick_settings_are_what_pydantic_reads(
    environ: dict[str, str],
    dotenv: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.upper().startswith("MEDIAFERRY_")]:
        monkeypatch.delenv(key)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    quick = quick_settings(dict(os.environ), tmp_path)
    assert quick is not None
    full_settings = Settings()
    for name in QuickSettings.FIELDS:
        assert getattr(quick, name) == getattr(full_settings, name), name


@pytest.mark.parametrize(
    "environ",
    [
        {"MEDIAFERRY_MAX_ATTEMPTS": "0"},  # out of range: pydantic says so
        {"MEDIAFERRY_MAX_ATTEMPTS": "four"},
        {"MEDIAFERRY_ALLOW_PRIVATE_NETWORKS": "maybe"},
        {"MEDIAFERRY_LOG_LEVEL": "info"},
        {"MEDIAFERRY_DATABASE_URL": "mysql://x"},
        {"MEDIAFERRY_DATA_DIR": ""},
    ],
)
def test_the_quick_settings_leave_what_they_are_unsure_of_to_pydantic(
    environ: dict[str, str], tmp_path: Path
) -> None:
    assert quick_settings(environ, tmp_path) is None
    proc = subprocess.run(
        [MF, "add", "http://127.0.0.1:9/x.mp4", "--json"],
        env=env_for(tmp_path / "data", **environ), cwd=tmp_path, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    if "DATA_DIR" not in next(iter(environ)):
        assert proc.returncode == 2 and proc.stderr.startswith("error: invalid setting"), proc
