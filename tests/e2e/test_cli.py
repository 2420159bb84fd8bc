"""The CLI driven from outside: real processes, real HTTP, real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediaferry.config import load_settings
from mediaferry.db.engine import Database
from mediaferry.jobs.service import JobService
from tests.support.db_fixtures import create_pg_database, drop_pg_database, pg_skip_reason
from tests.support.media_server import MediaServer, sha256_of

MF = str(Path(sys.executable).with_name("mediaferry"))


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAFERRY_")}
    env.update(
        MEDIAFERRY_DATA_DIR=str(data_dir),
        MEDIAFERRY_ALLOW_PRIVATE_NETWORKS="true",
        MEDIAFERRY_MIN_FREE_GB="0",
        MEDIAFERRY_RETRY_BASE_S="0.1",
        MEDIAFERRY_RETRY_MAX_S="0.5",
        MEDIAFERRY_HEARTBEAT_S="0.5",
        MEDIAFERRY_POLL_S="0.5",
        MEDIAFERRY_STALE_AFTER_S="3",
        MEDIAFERRY_PROGRESS_INTERVAL_S="0.2",
        MEDIAFERRY_SHUTDOWN_GRACE_S="1",
        MEDIAFERRY_LOG_FORMAT="json",
        MEDIAFERRY_YTDLP_AUTO_UPDATE="off",  # a test never asks a package index
    )
    env.update(extra)
    return env


def mf(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MF, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def job_json(env: dict[str, str], job_id: int) -> dict[str, Any]:
    out = mf(env, "job", str(job_id), "--json")
    assert out.returncode == 0, out.stderr
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def wait_job(
    env: dict[str, str], job_id: int, *statuses: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = job_json(env, job_id)
        if data["status"] in statuses:
            return data
        assert time.monotonic() < deadline, f"job {job_id} stuck in {data['status']}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def blob(media_dir: Path) -> Path:
    """A 6 MB non-media file: delivered byte for byte (no post-processing)."""
    path = media_dir / "blob.bin"
    if not path.exists():
        path.write_bytes(os.urandom(6 * 1024 * 1024))
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path / "data")


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [MF, "worker"], env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_add_wait_downloads_the_exact_bytes(
    env: dict[str, str], media_server: MediaServer, blob: Path
) -> None:
    out = mf(env, "add", "--wait", "--json", media_server.url("/media/blob.bin"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    job = data["jobs"][0]
    for key in (
        "id",
        "url",
        "source_type",
        "job_type",
        "status",
        "stage",
        "attempts",
        "error_type",
        "error_message",
        "file_path",
        "file_size",
        "created_at",
        "updated_at",
    ):
        assert key in job
    assert job["status"] == "COMPLETED"
    assert sha256_of(Path(job["file_path"])) == sha256_of(blob) == job["sha256"]
    assert job["file_size"] == blob.stat().st_size
    # same link again: the same job comes back, nothing downloaded again
    hits = len(media_server.requests("/media/blob.bin"))
    again = json.loads(mf(env, "add", "--json", media_server.url("/media/blob.bin")).stdout)
    assert again["jobs"][0]["id"] == job["id"]
    assert len(media_server.requests("/media/blob.bin")) == hits


def test_add_then_add_archive_archives_the_first_jobs_file(
    env: dict[str, str], media_server: MediaServer, blob: Path
) -> None:
    prefix = f"/flaky/{time.monotonic_ns()}/"
    url = media_server.url(f"{prefix}blob.bin?times=0")
    first = json.loads(mf(env, "add", "--wait", "--json", url).stdout)["jobs"][0]
    assert first["status"] == "COMPLETED"
    hits = len(media_server.requests(prefix))
    archive = Path(env["MEDIAFERRY_DATA_DIR"]) / "archive"
    assert not Path(first["file_path"]).is_relative_to(archive)
    # --archive is not answered by a job that did not archive: a job of its own, which
    # takes the first job's file (size and sha256 checked) instead of downloading
    out = mf(env, "add", "--wait", "--json", "--archive", url)
    assert out.returncode == 0, out.stderr
    second = json.loads(out.stdout)["jobs"][0]
    assert second["id"] != first["id"] and second["status"] == "COMPLETED"
    assert Path(second["file_path"]).is_relative_to(archive)
    assert sha256_of(Path(second["file_path"])) == sha256_of(blob) == second["sha256"]
    assert len(media_server.requests(prefix)) == hits
    events = [e["type"] for e in job_json(env, second["id"])["events"]]
    assert "REUSED_FILE" in events and "DOWNLOAD_STARTED" not in events
    assert sha256_of(Path(first["file_path"])) == first["sha256"]  # the first keeps its own
    # now both requests are answered by a job that has what they ask for
    for args in (["--archive"], []):
        again = json.loads(mf(env, "add", "--json", *args, url).stdout)["jobs"][0]
        assert again["id"] == second["id"]
    assert len(json.loads(mf(env, "search", "blob", "--json").stdout)) == 1


def test_add_wait_through_aria2c_stores_the_files_hash(
    tmp_path: Path, media_server: MediaServer, blob: Path
) -> None:
    env = cli_env(  # big files go to aria2c from the start, not after a slow first try
        tmp_path / "data", MEDIAFERRY_ARIA2_MIN_SIZE_MB="1", MEDIAFERRY_ARIA2_HANDOFF_AFTER_S="0"
    )
    out = mf(env, "add", "--wait", "--json", media_server.url("/media/blob.bin"))
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)["jobs"][0]
    assert sha256_of(Path(job["file_path"])) == sha256_of(blob) == job["sha256"]
    downloaded = [e for e in job_json(env, job["id"])["events"] if e["type"] == "DOWNLOADED"]
    assert downloaded[0]["data"]["downloader"] == "aria2"


def test_add_wait_on_a_slow_connection_goes_on_in_aria2c(
    tmp_path: Path, media_server: MediaServer, blob: Path
) -> None:
    """A big file on a capped connection: HTTP first, then aria2c from the bytes on
    disk; the stored hash is the whole file's."""
    env = cli_env(
        tmp_path / "data",
        MEDIAFERRY_ARIA2_MIN_SIZE_MB="1",
        MEDIAFERRY_ARIA2_HANDOFF_BELOW_MB_S="3",
        MEDIAFERRY_ARIA2_HANDOFF_AFTER_S="1",
    )
    out = mf(env, "add", "--wait", "--json", media_server.url("/slow/blob.bin?rate=1000000"))
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)["jobs"][0]
    assert Path(job["file_path"]).name == "blob.bin"
    assert sha256_of(Path(job["file_path"])) == sha256_of(blob) == job["sha256"]
    downloaded = [e for e in job_json(env, job["id"])["events"] if e["type"] == "DOWNLOADED"]
    assert downloaded[0]["data"]["downloader"] == "aria2"


def test_add_wait_makes_a_streamable_mp4(env: dict[str, str], media_server: MediaServer) -> None:
    out = mf(env, "add", "--wait", "--json", media_server.url("/media/h264_aac.mp4"))
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)["jobs"][0]
    data = Path(job["file_path"]).read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: plays while loading
    assert (
        job["sha256"] == hashlib.sha256(data).hexdigest()
    )  # the remuxed file's, not the download's
    detail = job_json(env, job["id"])
    kinds = [e["type"] for e in detail["events"]]
    for stage in ("METADATA", "CHECK", "DOWNLOAD", "POSTPROCESS", "VALIDATE"):
        assert f"{stage}_STARTED" in kinds and f"{stage}_FINISHED" in kinds


@pytest.mark.parametrize(
    ("path", "error_type", "message"),
    [
        ("/status/404", "HTTP_ERROR", "HTTP 404"),
        ("/status/403", "AUTH_ERROR", "access denied"),
        ("/lying/blob.bin?extra=5000", "NETWORK_ERROR", ""),
    ],
)
def test_failures_end_with_a_clear_error(
    tmp_path: Path, media_server: MediaServer, blob: Path, path: str, error_type: str, message: str
) -> None:
    env = cli_env(tmp_path / "data", MEDIAFERRY_MAX_ATTEMPTS="2")
    out = mf(env, "add", "--wait", "--json", media_server.url(path))
    assert out.returncode == 1
    job = json.loads(out.stdout)["jobs"][0]
    assert job["status"] == "FAILED" and job["error_type"] == error_type
    assert message in (job["error_message"] or "")
    assert not list((tmp_path / "data" / "tmp" / "jobs").rglob("*.part"))


def test_server_error_is_retried_then_succeeds(
    env: dict[str, str], media_server: MediaServer, blob: Path
) -> None:
    key = f"cli{time.monotonic_ns()}"
    out = mf(
        env, "add", "--wait", "--json", media_server.url(f"/flaky/{key}/blob.bin?times=1&code=500")
    )
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)["jobs"][0]
    assert job["attempts"] == 1
    assert sha256_of(Path(job["file_path"])) == sha256_of(blob)


def test_a_stalled_server_times_out(tmp_path: Path, media_server: MediaServer, blob: Path) -> None:
    env = cli_env(
        tmp_path / "data", MEDIAFERRY_HTTP_READ_TIMEOUT_S="1", MEDIAFERRY_MAX_ATTEMPTS="1"
    )
    t0 = time.monotonic()
    out = mf(env, "add", "--wait", "--json", media_server.url("/stall/blob.bin?after=65536"))
    assert out.returncode == 1
    job = json.loads(out.stdout)["jobs"][0]
    assert job["error_type"] == "TIMEOUT"
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "not a url",
        "http://example.com/" + "a" * 10_000,
    ],
)
def test_bad_links_are_refused_with_exit_2(tmp_path: Path, url: str) -> None:
    env = cli_env(tmp_path / "data", MEDIAFERRY_ALLOW_PRIVATE_NETWORKS="false")
    out = mf(env, "add", url)
    assert out.returncode == 2
    assert "refused" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert json.loads(mf(env, "jobs", "--json").stdout) == []


def test_private_addresses_are_refused(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", MEDIAFERRY_ALLOW_PRIVATE_NETWORKS="false")
    out = mf(env, "add", "http://127.0.0.1:8080/video.mp4")
    assert out.returncode == 2 and "private or local" in out.stderr


def test_invalid_setting_is_one_clear_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", MEDIAFERRY_MAX_PARALLEL_JOBS="many")
    out = mf(env, "jobs")
    assert out.returncode == 2
    assert "MEDIAFERRY_MAX_PARALLEL_JOBS" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_job_ids_are_validated(env: dict[str, str]) -> None:
    assert mf(env, "job", "abc").returncode == 2
    out = mf(env, "cancel", "12345")
    assert out.returncode == 2 and "no job #12345" in out.stderr


def running_owners(env: dict[str, str], ids: list[int]) -> dict[int, list[str]]:
    """For each job, the workers that took it (read straight from the database)."""

    async def go() -> dict[int, list[str]]:
        url = env.get("MEDIAFERRY_DATABASE_URL") or (
            f"sqlite+aiosqlite:///{env['MEDIAFERRY_DATA_DIR']}/mediaferry.db"
        )
        db = Database(url)
        try:
            svc = JobService(db, load_settings(database_url=url))
            return {
                jid: [
                    (e.data or {})["worker_id"]
                    for e in await svc.events(jid)
                    if e.event_type == "STATUS_CHANGED" and (e.data or {}).get("to") == "RUNNING"
                ]
                for jid in ids
            }
        finally:
            await db.close()

    return asyncio.run(go())


def _two_workers_run_each_job_once(
    env: dict[str, str], media_server: MediaServer, tmp_path: Path, workers: list[Any]
) -> None:
    urls = [media_server.url(f"/slow/blob.bin?rate=40000000&n={i}") for i in range(12)]
    out = mf(env, "add", "--json", *urls)
    ids = [j["id"] for j in json.loads(out.stdout)["jobs"]]
    workers.append(spawn_worker(env, tmp_path / "w1.log"))
    workers.append(spawn_worker(env, tmp_path / "w2.log"))
    deadline = time.monotonic() + 120
    while True:
        listed = json.loads(mf(env, "jobs", "--json").stdout)
        if all(j["status"] == "COMPLETED" for j in listed if j["id"] in ids):
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.5)
    owners = running_owners(env, ids)
    assert all(len(took) == 1 for took in owners.values()), owners  # never twice
    assert len({took[0] for took in owners.values()}) == 2  # both processes took work


def test_two_worker_processes_never_run_a_job_twice_sqlite(
    tmp_path: Path, media_server: MediaServer, blob: Path, workers: list[Any]
) -> None:
    env = cli_env(tmp_path / "data", MEDIAFERRY_MAX_PARALLEL_JOBS="2")
    _two_workers_run_each_job_once(env, media_server, tmp_path, workers)


@pytest.mark.postgres
def test_two_worker_processes_never_run_a_job_twice_postgres(
    tmp_path: Path, media_server: MediaServer, blob: Path, workers: list[Any]
) -> None:
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    url = create_pg_database()
    try:
        env = cli_env(
            tmp_path / "data", MEDIAFERRY_MAX_PARALLEL_JOBS="2", MEDIAFERRY_DATABASE_URL=url
        )
        _two_workers_run_each_job_once(env, media_server, tmp_path, workers)
        for p in workers:
            p.send_signal(signal.SIGTERM)
            p.wait(20)
    finally:
        drop_pg_database(url)


def test_kill_9_mid_download_then_restart_recovers(
    tmp_path: Path, media_server: MediaServer, blob: Path, workers: list[Any]
) -> None:
    env = cli_env(tmp_path / "data")
    url = media_server.url(f"/slow/blob.bin?rate=1000000&k={time.monotonic_ns()}")
    job_id = json.loads(mf(env, "add", "--json", url).stdout)["jobs"][0]["id"]
    first = spawn_worker(env, tmp_path / "w1.log")
    workers.append(first)
    deadline = time.monotonic() + 30
    while job_json(env, job_id)["bytes_done"] < 1_000_000:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert job_json(env, job_id)["status"] == "RUNNING"  # stranded until someone recovers it
    workers.append(spawn_worker(env, tmp_path / "w2.log"))
    done = wait_job(env, job_id, "COMPLETED", timeout=60)
    # the stored hash covers the bytes the first worker left on disk too
    assert sha256_of(Path(done["file_path"])) == sha256_of(blob) == done["sha256"]
    assert done["attempts"] == 1
    reasons = [e["data"].get("reason", "") for e in done["events"]]
    assert any("stale" in r for r in reasons)
    # the second attempt resumed the partial file with a Range request
    key = url.split("k=")[1]
    ranged = [r for r in media_server.requests("/slow/blob.bin") if r.query.get("k") == key]
    assert any(r.range for r in ranged)


def test_cancel_mid_download_removes_partial_files(
    tmp_path: Path, media_server: MediaServer, blob: Path, workers: list[Any]
) -> None:
    env = cli_env(tmp_path / "data")
    url = media_server.url(f"/slow/blob.bin?rate=500000&c={time.monotonic_ns()}")
    job_id = json.loads(mf(env, "add", "--json", url).stdout)["jobs"][0]["id"]
    workers.append(spawn_worker(env, tmp_path / "w.log"))
    deadline = time.monotonic() + 30
    while job_json(env, job_id)["bytes_done"] < 200_000:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    t0 = time.monotonic()
    out = mf(env, "cancel", str(job_id))
    assert out.returncode == 0, out.stderr
    done = wait_job(env, job_id, "CANCELLED", timeout=10)
    assert time.monotonic() - t0 < 5
    assert done["error_type"] == "CANCELLED"
    assert not (tmp_path / "data" / "tmp" / "jobs" / str(job_id)).exists()


def test_graceful_worker_shutdown_leaves_no_running_job(
    tmp_path: Path, media_server: MediaServer, blob: Path, workers: list[Any]
) -> None:
    env = cli_env(tmp_path / "data")
    url = media_server.url(f"/slow/blob.bin?rate=300000&g={time.monotonic_ns()}")
    job_id = json.loads(mf(env, "add", "--json", url).stdout)["jobs"][0]["id"]
    proc = spawn_worker(env, tmp_path / "w.log")
    workers.append(proc)
    wait_job(env, job_id, "RUNNING", timeout=30)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    after = job_json(env, job_id)
    assert after["status"] == "PENDING" and after["attempts"] == 0


def test_pause_and_resume(env: dict[str, str]) -> None:
    assert mf(env, "pause").returncode == 0
    assert mf(env, "resume").returncode == 0


def test_doctor_reports_tools(env: dict[str, str]) -> None:
    out = mf(env, "doctor")
    assert "ffmpeg" in out.stdout and "aria2c" in out.stdout and "database" in out.stdout
    assert out.returncode == 0, out.stdout


def test_db_upgrade(env: dict[str, str]) -> None:
    out = mf(env, "db", "upgrade")
    assert out.returncode == 0 and "up to date" in out.stdout


def _feed(media_server: MediaServer, media_dir: Path, name: str, items: int) -> str:
    entries = "".join(
        f"<item><title>Lecture {i}</title><guid>lecture-{i}</guid>"
        f'<enclosure url="{media_server.url(f"/media/audio.m4a?n={i}")}" '
        f'type="audio/mp4" length="1000"/></item>'
        for i in range(1, items + 1)
    )
    (media_dir / name).write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Lectures</title><link>{media_server.base_url}</link>"
        f"<description>test feed</description>{entries}</channel></rss>"
    )
    return media_server.url(f"/ctype/feed?file={name}&type=application/rss%2Bxml&t={name}")


def test_a_playlist_expands_into_one_job_per_entry(
    tmp_path: Path, media_server: MediaServer, media_dir: Path
) -> None:
    env = cli_env(tmp_path / "data")
    url = _feed(media_server, media_dir, "feed4.xml", 4)
    out = mf(env, "add", "--wait", "--json", "--items", "2-3", url)
    assert out.returncode == 0, out.stderr
    jobs = json.loads(out.stdout)["jobs"]
    parent, children = jobs[0], jobs[1:]
    assert parent["status"] == "COMPLETED" and parent["title"] == "Lectures"
    assert [c["title"] for c in children] == ["Lecture 2", "Lecture 3"]
    assert all(c["status"] == "COMPLETED" and Path(c["file_path"]).is_file() for c in children)


def test_a_huge_playlist_is_capped(
    tmp_path: Path, media_server: MediaServer, media_dir: Path
) -> None:
    env = cli_env(tmp_path / "data", MEDIAFERRY_MAX_PLAYLIST_ITEMS="3")
    url = _feed(media_server, media_dir, "feed10k.xml", 10_000)
    out = mf(env, "add", "--json", url)
    parent_id = json.loads(out.stdout)["jobs"][0]["id"]
    workers_env = dict(env)
    proc = spawn_worker(workers_env, tmp_path / "w.log")
    try:
        parent = wait_job(env, parent_id, "COMPLETED", "FAILED", timeout=60)
        assert parent["status"] == "COMPLETED"
        listed = json.loads(mf(env, "jobs", "--json").stdout)
        assert len(listed) == 1 + 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_a_bad_playlist_range_is_refused(env: dict[str, str]) -> None:
    out = mf(env, "add", "--items", "1-x", "http://127.0.0.1:9/list.xml")
    assert out.returncode == 2 and "playlist range" in out.stderr
